#!/usr/bin/env python3
"""Summarise bench/handoff.sh output (stdin) per build over every round.

For each build and phase kind (quiet, join, leave): the median and range
of the p99 / quiet p99 ratio, of the absolute p99 and max, of the time
until the cluster settled, and of the longest single transfer; then, for
each pair of builds and each change, how often the first build's p99 was
below the second's (Mann-Whitney U / n1 n2) and the two-sided p value of
that rank test (normal approximation). Builds are told apart by their
"## label, round N" header; rename labels with sed to pool runs.

    bench/handoff.sh ... | tee out.md; bench/handoff_summary.py < out.md
"""
import itertools
import math
import re
import statistics
import sys

build = None
data = {}  # (build, kind) -> {field: [values]}
builds = []
for line in sys.stdin:
    if line.startswith("## "):
        build = re.sub(r", round \d+.*", "", line[3:].strip())
        if build not in builds:
            builds.append(build)
        continue
    if not line.startswith("| quiet") and not line.startswith("| join") and not line.startswith("| leave"):
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    kind = cells[0].split()[0]
    d = data.setdefault((build, kind), {})
    d.setdefault("p99 ms", []).append(float(cells[3]))
    d.setdefault("max ms", []).append(float(cells[4]))
    if kind != "quiet":
        d.setdefault("p99/quiet", []).append(float(cells[5]))
        d.setdefault("settled s", []).append(float(cells[6].split()[0]))
        d.setdefault("longest transfer ms", []).append(float(cells[11].split()[0]))


def cell(v):
    return f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})" if v else "–"


fields = ["p99 ms", "max ms", "p99/quiet", "settled s", "longest transfer ms"]
print("| build | phase | n | " + " | ".join(f + ", median (range)" for f in fields) + " |")
print("|---|---|---|" + "---|" * len(fields))
for kind in ("quiet", "join", "leave"):
    for b in builds:
        d = data.get((b, kind))
        if d:
            print(f"| {b} | {kind} | {len(d['p99 ms'])} | " + " | ".join(cell(d.get(f, [])) for f in fields) + " |")


def ranktest(x, y):
    """P(x < y) estimated as U / (n1 n2), and the two-sided p value."""
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(pooled)
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    n1, n2 = len(x), len(y)
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2  # pairs where x > y
    z = (u - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    return 1 - u / (n1 * n2), math.erfc(abs(z) / math.sqrt(2))


print()
for kind in ("join", "leave"):
    for a, b in itertools.combinations(builds, 2):
        x, y = data.get((a, kind)), data.get((b, kind))
        if not x or not y:
            continue
        for f in ("p99 ms", "p99/quiet"):
            p_less, p = ranktest(x[f], y[f])
            print(f"{kind} {f}: P({a} < {b}) = {p_less:.2f}, p = {p:.3f} (n = {len(x[f])}, {len(y[f])})")
