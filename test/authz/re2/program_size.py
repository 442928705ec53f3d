"""Reads a JSON list of regexes on stdin; prints a JSON list of [program_size, matches] per regex,
where matches lists, for each probe string given, whether RE2 fully matches it. Uses google-re2,
the Python binding of the RE2 library Envoy links, so the sizes are RE2's own."""
import json
import sys

import re2

cases = json.load(sys.stdin)
out = []
for case in cases:
    r = re2.compile(case["regex"])
    out.append({"size": r.programsize, "matches": [r.fullmatch(p) is not None for p in case["probes"]]})
json.dump(out, sys.stdout)
