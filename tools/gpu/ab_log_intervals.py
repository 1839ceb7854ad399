#!/usr/bin/env python3
r"""Paired ratios with 95% intervals from the progress lines of saved `umshim ab` logs.

    python3 tools/gpu/ab_log_intervals.py LOG...

For logs written before `umshim ab` printed its "paired, 95% interval" line (tools/ab.c,
um_ab_paired_ratio): reads each "umshim ab -- PROGRAM" section's progress lines
("[i/N] MODE run R/N ... T ms"), pairs every mode's run with passthrough's of the same round,
and prints per mode the median ratio and the distribution-free 95% interval of it (the sign
test's order statistics, as umshim ab computes them).
"""
import math
import re
import sys

SECTION = re.compile(r"^##### umshim ab -- (.*)$")
RUN = re.compile(r"^umshim ab: \[\d+/\d+\] (\w+)\s+run (\d+)/\d+ \.\.\. ([0-9.]+) (ms|s)$")


def rank(n):
    """Largest k with P(X < k) <= 0.025, X ~ Binomial(n, 1/2); 0 when none."""
    cum, k = 0.0, 0
    for i in range(n):
        p = math.comb(n, i) / 2.0 ** n
        if cum + p > 0.025:
            break
        cum += p
        k = i + 1
    return k


def median(v):
    v = sorted(v)
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def report(name, runs):
    base = runs.get("passthrough", {})
    cells = []
    for mode in ("managed", "prefetch", "auto"):
        r = sorted(t / base[k] for k, t in runs.get(mode, {}).items() if k in base)
        if not r:
            continue
        c = rank(len(r))
        span = f"{r[c - 1]:.2f}-{r[len(r) - c]:.2f}x" if c else "n<6"
        cells.append(f"{mode} {median(r):.2f}x ({span}, {len(r)} pairs)")
    print(f"{name}: " + "; ".join(cells))


def main(paths):
    for path in paths:
        print(f"== {path}")
        name, runs = None, {}
        with open(path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                m = SECTION.match(line)
                if m:
                    if name and runs:
                        report(name, runs)
                    name, runs = m.group(1), {}
                    continue
                m = RUN.match(line)
                if m and name:
                    t = float(m.group(3)) * (1e-3 if m.group(4) == "ms" else 1.0)
                    runs.setdefault(m.group(1), {})[int(m.group(2))] = t
        if name and runs:
            report(name, runs)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
