#!/usr/bin/env python3
# hostile-gen.py: writes malformed and adversarial evc messages, one kcat -P input file per topic.
"""usage: hostile-gen.py gen [options] CAPTURE_DIR OUT_DIR
       hostile-gen.py pick [--made OUT_DIR/ids] [FIELD=VALUE...]
       hostile-gen.py part [-p PARTITIONS] KEY...

gen reads the real messages a test captured from its topics, one file per
topic named by its key in evc.yaml (CAPTURE_DIR/telemetry, ...), each line
KEY<TAB>VALUE, and writes for each topic OUT_DIR/TOPIC.kc, the input of

    kcat -P -t NAME -X partitioner=consistent -K KEY_DELIM -D MSG_DELIM -l FILE

together with OUT_DIR/counts, one line per topic, partition, class and
kind of message, and OUT_DIR/ids, every id the generator made:

    TOPIC PARTITION CLASS KIND COUNT

CLASS is "malformed" for a message any strict reader of that topic must
reject (evc-protocol(7), DECODING), "valid" for a well-formed one that must
change nothing (unknown ids, forged commands with a bad session, replays).
Nothing valid would be obeyed: no start for an idle CP, no unhealthy
heartbeat, no stop, no request a CP could grant.

pick reads kcat -C -J output and prints the messages a part of the network
sent (not the generator, and not again as a replay) that have every
FIELD=VALUE given.

part prints the partition of each KEY (CRC-32 modulo PARTITIONS, as the
consistent partitioner computes it).
"""

import argparse
import json
import os
import random
import sys
import time
import zlib

TOPICS = ["cp_register", "cp_register_ack", "auth_request", "auth_response",
          "cp_commands", "telemetry", "health", "control", "cp_state"]

# The message types each topic may carry (evc-protocol(7), TOPICS).
TOPIC_TYPES = {
    "cp_register": ["register"],
    "cp_register_ack": ["register_ack"],
    "auth_request": ["auth_request"],
    "auth_response": ["auth_response", "progress", "ticket", "notice"],
    "cp_commands": ["command"],
    "telemetry": ["telemetry", "supply_end"],
    "health": ["health"],
    "control": ["control"],
    "cp_state": ["cp_state"],
}
ALL_TYPES = [t for ts in TOPIC_TYPES.values() for t in ts]

# What each field holds, for the wrong values it can be given.
KINDS = {
    "v": "v", "type": "type", "id": "uuid", "ts": "ts", "cp": "name",
    "driver": "name", "session": "uuid", "request": "uuid",
    "location": "text", "text": "text", "engine_ok": "bool",
    "accepted": "bool", "authorized": "bool", "cancel": "bool",
    "all": "bool", "price": "price", "kw": "kw", "wh": "wh",
    "target_wh": "wh", "cents": "cents", "seq": "u32", "target_s": "u32",
    "timeout_ms": "u32", "started": "time", "ended": "time",
    "since": "time", "state": "state", "live": "live",
}

NOT_A_STRING = [b"1", b"1.5", b"true", b"null", b"[]", b"{}", b'["CP001"]',
                b'{"id":"x"}']
NOT_AN_INT = [b'"1"', b"1.5", b"1.0", b"1e3", b"1E2", b"-0.0", b"true",
              b"false", b"null", b"[]", b"{}", b"[1]", b'{"a":1}', b"-1",
              b"99999999999999999999999", b"-99999999999999999999999"]
NOT_A_NUMBER = [b'"0.35"', b"true", b"null", b"[]", b"{}", b"-0.01", b"-1",
                b"1e400", b"-1e400", b"[0.35]"]
NOT_A_BOOL = [b'"true"', b'"false"', b"1", b"0", b"null", b"[]", b"{}",
              b"[true]"]
# Not JSON at all, wherever a value stands.
NOT_JSON = [b"NaN", b"Infinity", b"-Infinity", b"undefined", b"01", b"+1",
            b"1.", b".5", b"0x1F", b"'x'", b'"unterminated', b"tru",
            b"nul", b'"\\x41"', b'"\\u12"', b"1e", b"--1", b'"a"b"',
            b'"\xff"', b'"\xc3("', b'"\x01"', b'"a\nb"']
