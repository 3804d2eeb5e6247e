#!/usr/bin/env python3
"""console.py: a real browser (chromium, through WebDriver) on evc web's console, one command a line.

usage: console.py DIR   (DIR: the browser's profile, made and left there)

Reads commands on stdin, one a line, and answers each on stdout with one
line (or several, then "end"); a command that fails answers
"error: WHY". The page is read through the DOM the operator sees.

  open URL               load the console; "opened" once CP rows show
  list                   "row ID STATE" for each row shown, then "end"
  wait ID STATE SECONDS  "state ID STATE" once the row shows it (for
                         SUPPLYING, with a kW above 0: "state ID
                         SUPPLYING KW DRIVER"), or "timeout ID STATE"
  style ID               "style ID NAME COLOUR": the state's name as the row
                         shows it and the colour it is shown in (green,
                         orange, red, grey, or other R,G,B)
  same                   "same page" unless the page was loaded again
  token TOKEN            what to type when the page asks for a token
  stop ID | resume ID    press the row's button; "asked for the token"
                         first if the page asked (and "; cancelled" without
                         a token, then nothing else); then "pressed ACTION ID"
  filter TEXT            type TEXT in the filter (empty: clear it);
                         "shown ID..." once the rows settle
  show STATE             press the count of STATE ("" for All); "shown ID..."
  count STATE            "count STATE N", the number on its button
  shot PATH              a PNG of the window; "shot PATH"
  errors                 "console LEVEL MESSAGE" for each severe message
                         of the page's console but the network's, then "end"
  quit
"""
import os
import shutil
import signal
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROWS = "#cps tbody tr[data-id]"


def say(*words):
    print(*words, flush=True)


def colour_name(r, g, b):
    """The name of an sRGB colour by its hue, as a person would say it."""
    hi, lo = max(r, g, b), min(r, g, b)
    if hi - lo < 40:
        return "grey"
    if hi == g:
        hue = 60 * (b - r) / (hi - lo) + 120
    elif hi == r:
        hue = (60 * (g - b) / (hi - lo)) % 360
    else:
        hue = 60 * (r - g) / (hi - lo) + 240
    for name, a, z in (("red", 345, 360), ("red", 0, 15), ("orange", 15, 45),
                       ("green", 90, 160)):
        if a <= hue < z:
            return name
    return "other %d,%d,%d" % (r, g, b)


def browser(profile):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    drv = shutil.which("chromedriver")
    if not exe or not drv:
        raise SystemExit("console.py: no chromium or chromedriver")
    o = webdriver.ChromeOptions()
    o.binary_location = exe
    # Headless, without the sandbox (a test bed may run as root), talking
    # to nobody but evc web.
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--window-size=1440,780", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-default-apps", "--lang=en-GB",
              "--user-data-dir=" + profile):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ["SE_OFFLINE"] = "true"
    return webdriver.Chrome(options=o, service=Service(drv))


