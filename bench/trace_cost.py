"""What tracing costs: a syscall-heavy C loop run plain, under `sysfence trace --audit`, `sysfence learn`
and `strace -f`.

    python bench/trace_cost.py [--n N] [--rounds R] [--json]

The loop is bench/syscalls.c (getppid, read, write, futex, clock_gettime, ioctl, openat+close; 5 batches of
N each). Under trace --audit with the default profile every one of those calls is allowed, so none reaches
the supervisor: the cost is the filter alone. Under learn the base (runtime, stdio, memory) does not cover
getppid, clock_gettime, openat and most ioctls, so those do reach the supervisor: the worst case, reported
honestly. Wall time of the whole run, median of R interleaved rounds; sysfence's own start (~0.1 s of
Python) is measured separately with `true` and subtracted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable


ENV = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}  # this tree, not an older install


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        exe = str(Path(d) / "syscalls")
        subprocess.run(["gcc", "-O2", "-o", exe, str(HERE / "syscalls.c")], check=True)
        loop = [exe, str(args.n)]
        sf = [PY, "-m", "sysfence"]
        cases: dict[str, tuple[list[str], list[str]]] = {
            "plain": (loop, ["true"]),
            "sysfence trace --audit": (sf + ["trace", "--audit", "--"] + loop, sf + ["trace", "--audit", "--", "true"]),
            "sysfence learn": (sf + ["learn", "-o", str(Path(d) / "l.toml"), "--"] + loop,
                               sf + ["learn", "-o", str(Path(d) / "l.toml"), "--", "true"]),
        }
        if shutil.which("strace"):
            cases["strace -f"] = (["strace", "-f", "-qq", "-o", "/dev/null"] + loop,
                                  ["strace", "-f", "-qq", "-o", "/dev/null", "true"])
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for k, (cmd, empty) in cases.items():
                samples[k].append(_time(cmd) - (_time(empty) if k != "plain" else 0.0))
    med = {k: statistics.median(v) for k, v in samples.items()}
    base = med["plain"]
    calls = 7 * 5 * args.n + 5 * args.n  # openat+close is two calls
    result = {"calls": calls, "seconds": {k: round(v, 4) for k, v in med.items()},
              "ratio_vs_plain": {k: round(v / base, 3) for k, v in med.items()},
              "strace": bool(shutil.which("strace"))}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{calls} syscalls, median of {args.rounds} interleaved rounds (start-up of each tool subtracted):")
    for k, v in med.items():
        print(f"  {k:<24} {v * 1e3:9.1f} ms   x{v / base:.2f}")
    if "strace -f" not in med:
        print("  (strace not installed: apt-get install strace)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
