"""Cost of sandboxed calls: calls/second for a trivial function

    python bench/isolate_cost.py [--calls N] [--cold N] [--workers W]

- isolate(): a fresh forkserver worker per call (start, import, filter, call, stop);
- SandboxPool(workers=W): warm filtered workers (profile "strict"), both as sequential round trips
  (submit().result() one at a time) and as throughput (map over N calls);
- concurrent.futures.ProcessPoolExecutor(max_workers=W) with forkserver workers like the pool's, no filter,
  measured the same two ways.
Pools are started and warmed before timing. Goal: the warm pool within 1.2x of ProcessPoolExecutor.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sysfence.sandbox import SandboxPool, isolate  # noqa: E402


def noop(x: int) -> int:
    return x


def _rate(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--cold", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    n, w = a.calls, a.workers

    isolate(noop, 0)  # start the forkserver
    cold = _rate(a.cold, lambda: [isolate(noop, i) for i in range(a.cold)])

    with SandboxPool(workers=w) as pool:
        list(pool.map(noop, range(100)))
        sb_seq = _rate(n, lambda: [pool.submit(noop, i).result() for i in range(n)])
        sb_map = _rate(n, lambda: list(pool.map(noop, range(n))))

    # the start method SandboxPool uses, named: Python 3.14 changed the default on Linux from fork to forkserver
    ctx = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(max_workers=w, mp_context=ctx) as ppe:
        list(ppe.map(noop, range(100)))
        pe_seq = _rate(n, lambda: [ppe.submit(noop, i).result() for i in range(n)])
        pe_map = _rate(n, lambda: list(ppe.map(noop, range(n))))

    print(f"isolate() cold worker per call     {cold:10.1f} calls/s")
    print(f"SandboxPool({w}) sequential          {sb_seq:10.1f} calls/s")
    print(f"ProcessPoolExecutor({w}) sequential  {pe_seq:10.1f} calls/s")
    print(f"SandboxPool({w}) map                 {sb_map:10.1f} calls/s")
    print(f"ProcessPoolExecutor({w}) map         {pe_map:10.1f} calls/s")
    print(f"ratio PPE/pool sequential {pe_seq / sb_seq:.2f}x   map {pe_map / sb_map:.2f}x   "
          f"PPE-seq/cold {pe_seq / cold:.0f}x   (goal: pool within 1.2x)")


if __name__ == "__main__":
    main()