NAMES = {
    "type": ALL_TYPES,
    "deny": ["none", "unknown_cp", "busy", "out_of_order", "broken",
             "disconnected", "driver_busy", "expired", "bad_request"],
    "end": ["finished", "unplugged", "stopped", "broken", "disconnected",
            "cancelled"],
    "cmd": ["start", "stop", "resume", "end"],
    "state": ["DISCONNECTED", "ACTIVE", "SUPPLYING", "STOPPED", "BROKEN",
              "REVOKED"],
}


class Gen:
    """The random source, the real ids and the messages written so far."""

    def __init__(self, a, capture):
        self.r = random.Random(a.seed)
        self.a = a
        self.cap = capture
        self.now = int(time.time() * 1000)
        self.out = {t: [] for t in TOPICS}
        self.md = parse_delim(a.msg_delim)
        self.ids = set()

    # --- values ----------------------------------------------------------

    def uuid(self):
        u = "%032x" % self.r.getrandbits(128)
        self.ids.add(u)
        return u

    def ghost(self):
        """A well-formed CP or driver id that no part of the test uses."""
        return "GH%s-%d" % (self.r.choice("XYZQ"), self.r.randrange(10**6))

    def cp_key(self):
        return self.r.choice(self.a.cps)

    def key(self, topic):
        """A key of real traffic on topic: a target CP, or the driver."""
        if topic == "auth_response":
            return self.a.driver
        return self.cp_key()

    def env(self, mtype, ts=None):
        return [("v", b"1"), ("type", q(mtype)), ("id", q(self.uuid())),
                ("ts", num(ts if ts is not None else self.now))]

    # --- valid messages, fields in the order of evc-protocol(7) ------------
    # Each is a list of (name, raw JSON bytes); optional() tells which
    # fields may be dropped and leave a valid message.

    def register(self, cp, ok=True):
        return self.env("register") + [
            ("cp", q(cp)), ("location", q("Calle Mayor 1, Alicante")),
            ("engine_ok", jb(ok))]

    def register_ack(self, cp, accepted=True):
        return self.env("register_ack") + [
            ("cp", q(cp)), ("accepted", jb(accepted)),
            ("reason", q("none" if accepted else "unknown_cp")),
            ("price", num(0.35 if accepted else 0)),
            ("location", q("Alicante"))]

    def auth_request(self, cp, driver, ts=None, session=None, timeout=0):
        f = self.env("auth_request", ts) + [("cp", q(cp)),
                                            ("driver", q(driver))]
        if session:
            f.append(("session", q(session)))
        return f + [("target_wh", num(0 if session else 200)),
                    ("target_s", b"0"), ("timeout_ms", num(timeout)),
                    ("cancel", jb(bool(session)))]

    def auth_response(self, cp, driver, session=None, reason="busy"):
        f = self.env("auth_response") + [("cp", q(cp)), ("driver", q(driver))]
        if session:
            f.append(("session", q(session)))
        return f + [("request", q(self.uuid())),
                    ("authorized", jb(bool(session))),
                    ("reason", q("none" if session else reason)),
                    ("price", num(0.35 if session else 0))]

    def command(self, cp, cmd, driver=None, session=None):
        f = self.env("command") + [("cp", q(cp))]
        if driver:
            f.append(("driver", q(driver)))
        if session:
            f.append(("session", q(session)))
        start = cmd == "start"
        return f + [("cmd", q(cmd)), ("target_wh", num(200 if start else 0)),
                    ("target_s", b"0"), ("price", num(0.35 if start else 0))]

    def telemetry(self, cp, driver, session, seq=0, wh=0, mtype="telemetry"):
        f = self.env(mtype) + [("cp", q(cp))]
        if driver:
            f.append(("driver", q(driver)))
        return f + [("session", q(session)), ("seq", num(seq)),
                    ("kw", num(36)), ("wh", num(wh)),
                    ("cents", num(msg_cents(wh, 0.35)))]

    def supply_end(self, cp, driver, session, wh=0, reason="finished",
                   mtype="supply_end"):
        f = self.env(mtype) + [("cp", q(cp))]
        if driver:
            f.append(("driver", q(driver)))
        return f + [("session", q(session)), ("seq", num(7)),
                    ("wh", num(wh)), ("cents", num(msg_cents(wh, 0.35))),
                    ("price", num(0.35)), ("started", num(self.now - 9000)),
                    ("ended", num(self.now)), ("reason", q(reason))]

    def health(self, cp, seq=1):
        return self.env("health") + [("cp", q(cp)), ("engine_ok", b"true"),
                                     ("seq", num(seq))]

    def notice(self, cp, driver, session=None):
        f = self.env("notice") + [("cp", q(cp)), ("driver", q(driver))]
        if session:
            f.append(("session", q(session)))
        return f + [("state", q("BROKEN")),
                    ("text", q("the CP broke down during the supply"))]

    def control(self, cp, cmd="resume"):
        f = self.env("control")
        if cp:
            f.append(("cp", q(cp)))
        return f + [("cmd", q(cmd)), ("all", jb(not cp))]

    def cp_state(self, cp, driver=None, session=None, state="ACTIVE"):
        f = self.env("cp_state") + [("cp", q(cp))]
        if session:
            f += [("driver", q(driver)), ("session", q(session))]
        live = b'{"seq":3,"kw":36,"wh":6,"cents":0}' if session else \
            b'{"seq":0,"kw":0,"wh":0,"cents":0}'
        return f + [("state", q(state)), ("location", q("Alicante")),
                    ("price", num(0.35)), ("live", live),
                    ("since", num(self.now - 5000))]

    def templates(self, mtype, cp):
        """Valid messages of a type about cp, every field required."""
        d, s = self.a.driver, self.a.session or self.uuid()
        made = {
            "register": lambda: [self.register(cp)],
            "register_ack": lambda: [self.register_ack(cp),
                                     self.register_ack(cp, False)],
            "auth_request": lambda: [self.auth_request(cp, d),
                                     self.auth_request(cp, d, session=s)],
            "auth_response": lambda: [self.auth_response(cp, d, s),
                                      self.auth_response(cp, d)],
            "progress": lambda: [self.telemetry(cp, d, s, 3, 6, "progress")],
            "ticket": lambda: [self.supply_end(cp, d, s, 6,
                                               mtype="ticket")],
            "notice": lambda: [self.notice(cp, d)],
            "command": lambda: [self.command(cp, "start", d, s),
                                self.command(cp, "end", None, s)],
            "telemetry": lambda: [self.telemetry(cp, None, s, 0, 0)],
            "supply_end": lambda: [self.supply_end(cp, None, s)],
            "health": lambda: [self.health(cp)],
            "control": lambda: [self.control(cp), self.control(None)],
            "cp_state": lambda: [self.cp_state(cp)],
        }
        return made[mtype]()

    # --- writing -----------------------------------------------------------

    def put(self, topic, key, value, cls, kind):
        if isinstance(value, list):
            value = enc(value)
        self.out[topic].append((key, value, cls, kind))

    def bad(self, topic, key, value, kind):
        self.put(topic, key, value, "malformed", kind)

    def good(self, topic, key, value, kind):
        self.put(topic, key, value, "valid", kind)


