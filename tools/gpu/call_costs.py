#!/usr/bin/env python3
r"""Time each intercepted call of a program, per umshim mode, from the shim's own trace.

    python3 tools/gpu/call_costs.py [--runs N] [--modes M,M...] [--by-site] \
        --shim libumshim.so -- PROGRAM ARGS...

Runs PROGRAM under LD_PRELOAD with UMSHIM_TRACE in each mode (passthrough and auto by
default), interleaved, N runs each, and prints per event kind and call name: how many calls
a run makes, and the median and 90th percentile of `dur` (microseconds the call spent inside
the shim, the driver's work included) over all runs; --by-site: per call site too (e.g. a
program's two read-backs apart, one of which waits for a kernel). Tracing is on in every
mode, so its own cost (the same in each) cancels in the differences; what differs between
the columns is what the mode does around the driver's call. Used to find where auto's time per call goes (a
demo batch is one H2D, two launches and two D2H: see README, "Measured results").
"""
import argparse
import collections
import os
import re
import statistics
import subprocess
import sys
import tempfile

LINE = re.compile(r"^(\w+) t=(\d+) dur=(\d+) .*?name=(\S+)(?:.* site=(\S+))?")


def one(cmd, shim, mode, path, by_site):
    env = dict(os.environ, LD_PRELOAD=shim, UMSHIM_MODE=mode, UMSHIM_TRACE=path)
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if p.returncode != 0:
        raise SystemExit(f"call_costs: {' '.join(cmd)} exited {p.returncode} in {mode}")
    durs = collections.defaultdict(list)
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                name = m.group(4) + ("@" + (m.group(5) or "?") if by_site else "")
                durs[(m.group(1), name)].append(int(m.group(3)) / 1e3)
    os.unlink(path)
    return durs


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="passthrough,auto")
    ap.add_argument("--by-site", action="store_true")
    ap.add_argument("--shim", required=True)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or a.runs < 1:
        ap.error("no program given (after --), or --runs < 1")
    modes = a.modes.split(",")
    all_durs = {m: collections.defaultdict(list) for m in modes}
    tmp = tempfile.mkdtemp()
    for r in range(a.runs):
        for i in range(len(modes)):
            mode = modes[(i + r) % len(modes)]
            for k, v in one(cmd, a.shim, mode, os.path.join(tmp, "trace"), a.by_site).items():
                all_durs[mode][k].extend(v)
    os.rmdir(tmp)
    keys = sorted({k for m in modes for k in all_durs[m]})
    print(f"per-call time inside the shim (us; median / p90 over {a.runs} runs per mode): "
          f"{' '.join(cmd)}")
    w = max([34] + [len(k[1]) + 1 for k in keys])
    print(f"{'event':<10}{'name':<{w}}" + "".join(f"{m + ' n/run':>18}{'med':>9}{'p90':>9}"
                                              for m in modes))
    for k in keys:
        row = f"{k[0]:<10}{k[1]:<{w}}"
        for m in modes:
            v = all_durs[m].get(k, [])
            row += (f"{len(v) / a.runs:18.1f}{statistics.median(v):9.2f}{pct(v, 0.9):9.2f}"
                    if v else f"{'-':>18}{'-':>9}{'-':>9}")
        print(row)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
