"""Start-up cost of the sysfence.pth hook: `python -c pass` with and without sysfence installed.

    python bench/startup.py [--runs N] [--json]

Baseline: a fresh virtualenv on the same base interpreter without sysfence. Compared with: a second fresh
virtualenv holding exactly what installing sysfence puts in site-packages (the package, its dist-info and
sysfence.pth, copied from .venv), with no SYSFENCE variable set; the same with a filter asked for
(SYSFENCE_PROFILE=default: import, compile, load); and the hook's .pth line alone, timed in-process.
Runs are interleaved and the median kept, so a busy machine shifts both sides alike.
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
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSFENCE", "PYTHON"))}
    env.update(extra)
    return env


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not VENV_PY.exists():
        sys.exit(f"{VENV_PY} missing: run sh scripts/setup.sh first")
    pth = next(Path(p) for p in subprocess.run(
        [str(VENV_PY), "-c", "import site; print('\\n'.join(site.getsitepackages()))"],
        capture_output=True, text=True, check=True).stdout.split() if (Path(p) / "sysfence.pth").exists())
    line = (pth / "sysfence.pth").read_text().strip()
    with tempfile.TemporaryDirectory() as d:
        base = subprocess.run([str(VENV_PY), "-c", "import sys; print(sys._base_executable)"],
                              capture_output=True, text=True, check=True).stdout.strip()
        bare, with_sf = Path(d) / "bare", Path(d) / "with"
        for v in (bare, with_sf):
            subprocess.run([base, "-m", "venv", "--without-pip", str(v)], check=True)
        site = next((with_sf / "lib").glob("python3*/site-packages"))
        shutil.copytree(pth / "sysfence", site / "sysfence", ignore=shutil.ignore_patterns("__pycache__"))
        for dist in pth.glob("sysfence-*.dist-info"):
            shutil.copytree(dist, site / dist.name)
        shutil.copy2(pth / "sysfence.pth", site / "sysfence.pth")
        py_bare, py_with = str(bare / "bin" / "python"), str(with_sf / "bin" / "python")
        cases = {
            "without sysfence": ([py_bare, "-c", "pass"], _clean_env()),
            "with sysfence (hook idle)": ([py_with, "-c", "pass"], _clean_env()),
            "with SYSFENCE_PROFILE=default": ([py_with, "-c", "pass"], _clean_env(SYSFENCE_PROFILE="default")),
        }
        for cmd, env in cases.values():  # warm the page cache
            _time(cmd, env)
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for k, (cmd, env) in cases.items():
                samples[k].append(_time(cmd, env))
    med = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    env = _clean_env()
    ns = {"os": os}
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(env)
    try:
        n = 100_000
        line_us = timeit.timeit(line, globals=ns, number=n) / n * 1e6
    finally:
        os.environ.clear()
        os.environ.update(saved)
    base_ms = med["without sysfence"]
    result = {
        "runs": args.runs,
        "median_ms": {k: round(v, 3) for k, v in med.items()},
        "ratio_vs_without": {k: round(v / base_ms, 4) for k, v in med.items()},
        "pth_line_us": round(line_us, 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"python -c pass, median of {args.runs} interleaved runs:")
    for k, v in med.items():
        print(f"  {k:<32} {v:8.2f} ms   x{v / base_ms:.3f}")
    print(f"  the .pth line alone (no variable set, no policy file): {line_us:.2f} us per start")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