# --- encoding ----------------------------------------------------------------

def q(s):
    return json.dumps(s, ensure_ascii=False).encode()


def num(x):
    return json.dumps(x).encode()


def jb(b):
    return b"true" if b else b"false"


def enc(fields):
    return b"{" + b",".join(q(k) + b":" + v for k, v in fields) + b"}"


def msg_cents(wh, price):
    """evc-protocol(7), Tickets: the price to the micro-euro, then integers."""
    n = wh * int(round(price * 1000000))
    return (n + 5000000) // 10000000 if n >= 0 else \
        -((-n + 5000000) // 10000000)


def replace(fields, name, raw):
    return [(k, raw if k == name else v) for k, v in fields]


def drop(fields, name):
    return [(k, v) for k, v in fields if k != name]


def parse_delim(s):
    """A delimiter in kcat's syntax: \\xNN, \\n, \\r, \\t, other bytes."""
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1:i + 2] == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif s[i] == "\\" and s[i + 1:i + 2] in ("n", "r", "t"):
            out += {"n": b"\n", "r": b"\r", "t": b"\t"}[s[i + 1]]
            i += 2
        else:
            out += s[i].encode()
            i += 1
    return bytes(out)


def partition(key, n):
    return zlib.crc32(key.encode()) % n


# --- the malformed ---------------------------------------------------------------

