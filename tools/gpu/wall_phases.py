#!/usr/bin/env python3
r"""Where a program's wall time goes, per umshim variant, on the GPU machine.

    python3 tools/gpu/wall_phases.py [--runs N] [--variant NAME:K=V,...]... [--field REGEX]
                                     [--exit-mark] --shim libumshim.so -- PROGRAM ARGS...

Runs PROGRAM without the shim and under several shim variants, interleaved round by round
(the order rotates), N runs each. Stdout is a terminal, so each line is timestamped as the
program prints it, and each run splits into: start (spawn to the first line: process and CUDA
start-up plus whatever the program does before printing), body (first to last line) and exit
(last line to the exit status: teardown, where the shim's exit handlers, the staging engine's
shutdown and the driver's own teardown run). Prints the median of each part per variant,
and of the run's CPU time (user and system, all its threads).
The program should print a line early and one just before it returns (recall_demo does:
per-batch lines, then its timing line).

--variant replaces the built-in variants (repeat it; "no-shim" alone means no LD_PRELOAD;
K=V pairs are the UMSHIM_* environment of that variant). --field adds a column: the median of
the first number a regular expression's group 1 captures in the program's output (e.g.
'upload\+norms ([0-9.]+) ms' for recall_demo's upload time). --exit-mark runs the shim variants
with UMSHIM_LOG=debug and splits their exit at the shim's first exit handler: the program's
last line to the handler (the program's own frees and exit handlers), and the handler to the
exit status (the shim's handlers, the staging engine's shutdown, the CUDA runtime's exit
handlers and the driver's teardown).
"""
import argparse
import os
import pty
import re
import statistics
import subprocess
import sys
import time

VARIANTS = [
    ("no-shim", None),
    ("passthrough", {"UMSHIM_MODE": "passthrough"}),
    ("passthrough staging=1", {"UMSHIM_MODE": "passthrough", "UMSHIM_STAGING": "1"}),
    ("auto", {"UMSHIM_MODE": "auto"}),
    ("auto staging=0", {"UMSHIM_MODE": "auto", "UMSHIM_STAGING": "0"}),
    ("auto nothing managed", {"UMSHIM_MODE": "auto", "UMSHIM_MANAGED_THRESHOLD": "1T"}),
]


# The start of the shim's first exit handler (shim/entry.c: um_exit_early, else um_fini).
MARK = b"exit: the shim's "


def one(cmd, shim, extra, exit_mark=False):
    env = dict(os.environ)
    if extra is not None:
        env["LD_PRELOAD"] = shim
        env.update(extra)
        if exit_mark:
            env["UMSHIM_LOG"] = "debug"
    # stdout (and stderr, for the shim's lines) on a terminal, so stdio flushes each line as
    # the program prints it.
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=slave, stderr=slave if exit_mark else subprocess.DEVNULL,
                         env=env)
    os.close(slave)
    first = last = mark = None
    t = 0.0
    out = b""
    pending = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the program closed the terminal (exited)
            break
        if not chunk:
            break
        t = time.perf_counter() - t0
        out += chunk
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line.startswith(b"umshim:"):  # the shim's own lines are not the program's
                if MARK in line and mark is None:
                    mark = t
                continue
            first = t if first is None else first
            last = t
    os.close(master)
    if pending and not pending.startswith(b"umshim:"):  # a last line without its newline
        first = t if first is None else first
        last = t
    # wait4 for the run's CPU time too: the program's user and system time, its own threads
    # (the shim's pool, the driver's) included.
    _, status, ru = os.wait4(p.pid, 0)
    end = time.perf_counter() - t0
    rc = p.returncode = os.waitstatus_to_exitcode(status)
    if rc != 0 or first is None:
        raise SystemExit(f"wall_phases: {' '.join(cmd)} exited {rc}" +
                         (" without output" if first is None else ""))
    split = (mark - last, end - mark) if mark is not None and mark >= last else None
    return ((first, last - first, end - last, end, ru.ru_utime, ru.ru_stime), split,
            out.decode(errors="replace"))


def parse_variant(text):
    name, _, pairs = text.partition(":")
    if name == "no-shim":
        return name, None
    env = {}
    for pair in filter(None, pairs.split(",")):
        k, eq, v = pair.partition("=")
        if not eq:
            raise argparse.ArgumentTypeError(f"{pair!r} is not K=V")
        env[k] = v
    return name, env


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--variant", type=parse_variant, action="append", default=[])
    ap.add_argument("--field", type=re.compile)
    ap.add_argument("--exit-mark", action="store_true")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no program given (after --)")
    variants = a.variant or VARIANTS
    res = {name: [] for name, _ in variants}
    field = {name: [] for name, _ in variants}
    split = {name: [] for name, _ in variants}
    one(cmd, a.shim, None)  # warm-up: file cache, driver load
    for r in range(a.runs):
        for i in range(len(variants)):
            name, extra = variants[(i + r) % len(variants)]
            times, marks, out = one(cmd, a.shim, extra, a.exit_mark)
            res[name].append(times)
            if marks:
                split[name].append(marks)
            m = a.field.search(out) if a.field else None
            if m:
                field[name].append(float(m.group(1)))
    print(f"median of {a.runs} interleaved runs, ms: {' '.join(cmd)}")
    heads = ("start", "body", "exit", "wall")
    print(f"{'variant':<22}" + "".join(f"{h:>9}" for h in heads) +
          f"{'wall min':>10}{'wall max':>10}{'user':>8}{'sys':>8}" +
          ("     field" if a.field else "") +
          (f"{'to handler':>11}{'after':>9}" if a.exit_mark else ""))
    for name, _ in variants:
        cols = list(zip(*res[name]))
        med = [statistics.median(c) * 1e3 for c in cols]
        extra = ""
        if a.field:
            extra = f"{statistics.median(field[name]):10.2f}" if field[name] else f"{'-':>10}"
        if a.exit_mark:
            sp = list(zip(*split[name]))
            extra += ("".join(f"{statistics.median(c) * 1e3:{w}.1f}" for c, w in zip(sp, (11, 9)))
                      if sp else f"{'-':>11}{'-':>9}")
        print(f"{name:<22}" + "".join(f"{v:9.1f}" for v in med[:4]) +
              f"{min(cols[3]) * 1e3:10.1f}{max(cols[3]) * 1e3:10.1f}" +
              "".join(f"{v:8.1f}" for v in med[4:]) + extra)
    print("user, sys: the program's CPU time (all its threads), medians")
    if a.exit_mark:
        print("exit split at the shim's first exit handler (UMSHIM_LOG=debug): the program's "
              "last line to the handler (its own frees and exit handlers), the handler to the "
              "exit status (the shim's handlers, the CUDA runtime's and the driver's teardown)")
    if a.field:
        print(f"field: median of {a.field.pattern!r} in the output")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
