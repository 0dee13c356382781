"""Per-syscall cost of the default profile against no filter and the smallest possible filter.

    python bench/syscall_cost.py [--quick] [--json]

Compiles bench/syscalls.c with gcc, runs it pinned to one CPU under each filter, interleaving the modes
for several rounds and keeping the minimum. Prints ns/call and the differences to both baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

LOADER = """
import os, sys
sys.path.insert(0, {src!r})
mode, exe, n = sys.argv[1], sys.argv[2], sys.argv[3]
os.sched_setaffinity(0, {{0}})
if mode == "smallest":
    from sysfence import _libseccomp as lib, kernel, syscalls
    f = lib.Filter(lib.ACT_ALLOW); f.set_attr(lib.ATTR_ACT_BADARCH, lib.ACT_KILL_PROCESS)
    kernel.set_no_new_privs(); kernel.load_filter(f.export_bpf(), syscalls.number("seccomp"))
elif mode != "none":
    import sysfence
    sysfence.enable(mode, required=True)
os.execv(exe, [exe, n])
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small N, for CI")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n, rounds = (20000, 2) if args.quick else (300000, 5)
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "syscalls")
        subprocess.run(["gcc", "-O2", "-o", exe, str(HERE / "syscalls.c")], check=True)
        loader = LOADER.format(src=str(HERE.parent / "src"))
        modes = ["none", "smallest", "default"]
        best: dict[str, dict[str, float]] = {m: {} for m in modes}
        for _ in range(rounds):
            for m in modes:
                out = subprocess.run([sys.executable, "-c", loader, m, exe, str(n)], check=True,
                                     capture_output=True, text=True).stdout
                for line in out.splitlines():
                    name, ns = line.split()
                    best[m][name] = min(best[m].get(name, 1e18), float(ns))
    if args.json:
        print(json.dumps({"schema_version": 1, "ns_per_call": best}, indent=2))
        return 0
    print(f"{'syscall':<14}{'none':>8}{'smallest':>10}{'default':>9}{'vs none':>9}{'vs smallest':>13}")
    for name in best["none"]:
        a, b, d = best["none"][name], best["smallest"][name], best["default"][name]
        print(f"{name:<14}{a:>8.1f}{b:>10.1f}{d:>9.1f}{d - a:>+9.1f}{d - b:>+13.1f}")
    print("ns per call, minimum over rounds; differences in ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