def wrong_values(g, kind, mtype):
    """Values that break a field of this kind, each on its own."""
    if kind in ("v", "ts", "wh", "cents", "u32", "time"):
        extra = {"v": [b"2", b"0"], "ts": [b"0"], "wh": [b"1000000001"],
                 "cents": [b"100000000001"], "u32": [b"4294967296"],
                 "time": [b"-5", b"9223372036854775808"]}[kind]
        return NOT_AN_INT + extra
    if kind in ("price", "kw"):
        return NOT_A_NUMBER + [b"1000.01" if kind == "price" else b"100000.5"]
    if kind == "bool":
        return NOT_A_BOOL
    if kind == "live":
        return [b"[]", b"1", b"null", b"{}", b'"live"',
                b'{"seq":1,"kw":1,"wh":1}',
                b'{"seq":1,"kw":1,"wh":1,"cents":1,"x":1}',
                b'{"seq":-1,"kw":1,"wh":1,"cents":1}',
                b'{"seq":1,"kw":1,"wh":"1","cents":1}']
    if kind == "uuid":
        h = g.uuid()
        return NOT_A_STRING + [q(h.upper()), q(h[:31]), q(h + "0"),
                               q(h[:31] + "g"), q(""), q(" " + h[1:]),
                               q(h[:16] + "-" + h[17:]), b'"' + h[:31].encode()
                               + b'\\u0000"']
    if kind == "name":
        return NOT_A_STRING + [q(""), q("C P"), q("X" * 33), q("CP/001"),
                               q("CP001\n"), q("CP\u00e9"), q("*"),
                               b'"CP001\\u0000"', q("CP001\u200b")]
    if kind == "text":
        return NOT_A_STRING + [q("x" * 129), q("\u00e9" * 65),
                               b'"\\u001b[31mred"', b'"a\\u0000b"',
                               b'"\\u007f"', b'"\\u0085"', b'"tab\\there"',
                               b'"\\ud800"']
    names = NAMES["cmd"] if kind == "cmd" else NAMES[kind]
    word = g.r.choice(names)
    bad = [q("bogus"), q(""), q(word.upper() if word.islower()
                                else word.lower()), q(word + " "),
           q(" " + word)]
    if kind == "type":
        bad = [q(t) for t in ALL_TYPES if t != mtype][:3] + bad
    return NOT_A_STRING + bad


def field_kind(name, mtype):
    if name == "reason":
        return "deny" if mtype in ("register_ack", "auth_response") else "end"
    if name == "cmd":
        return "cmd"
    return KINDS[name]


def optional(fields, mtype):
    """Fields of this message that may be dropped and leave it valid."""
    if mtype in ("telemetry", "supply_end", "cp_state", "command"):
        return {"driver"} | ({"session"} if mtype == "cp_state" else set())
    if mtype == "notice":
        return {"session"}
    if mtype == "auth_response" and b"false" in dict(fields)["authorized"]:
        return {"session"}
    return set()


def contradictions(g, mtype, f):
    """Fields that each hold a fine value but not together."""
    out = []
    if mtype == "register_ack":
        out += [replace(f, "reason", q("unknown_cp")),
                replace(replace(f, "accepted", b"false"), "reason",
                        q("none"))]
    if mtype == "auth_request":
        out += [replace(f, "cancel", jb(b"false" in dict(f)["cancel"]))]
    if mtype == "auth_response":
        out += [replace(f, "reason", q("busy")),
                replace(replace(f, "authorized", b"false"), "reason",
                        q("none")),
                drop(f, "session") if dict(f).get("session") else
                replace(replace(f, "authorized", b"true"), "reason",
                        q("none"))]
    if mtype == "command":
        out += [drop(f, "driver"), drop(f, "session"),
                replace(drop(f, "session"), "cmd", q("end"))]
    if mtype == "control":
        d = dict(f)
        if "cp" in d:
            out += [replace(f, "all", b"true"), replace(f, "cmd", q("start")),
                    replace(f, "cmd", q("end")), drop(f, "cp")]
        else:
            out += [replace(f, "all", b"false"),
                    f[:4] + [("cp", q("CP001"))] + f[4:]]
    return [o for o in out if o != f]