class Console:
    def __init__(self, d):
        self.d = d
        self.token = None

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def rows(self):
        return self.js("return [...document.querySelectorAll(arguments[0])]"
                       ".map(r => [r.dataset.id, r.dataset.state]);", ROWS)

    def settled(self, timeout=5.0):
        """The ids shown once they stop changing (a filter waits 120 ms)."""
        time.sleep(0.3)
        last, since, end = None, time.time(), time.time() + timeout
        while time.time() < end:
            now = [r[0] for r in self.rows()]
            if now != last:
                last, since = now, time.time()
            elif time.time() - since > 0.4:
                break
            time.sleep(0.05)
        return last

    def open(self, url):
        self.d.get(url)
        self.js("window.evcMark = 'loaded once';")
        end = time.time() + 20
        while time.time() < end:
            if self.rows():
                return say("opened")
            time.sleep(0.1)
        say("error: no CP row within 20 s")

    def list(self):
        for cp, state in self.rows():
            say("row", cp, state)
        say("end")

    def wait(self, cp, state, seconds):
        probe = """
            const r = document.querySelector(`#cps tbody tr[data-id="${arguments[0]}"]`);
            if (!r) return null;
            return [r.dataset.state, r.querySelector('.kw').textContent,
                    r.querySelector('.driver').textContent];"""
        end, seen = time.time() + float(seconds), None
        while True:
            seen = self.js(probe, cp)
            if seen and seen[0] == state:
                if state != "SUPPLYING":
                    return say("state", cp, state)
                if seen[1] and float(seen[1]) > 0:
                    return say("state", cp, state, seen[1], seen[2])
            if time.time() >= end:
                return say("timeout", cp, state, "saw", seen)
            time.sleep(0.05)

    def style(self, cp):
        """The state's name in the row, and the colour of that name."""
        got = self.js("""
            const b = document.querySelector(
                `#cps tbody tr[data-id="${arguments[0]}"] .badge`);
            if (!b) return null;
            return [b.textContent.trim(), getComputedStyle(b).color];""", cp)
        if not got:
            return say("error: no row", cp)
        rgb = [float(x) for x in
               got[1][got[1].index("(") + 1:got[1].index(")")].split(",")[:3]]
        say("style", cp, got[0], colour_name(*rgb))

    def press(self, action, cp):
        sel = f'#cps tbody tr[data-id="{cp}"] button[data-do="{action}"]'
        self.d.find_element(By.CSS_SELECTOR, sel).click()
        end = time.time() + 3
        while time.time() < end:
            if self.js("return document.querySelector('#login').open;"):
                if self.token is None:
                    self.d.find_element(By.ID, "login-cancel").click()
                    return say("asked for the token; cancelled")
                box = self.d.find_element(By.ID, "token")
                box.send_keys(self.token)
                self.d.find_element(
                    By.CSS_SELECTOR, '#login button[type="submit"]').click()
                say("asked for the token")
                break
            if self.js("return document.querySelector('#notes').textContent"):
                break
            time.sleep(0.05)
        say("pressed", action, cp)

    def filter(self, text):
        box = self.d.find_element(By.ID, "q")
        box.clear()
        self.js("arguments[0].dispatchEvent(new Event('input'));", box)
        if text:
            box.send_keys(text)
        say("shown", *self.settled())

    def show(self, state):
        self.d.find_element(
            By.CSS_SELECTOR, f'.count[data-state="{state}"]').click()
        say("shown", *self.settled())

    def count(self, state):
        n = self.js("return document.querySelector("
                    "`.count[data-state=\"${arguments[0]}\"] .n`).textContent;",
                    state)
        say("count", state or "all", n)

    def errors(self):
        for e in self.d.get_log("browser"):
            # a refused request is the page's business, not an error
            if e["level"] == "SEVERE" and e.get("source") != "network":
                say("console", e["level"], e["message"])
        say("end")

    def run(self, line):
        w = line.split()
        if not w:
            return True
        c, a = w[0], w[1:]
        if c == "quit":
            return False
        if c == "open":
            self.open(a[0])
        elif c == "list":
            self.list()
        elif c == "wait":
            self.wait(*a)
        elif c == "style":
            self.style(a[0])
        elif c == "same":
            same = self.js("return window.evcMark === 'loaded once';")
            say("same page" if same else "loaded again")
        elif c == "token":
            self.token = a[0]
            say("token kept")
        elif c in ("stop", "resume"):
            self.press(c, a[0])
        elif c == "filter":
            self.filter(line.split(None, 1)[1] if a else "")
        elif c == "show":
            self.show(a[0] if a else "")
        elif c == "count":
            self.count(a[0] if a else "")
        elif c == "shot":
            self.d.save_screenshot(a[0])
            say("shot", a[0])
        elif c == "errors":
            self.errors()
        else:
            say(f"error: unknown command: '{c}'")
        return True


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: console.py DIR")
    # SIGTERM (the test bed ending) quits the browser too, not only python
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    d = browser(sys.argv[1])
    try:
        con = Console(d)
        say("ready")
        for line in sys.stdin:
            try:
                if not con.run(line.strip()):
                    break
            except Exception as e:  # the test reads it and fails
                say("error:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    finally:
        d.quit()


if __name__ == "__main__":
    main()
