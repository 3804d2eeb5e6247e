#!/usr/bin/env python3
# crash-check.py: the invariants of the crash tests, from the telemetry and auth-response topics as kcat -J dumps them.
"""usage: crash-check.py NAME ROUNDS PREFIX REASONS TELEMETRY RESPONSES PRICES
       crash-check.py answers RESPONSES REQUEST
       crash-check.py committed GROUP <OFFSETS

NAME      the scenario, for the report line
ROUNDS    how many rounds it ran
PREFIX    the drivers of the scenario: their ids start with it
REASONS   the end reasons a ticket of the scenario may give, comma-separated
TELEMETRY, RESPONSES  files of `kcat -C -J -e` output (one record a line)
PRICES    CP=EUR/kWh,... the catalogue

Prints one report line, then one line per broken invariant; exits 1 when
anything was lost, duplicated or wrong. Drivers whose ids start with
PREFIX followed by "x" asked while Central was down: none may be granted.
The report counts the scenario's refusals, by reason.

answers: Central's answers to request REQUEST, in the order of the topic,
one a line: "granted SESSION" or "refused REASON".

committed: whether consumer group GROUP has committed an offset, from
the keys of __consumer_offsets as `kcat -C -e -f '%K:%k'` writes them
(each key's length, a colon, the key's bytes); exits 0 if it has.
"""
import json
import sys
from decimal import Decimal, ROUND_HALF_UP