def mutations(g, mtype, f):
    """Every way this one valid message is made malformed, field by field."""
    out = []
    opt = optional(f, mtype)
    for i, (name, _) in enumerate(f):
        for raw in wrong_values(g, field_kind(name, mtype), mtype):
            out.append(("wrongtype", replace(f, name, raw)))
        if name not in opt:
            out.append(("missing", drop(f, name)))
        out.append(("duplicate", f + [(name, f[i][1])]))
        out.append(("duplicate", f[:i + 1] + [(name, f[i][1])] + f[i + 1:]))
        out.append(("notjson", replace(f, name, g.r.choice(NOT_JSON))))
    out.append(("unknownfield", f + [("colour", b"1")]))
    out.append(("unknownfield", [("V", b"1")] + f[1:]))
    out.append(("unknownfield", f + [("extra", b'{"v":1}')]))
    out += [("contradiction", c) for c in contradictions(g, mtype, f)]
    return out


def framing(raw):
    """The same bytes, but not exactly one JSON object."""
    return [raw + b"x", raw + raw, raw + b" " + raw, b"[" + raw + b"]",
            raw + b"}", b"{" + raw, raw[:-1] + b",}", raw.replace(b":", b"=", 1),
            raw + b"\x00", b"\x00" + raw, q(raw.decode("utf-8", "replace")),
            raw.replace(b"{", b"{,", 1)]


def systematic(g, topic):
    """Each type's fields broken one at a time, for each target CP."""
    for mtype in TOPIC_TYPES[topic]:
        for cp in g.a.cps:
            key = cp if topic != "auth_response" else g.a.driver
            for f in g.templates(mtype, cp):
                for kind, m in mutations(g, mtype, f):
                    g.bad(topic, key, m, kind)
                for m in framing(enc(f)):
                    g.bad(topic, key, m, "framing")


def truncations(g, topic):
    """Every prefix of real messages and of one valid message per type."""
    raws = [v for _, v in g.cap.get(topic, [])[-3:]]
    for mtype in TOPIC_TYPES[topic]:
        raws.append(enc(g.templates(mtype, g.a.cps[0])[0]))
    keys = g.a.cps if topic != "auth_response" else [g.a.driver]
    for raw in raws:
        for n in range(1, len(raw)):
            g.bad(topic, g.r.choice(keys), raw[:n], "truncated")


def wrong_topic(g, topic):
    """Valid messages of types this topic does not carry, and replays of
    real ones sent to the wrong topic."""
    for mtype in ALL_TYPES:
        if mtype in TOPIC_TYPES[topic]:
            continue
        for cp in g.a.cps:
            for f in g.templates(mtype, cp):
                g.bad(topic, cp, f, "wrongtopic")
    for other in TOPICS:
        if set(TOPIC_TYPES[other]) & set(TOPIC_TYPES[topic]):
            continue
        for _, raw in g.cap.get(other, [])[-20:]:
            g.bad(topic, g.key(topic), raw, "wrongtopic")


def nested(g, topic, n):
    """Arrays and objects nested deep, inside and outside an envelope."""
    env = enc(g.templates(TOPIC_TYPES[topic][0], g.a.cps[0])[0])[:-1]
    for i in range(n):
        d = g.r.choice([64, 512, 2049, 5000, 20000, 32000])
        shape = i % 5
        if shape == 0:
            m = b"[" * d + b"]" * d
        elif shape == 1:
            m = b'{"a":' * min(d, 12000) + b"1" + b"}" * min(d, 12000)
        elif shape == 2:
            m = env + b',"x":' + b"[" * d + b"]" * d + b"}"
        elif shape == 3:
            m = b"[" * (d * 2)
        else:
            m = env + b',"live":' + b'{"seq":' * min(d, 9000) + b"1" + \
                b"}" * min(d, 9000) + b"}"
        g.bad(topic, g.key(topic), m, "nested")


def huge(g, topic, n):
    """60 kB strings and numbers in every kind of field; messages past
    the 64 kB limit."""
    f = g.templates(TOPIC_TYPES[topic][-1], g.a.cps[0])[0]
    names = [k for k, _ in f if k not in ("v",)]
    for i in range(n):
        big = "".join(g.r.choice("abcdefABCDEF0123456789") for _ in range(64))
        s = (big * 1000)[:60000 + g.r.randrange(2000)]
        name = names[i % len(names)]
        if i % 7 == 0:
            m = enc(f + [("pad", q(s))])
        elif i % 7 == 1:
            m = enc(replace(f, name, b"9" * 60000))
        elif i % 7 == 2:
            m = enc(f[:-1] + [("pad", q(s + s))])
        elif i % 7 == 3:
            m = enc(replace(f, name, b"[" + b"1," * 30000 + b"1]"))
        else:
            m = enc(replace(f, name, q(s)))
        g.bad(topic, g.key(topic), m, "huge")


