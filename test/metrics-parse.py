#!/usr/bin/env python3
# metrics-parse.py: reads a scrape on stdin with PyPI's prometheus_client parser; prints each family and sample, one a line.
#
# Output: "family NAME TYPE" for each family, then its samples as
# "NAME{LABEL=VALUE,...} VALUE", labels sorted, their values unquoted
# (for the shell), whole numbers without a fraction. A text the parser refuses: the reason on stderr, exit 1.
import sys

from prometheus_client.parser import text_string_to_metric_families


def number(v):
    return str(int(v)) if v == v and v not in (float("inf"), float("-inf")) \
        and v == int(v) else repr(v)


def main():
    try:
        families = list(text_string_to_metric_families(sys.stdin.read()))
    except Exception as e:  # the parser raises ValueError and others
        print("metrics-parse: %s" % e, file=sys.stderr)
        return 1
    for f in families:
        print("family", f.name, f.type)
        for s in f.samples:
            labels = ",".join("%s=%s" % (k, s.labels[k])
                              for k in sorted(s.labels))
            print("%s%s %s" % (s.name, "{%s}" % labels if labels else "",
                               number(s.value)))
    return 0


sys.exit(main())