def records(path):
    """The JSON messages in a kcat -J dump (records that are not JSON are
    the tests' business elsewhere: skipped)."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
                msg = json.loads(rec.get("payload") or "")
            except (ValueError, TypeError):
                continue
            if isinstance(msg, dict):
                out.append(msg)
    return out


def cents(wh, price):
    """wh x price / 10, the price first taken to the micro-euro, rounded
    half away from zero (all figures are positive)."""
    micro = (Decimal(str(price)) * 1000000).to_integral_value(ROUND_HALF_UP)
    return int((Decimal(wh) * micro / 10000000).to_integral_value(
        ROUND_HALF_UP))


def main(argv):
    if len(argv) != 8:
        sys.stderr.write(__doc__)
        return 2
    name, rounds, prefix, reasons, tele, resp, prices = argv[1:8]
    reasons = set(reasons.split(","))
    price_of = dict(p.split("=") for p in prices.split(","))
    mine = lambda m: str(m.get("driver", "")).startswith(prefix)
    early = lambda m: str(m.get("driver", "")).startswith(prefix + "x")

    grants, tickets, problems, per_request = {}, {}, [], {}
    refused = {}
    for m in records(resp):
        if not mine(m):
            continue
        if m.get("type") == "auth_response" and m.get("authorized"):
            if early(m):
                problems.append("granted while Central was down: %s at %s"
                                % (m["driver"], m["cp"]))
            grants.setdefault(m["session"], m)
            per_request.setdefault(m["request"], set()).add(m["session"])
        elif m.get("type") == "auth_response":
            why = str(m.get("reason"))
            refused[why] = refused.get(why, 0) + 1
        elif m.get("type") == "ticket":
            tickets.setdefault(m["session"], []).append(m)
    tel, ends = {}, {}
    for m in records(tele):
        s = m.get("session")
        if m.get("type") == "telemetry":
            tel.setdefault(s, []).append(m)
        elif m.get("type") == "supply_end":
            ends.setdefault(s, []).append(m)

    lost = dup = 0
    for s, g in sorted(grants.items(), key=lambda i: i[1]["ts"]):
        ts = tickets.get(s, [])
        tag = "%s at %s, session %s" % (g["driver"], g["cp"], s[:8])
        if not ts:
            lost += 1
            problems.append("no ticket: " + tag)
            continue
        if len(ts) > 1:
            dup += 1
            problems.append("%d tickets: %s" % (len(ts), tag))
        t = ts[0]
        bad = check_ticket(t, tag, tel.get(s, []), ends.get(s, []),
                           price_of.get(g["cp"]), reasons)
        problems += bad
    # One request, one session: a request granted twice charges twice.
    # The same request sent again while its session runs (a driver
    # retrying through a broker's failover) gets the same grant again:
    # that opens nothing, and is not counted.
    for req, sessions in per_request.items():
        if len(sessions) > 1:
            dup += 1
            problems.append("request %s granted %d sessions: %s" % (
                req[:8], len(sessions),
                " ".join(sorted(x[:8] for x in sessions))))
    strays = [s for s in tickets if s not in grants]
    for s in strays:
        problems.append("ticket for a session never granted: %s" % s)
    if len(grants) < int(rounds):
        problems.append("%d sessions for %s rounds" % (len(grants), rounds))
    print("%s: rounds %s, sessions %d, tickets %d, lost %d, duplicated %d,"
          " wrong %d, refused %d%s"
          % (name, rounds, len(grants), sum(len(v) for v in tickets.values()),
             lost, dup, len(problems) - lost - dup,
             sum(refused.values()),
             " (%s)" % ", ".join("%s %d" % (r, n)
                                 for r, n in sorted(refused.items()))
             if refused else ""))
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


def check_ticket(t, tag, tel, ends, price, reasons):
    """The figures of one ticket against what its CP reported."""
    bad = []
    last = max((m["wh"] for m in tel), default=0)
    by_seq = sorted(tel, key=lambda m: m["seq"])
    for a, b in zip(by_seq, by_seq[1:]):
        if b["seq"] > a["seq"] and b["wh"] < a["wh"]:
            bad.append("telemetry goes back: seq %d %d Wh, seq %d %d Wh: %s"
                       % (a["seq"], a["wh"], b["seq"], b["wh"], tag))
    end_wh = {e["wh"] for e in ends if e["reason"] == t["reason"]}
    if t["reason"] not in reasons:
        bad.append("ticket says %s, expected %s: %s"
                   % (t["reason"], "/".join(sorted(reasons)), tag))
    # The CP's own end decides; Central closes alone (disconnected,
    # broken) only with the figures of the last telemetry.
    if t["wh"] not in end_wh and not (
            t["reason"] in ("disconnected", "broken") and t["wh"] == last):
        bad.append("ticket %d Wh, CP's supply_end %s, last telemetry %d: %s"
                   % (t["wh"], sorted(end_wh) or "none", last, tag))
    if t["wh"] < last:
        bad.append("ticket %d Wh below the telemetry's %d: %s"
                   % (t["wh"], last, tag))
    if price is None or Decimal(str(t["price"])) != Decimal(price):
        bad.append("ticket price %s, catalogue %s: %s"
                   % (t["price"], price, tag))
    elif t["cents"] != cents(t["wh"], price):
        bad.append("ticket %d cents for %d Wh at %s, expected %d: %s"
                   % (t["cents"], t["wh"], price, cents(t["wh"], price), tag))
    return bad


def answers(path, request):
    """Central's answers to one request, in the order of the topic (a
    driver's answers share one partition)."""
    for m in records(path):
        if m.get("type") != "auth_response" or m.get("request") != request:
            continue
        if m.get("authorized"):
            print("granted %s" % m.get("session"))
        else:
            print("refused %s" % m.get("reason"))
    return 0


def committed(group, data):
    """Has GROUP an offset commit among the keys of __consumer_offsets?
    A key is a version (0 and 1: an offset commit, 2: the group's
    metadata), then the group as a length and its bytes."""
    want = group.encode()
    n = i = 0
    while i < len(data):
        colon = data.index(b":", i)
        size = int(data[i:colon])
        key = data[colon + 1:colon + 1 + max(size, 0)]
        i = colon + 1 + max(size, 0)
        if len(key) < 4 or int.from_bytes(key[:2], "big") not in (0, 1):
            continue
        glen = int.from_bytes(key[2:4], "big")
        if key[4:4 + glen] == want:
            n += 1
    print("%s: %d offset commit records" % (group, n))
    return 0 if n else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["answers"] and len(sys.argv) == 4:
        sys.exit(answers(sys.argv[2], sys.argv[3]))
    if sys.argv[1:2] == ["committed"] and len(sys.argv) == 3:
        sys.exit(committed(sys.argv[2], sys.stdin.buffer.read()))
    sys.exit(main(sys.argv))