def noise(g, topic, n):
    """Random bytes, random text and structure broken by one byte."""
    ok = bytes(range(256))
    notstruct = bytes(c for c in ok if c not in b'{}[]:,"\\ \t\r\n0123456789'
                      b"-.eE+")
    tpl = [enc(f) for t in TOPIC_TYPES[topic] for f in
           g.templates(t, g.a.cps[0])]
    for i in range(n):
        r = g.r
        shape = i % 4
        if shape == 0:
            m = r.randbytes(r.randrange(1, 400))
        elif shape == 1:
            m = r.randbytes(r.randrange(1, 300)).translate(PRINTABLE)
        elif shape == 2:
            m = b"".join(r.choices(TOKENS, k=r.randrange(1, 80)))
        else:
            m = bytearray(r.choice(tpl))
            spots = structure(m)
            for j in r.sample(spots, min(len(spots), r.randrange(1, 4))):
                m[j] = r.choice(notstruct)
            m = bytes(m)
        if m.strip(b" \t\r\n") == b"" or g.md in m:
            while g.md in m:
                m = m.replace(g.md, b"")
            m = b"\x00" + m
        g.bad(topic, g.key(topic), m, "noise")


# Bytes made printable ASCII; the pieces JSON is made of.
PRINTABLE = bytes(32 + c % 95 for c in range(256))
TOKENS = [b"{", b"}", b"[", b"]", b":", b",", b'"v"', b'"type"', b"1", b"true",
          b"null", b'"', b'"cp"', b'"CP001"', b"-", b"e", b" "]


def structure(raw):
    """Where the braces, brackets, colons, commas and quotes of a compact
    JSON text stand: not inside a string, where changing one byte could
    leave a valid message."""
    spots, inside, esc = [], False, False
    for j, c in enumerate(raw):
        if inside and esc:
            esc = False
        elif inside and c == 0x5c:
            esc = True
        elif c == 0x22:
            inside = not inside
            spots.append(j)
        elif not inside and c in b"{}[]:,":
            spots.append(j)
    return spots


# --- the valid but hostile ---------------------------------------------------------

def forged(g, topic, n):
    """Well-formed messages that must change nothing: unknown CPs and
    drivers, sessions that do not exist, requests too old to grant."""
    makers = FORGED.get(topic)
    for i in range(n if makers else 0):
        key, f, kind = makers[i % len(makers)](g, g.a.driver,
                                               g.a.session or g.uuid())
        g.good(topic, key, f, kind)


def near(g, f, kind):
    """In the partition of a target CP, whatever the CP of the message."""
    return g.cp_key(), f, kind


def own(g, f, kind):
    """Keyed by the message's own CP."""
    return json.loads(dict(f)["cp"]), f, kind


def to(key, f, kind):
    return key, f, kind


