"""Run every benchmark section, print its table as it finishes, then the goals; optionally write one JSON file.

    .venv/bin/python bench/run.py [--quick] [--json PATH]

Sections, in this order: syscall_cost, instructions, e2e, startup (modules beside this file, each exposing
measure(quick) -> dict and render(result) -> list[str]). A section that crashes is reported with its error and
the others still run; the exit status is then 1. Goals are collected from each result's "goals" list
({"goal": str, "measured": str, "met": bool or None}) and reported, never asserted.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("syscall_cost", "instructions", "e2e", "startup")
SCHEMA_VERSION = 1


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _libseccomp_version() -> str | None:
    """The libseccomp.so.2 the OS provides (what sysfence loads at run time), straight from the library."""

    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return None
    lib.seccomp_version.restype = ctypes.POINTER(Version)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def _installed_sysfence() -> dict[str, str | None]:
    """Version and location of the copy this interpreter has installed (what startup measures), asked of it."""
    code = ("import importlib.metadata as m, sysfence, sys; "
            "print(m.version('sysfence')); print(sysfence.__file__); print(sys.version.split()[0])")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSFENCE", "PYTHON"))}
    py = sys.executable
    with tempfile.TemporaryDirectory() as cwd:
        r = subprocess.run([py, "-c", code], env=env, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0 or len(r.stdout.split("\n")) < 3:
        return {"version": None, "path": None, "python": None, "error": r.stderr.strip()[-500:] or None}
    version, path, pyver = r.stdout.split("\n")[:3]
    return {"version": version, "path": str(Path(path).parent), "python": pyver, "interpreter": py}


def _git() -> dict[str, Any]:
    """The commit measured and whether the tree had uncommitted changes (numbers then describe no commit)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def machine_facts() -> dict[str, Any]:
    """What a reader needs to compare two result files: kernel, CPU, Python, libseccomp, sysfence, date."""
    u = os.uname()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "kernel": u.release,
        "kernel_build": u.version,
        "arch": u.machine,
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "libseccomp": _libseccomp_version(),
        "sysfence": _installed_sysfence(),
        "git": _git(),
    }


def run_section(name: str, quick: bool) -> tuple[dict[str, Any], list[str] | None, str | None]:
    """(result, table, error): a crash anywhere in import, measure, render or serialisation is the section's."""
    try:
        mod = importlib.import_module(name)
        result = mod.measure(quick)
        lines = list(mod.render(result))
        json.dumps(result, allow_nan=False)  # the combined file must be valid JSON
        return result, lines, None
    except Exception as exc:  # any failure of one section is reported, the others still run
        err = f"{type(exc).__name__}: {exc}"
        return {"error": err, "traceback": traceback.format_exc()}, None, err


def collect_goals(sections: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every section's goals tagged with the section, and the sections that report no "goals" list."""
    goals: list[dict[str, Any]] = []
    without: list[str] = []
    for name, result in sections.items():
        if "error" in result:
            continue
        gs = result.get("goals")
        if not isinstance(gs, list):
            without.append(name)
            continue
        for g in gs:
            if not isinstance(g, dict):
                continue
            measured = g.get("measured")
            if not isinstance(measured, str):  # tolerate entries in another shape: show their other fields
                measured = ", ".join(f"{k}={v}" for k, v in g.items() if k not in ("goal", "met"))
            met = g.get("met")
            goals.append({"section": name, "goal": str(g.get("goal", "?")), "measured": measured,
                          "met": met if isinstance(met, bool) else None})
    return goals, without


def render_goals(goals: list[dict[str, Any]], without: list[str]) -> list[str]:
    met = sum(g["met"] is True for g in goals)
    unknown = sum(g["met"] is None for g in goals)
    head = f"goals (reported, not asserted): {met} of {len(goals)} met"
    lines = [head + (f", {unknown} not measurable here" if unknown else "")]
    for g in goals:
        mark = {True: "met ", False: "MISS", None: "n/a "}[g["met"]]
        lines.append(f"  [{mark}] {g['section']:<13} {g['goal']}: {g['measured']}")
    if without:
        lines.append(f"  no 'goals' list in: {', '.join(without)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small N: seconds, for CI; the figures are rough")
    ap.add_argument("--json", metavar="PATH", help="write machine facts and every section's result here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    facts = machine_facts()  # before the sections put src/ on sys.path
    sf = facts["sysfence"]
    print(f"sysfence {sf['version']} ({sf['path']}), libseccomp {facts['libseccomp']}, kernel {facts['kernel']}, "
          f"{facts['cpu_model']} x{facts['cpus']}, python {facts['python']}, {facts['date']}"
          + (", quick mode" if args.quick else ""), flush=True)
    sys.path.insert(0, str(HERE))
    sections: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    failed: list[str] = []
    for name in SECTIONS:
        ts = time.perf_counter()
        result, lines, err = run_section(name, args.quick)
        seconds[name] = round(time.perf_counter() - ts, 3)
        sections[name] = result
        print(f"\n== {name} ({seconds[name]:.1f} s) ==")
        if err is not None:
            failed.append(name)
            print(f"section {name} FAILED: {err}")
            print(result["traceback"], file=sys.stderr, end="")
        else:
            print("\n".join(lines or []))
        sys.stdout.flush()
    goals, without = collect_goals(sections)
    print()
    print("\n".join(render_goals(goals, without)))
    if failed:
        print(f"failed sections: {', '.join(failed)}")
    total = round(time.perf_counter() - t0, 3)
    if args.json:
        combined = {"schema_version": SCHEMA_VERSION, "quick": args.quick, "machine": facts, "sections": sections,
                    "section_seconds": seconds, "failed": failed, "goals": goals, "total_seconds": total}
        Path(args.json).write_text(json.dumps(combined, indent=2) + "\n")
        print(f"results written to {args.json}")
    print(f"total wall time: {total:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