# For each topic, makers of (key, fields, kind) from (g, driver, session).
FORGED = {
    "cp_register": [
        lambda g, d, s: near(g, g.register(g.ghost()), "unknownid"),
        lambda g, d, s: own(g, g.register(g.ghost()), "unknownid")],
    "cp_register_ack": [
        lambda g, d, s: near(g, g.register_ack(g.ghost()), "unknownid"),
        lambda g, d, s: near(g, g.register_ack(g.ghost(), False),
                             "unknownid"),
        lambda g, d, s: own(g, g.register_ack(g.cp_key(), False), "forged"),
        lambda g, d, s: own(g, g.register_ack(g.cp_key()), "forged")],
    "auth_request": [
        lambda g, d, s: near(g, g.auth_request(g.ghost(), d), "unknownid"),
        lambda g, d, s: own(g, g.auth_request(g.ghost(), g.ghost()),
                            "unknownid"),
        lambda g, d, s: own(g, g.auth_request(g.cp_key(), g.ghost(),
                                              g.now - 86400000, None, 1000),
                            "forged"),
        lambda g, d, s: own(g, g.auth_request(g.cp_key(), d,
                                              session=g.uuid()), "forged")],
    "auth_response": [
        lambda g, d, s: to(d, g.telemetry(g.cp_key(), d, g.uuid(), 999, 999,
                                          "progress"), "forged"),
        lambda g, d, s: to(d, g.supply_end(g.cp_key(), d, g.uuid(), 999,
                                           mtype="ticket"), "forged"),
        lambda g, d, s: to(d, g.notice(g.cp_key(), d, g.uuid()), "forged"),
        lambda g, d, s: to(d, g.auth_response(g.cp_key(), d, g.uuid()),
                           "forged"),
        lambda g, d, s: to(d, g.auth_response(g.cp_key(), d), "forged"),
        lambda g, d, s: to(d, g.supply_end(g.cp_key(), g.ghost(), s, 999,
                                           mtype="ticket"), "forged"),
        lambda g, d, s: to(g.ghost(), g.notice(g.cp_key(), g.ghost()),
                           "unknownid")],
    "cp_commands": [
        lambda g, d, s: own(g, g.command(g.cp_key(), "end", None, g.uuid()),
                            "forged"),
        lambda g, d, s: own(g, g.command(g.cp_key(), "end", d, g.uuid()),
                            "forged"),
        lambda g, d, s: own(g, g.command(g.cp_key(), "resume"), "forged"),
        lambda g, d, s: near(g, g.command(g.ghost(), "start", g.ghost(),
                                          g.uuid()), "unknownid"),
        lambda g, d, s: near(g, g.command(g.ghost(), "stop"), "unknownid"),
        lambda g, d, s: near(g, g.command(g.ghost(), "end", None, s),
                             "unknownid")],
    "telemetry": [
        lambda g, d, s: own(g, g.telemetry(g.cp_key(), None, g.uuid(),
                                           1000, 999), "forged"),
        lambda g, d, s: own(g, g.supply_end(g.cp_key(), None, g.uuid(), 999),
                            "forged"),
        lambda g, d, s: near(g, g.telemetry(g.ghost(), None, g.uuid(), 5, 5),
                             "unknownid"),
        lambda g, d, s: near(g, g.supply_end(g.ghost(), d, s, 999),
                             "unknownid"),
        lambda g, d, s: own(g, g.telemetry(g.a.cps[0], g.ghost(), s,
                                           4294967295, 999999), "forged"),
        lambda g, d, s: own(g, g.supply_end(g.a.cps[0], g.ghost(), s,
                                            999999), "forged"),
        lambda g, d, s: own(g, g.telemetry(g.a.cps[-1], d, s, 4294967295,
                                           999999), "forged")],
    "health": [
        lambda g, d, s: near(g, g.health(g.ghost()), "unknownid"),
        lambda g, d, s: own(g, g.health(g.ghost()), "unknownid")],
    "control": [
        lambda g, d, s: near(g, g.control(g.ghost(), "stop"), "unknownid"),
        lambda g, d, s: own(g, g.control(g.ghost(), "resume"), "unknownid"),
        lambda g, d, s: own(g, g.control(g.cp_key(), "resume"), "forged")],
}


def replays(g, topic, n):
    """Real messages of this topic sent again, as they were."""
    real = [(k, v) for k, v in g.cap.get(topic, []) if keep_replay(g, topic, v)]
    if not real:
        return
    for i in range(n):
        k, v = real[i % len(real)] if i < len(real) else g.r.choice(real)
        g.good(topic, k, v, "replay")


def keep_replay(g, topic, raw):
    """What replays can be sent without being obeyed: of the commands only
    the start of the session in progress (a repeat for its CP), of the
    states only those of the CP charging (Central's own come after them),
    of the heartbeats only healthy ones."""
    try:
        m = json.loads(raw)
    except ValueError:
        return False
    if topic == "cp_state":
        return m.get("cp") == g.a.cps[0] and m.get("state") == "SUPPLYING"
    if topic == "cp_commands":
        return m.get("cmd") == "start" and m.get("session") == g.a.session
    if topic == "health":
        return m.get("engine_ok") is True
    return True


# --- main ------------------------------------------------------------------------

def load_capture(d):
    cap = {}
    for t in TOPICS:
        p = os.path.join(d, t)
        if not os.path.exists(p):
            continue
        with open(p, "rb") as fp:
            for line in fp.read().split(b"\n"):
                if b"\t" in line:
                    k, v = line.split(b"\t", 1)
                    cap.setdefault(t, []).append((k.decode(), v))
    return cap


def fill(g, topic, target):
    """The kinds of malformed and valid messages, then noise up to target."""
    systematic(g, topic)
    truncations(g, topic)
    wrong_topic(g, topic)
    nested(g, topic, 25)
    huge(g, topic, 25)
    forged(g, topic, 1200)
    replays(g, topic, 600)
    left = target - len(g.out[topic])
    if left > 0:
        noise(g, topic, left)


def write(g, outdir, kd, md):
    counts = {}
    for t in TOPICS:
        msgs = g.out[t]
        g.r.shuffle(msgs)
        with open(os.path.join(outdir, t + ".kc"), "wb") as fp:
            for key, value, cls, kind in msgs:
                if md in value or kd in key.encode() or not value:
                    sys.exit("hostile-gen: a message holds a delimiter")
                fp.write(key.encode() + kd + value + md)
                c = (t, partition(key, g.a.partitions), cls, kind)
                counts[c] = counts.get(c, 0) + 1
    with open(os.path.join(outdir, "counts"), "w") as fp:
        for c in sorted(counts):
            fp.write("%s %d %s %s %d\n" % (c + (counts[c],)))
    with open(os.path.join(outdir, "ids"), "w") as fp:
        fp.write("".join(i + "\n" for i in sorted(g.ids)))


def cmd_gen(a):
    os.makedirs(a.out, exist_ok=True)
    g = Gen(a, load_capture(a.capture))
    per = a.count // len(TOPICS)
    for i, t in enumerate(TOPICS):
        fill(g, t, per + (1 if i < a.count % len(TOPICS) else 0))
    write(g, a.out, parse_delim(a.key_delim), g.md)
    total = sum(len(v) for v in g.out.values())
    print("hostile-gen: seed %d: %d messages, %d bytes" %
          (a.seed, total, sum(len(m[1]) for v in g.out.values() for m in v)))


def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key twice")
    return dict(pairs)


def no_constant(name):
    raise ValueError("not JSON: " + name)


def as_text(v):
    return v if isinstance(v, str) else json.dumps(v)


def cmd_pick(a):
    """The messages of kcat -J lines on stdin that a part of the network
    sent: one JSON object, no key twice, an id of the right form that the
    generator did not make (its OUT_DIR/ids), seen for the first time (a
    replay repeats an id); those with every FIELD=VALUE are printed, one
    per line."""
    made = set()
    if a.made:
        with open(a.made) as fp:
            made = set(fp.read().split())
    want = [w.split("=", 1) for w in a.fields]
    hexdigits = set("0123456789abcdef")
    seen = set()
    for line in sys.stdin.buffer:
        try:
            rec = json.loads(line.decode("utf-8", "replace"))
            m = json.loads(rec["payload"], object_pairs_hook=no_dups,
                           parse_constant=no_constant)
            mid = m["id"]
        except (ValueError, KeyError, TypeError, RecursionError):
            continue
        if not isinstance(mid, str) or len(mid) != 32 or \
                not set(mid) <= hexdigits or mid in made or mid in seen:
            continue
        seen.add(mid)
        if all(k in m and as_text(m[k]) == v for k, v in want):
            print(json.dumps(m, separators=(",", ":")))


def main():
    p = argparse.ArgumentParser(prog="hostile-gen.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    gp = sub.add_parser("gen")
    gp.add_argument("--count", type=int, default=100000)
    gp.add_argument("--seed", type=int, default=None)
    gp.add_argument("--partitions", type=int, default=3)
    gp.add_argument("--cps", default="CP001,CP002",
                    help="the CP charging, then the idle ones")
    gp.add_argument("--driver", default="DRIVER001")
    gp.add_argument("--session", default="")
    gp.add_argument("--key-delim", default="\\x1f\\xfe\\x1c")
    gp.add_argument("--msg-delim", default="\\x1e\\xfd\\x1d\\xff")
    gp.add_argument("capture")
    gp.add_argument("out")
    kp = sub.add_parser("pick")
    kp.add_argument("--made", help="the ids file of a gen run")
    kp.add_argument("fields", nargs="*")
    pp = sub.add_parser("part")
    pp.add_argument("-p", "--partitions", type=int, default=3)
    pp.add_argument("keys", nargs="+")
    a = p.parse_args()
    if a.cmd == "part":
        for k in a.keys:
            print(k, partition(k, a.partitions))
        return
    if a.cmd == "pick":
        cmd_pick(a)
        return
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    a.cps = a.cps.split(",")
    cmd_gen(a)


if __name__ == "__main__":
    main()
