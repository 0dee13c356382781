"""Start-up cost of sysfence: `import sysfence`, `sysfence.enable()`, `sysfence run -- true`, and the .pth hook.

    python bench/startup.py [--quick] [--json] [--runs N]

Everything runs the copy installed in the environment of the interpreter running the bench (.venv, as the
README runs it: reinstall after changing src/; an editable install has no precompiled programs, so it is
refused), from a fresh temporary working directory (project files are searched from the cwd up) with no
SYSFENCE*/PYTHON* variables:

- in a child: `import sysfence` and then `sysfence.enable()` (embedded default profile), each timed inside a
  fresh interpreter of that environment with time.perf_counter(), so interpreter start-up is excluded; median
  over children;
- whole commands: `sysfence run -- true` against `python -c pass` (same virtualenv), bare `true`, and
  `firejail --noprofile --seccomp true` (reported as missing, or with its exact error, when it cannot run);
- the hook: `python -c pass` in a fresh virtualenv without sysfence, against one holding exactly what installing
  sysfence puts in site-packages (idle: no variable set; and with SYSFENCE_PROFILE=default), plus the .pth
  line alone, timed in-process.

Runs of one comparison are interleaved (order rotated each round) and the median kept, so a busy machine shifts
every case alike. Each comparison stops early at a time budget, so full mode stays well under a minute however
slow sysfence is today. Goals are reported, never asserted.

Also imported by bench/run.py: measure(quick) -> dict, render(result) -> list[str].
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The environment measured: the one running the bench (not resolved: a virtualenv's python is a symlink).
VENV_PY = Path(sys.executable)
VENV_BIN = VENV_PY.parent
VENV_SYSFENCE = VENV_BIN / "sysfence"

SCHEMA_VERSION = 1
FIREJAIL_MISSING = "firejail not installed (apt-get install firejail)"
GOAL_IMPORT_MS = 5.0
GOAL_ENABLE_MS = 0.5
GOAL_VS_PYTHON = 1.4
GOAL_VS_FIREJAIL = 0.5

# (rounds, time budget in seconds) per comparison; a comparison stops at whichever comes first, after at least
# MIN_ROUNDS rounds. Full mode: about 15 + 12 + 20 s at most, plus set-up.
FULL = {"hook": (100, 15.0), "child": (150, 12.0), "commands": (100, 20.0)}
QUICK = {"hook": (5, 2.0), "child": (5, 2.0), "commands": (5, 3.0)}
MIN_ROUNDS = 5

CHILD = """\
import sys, time
preloaded = "sysfence" in sys.modules
t0 = time.perf_counter()
import sysfence
t1 = time.perf_counter()
st = sysfence.enable()
t2 = time.perf_counter()
import json
print(json.dumps({"import": t1 - t0, "enable": t2 - t1, "preloaded": preloaded, "enforcing": st.enforcing,
                  "status": str(st), "filters": st.filters}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without SYSFENCE*/PYTHON* variables, which would change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSFENCE", "PYTHON"))}
    env.update(extra)
    return env


def _time(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    """Wall time of one command in seconds; a failing command is an error, not a fast sample."""
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
    return dt


def _stats_ms(samples: list[float]) -> dict[str, float]:
    """Median (the figure reported), minimum and 90th percentile of samples in seconds, as milliseconds."""
    ms = sorted(s * 1e3 for s in samples)
    p90 = statistics.quantiles(ms, n=10)[-1] if len(ms) >= 2 else ms[0]
    return {"median": round(statistics.median(ms), 4), "min": round(ms[0], 4), "p90": round(p90, 4)}


def _rounds(n: int, budget: float, one_round: Callable[[int], None]) -> int:
    """Run up to n rounds, stopping early once the time budget is spent; returns how many ran."""
    start = time.perf_counter()
    done = 0
    while done < n and (done < MIN_ROUNDS or time.perf_counter() - start < budget):
        one_round(done)
        done += 1
    return done


def _seccomp_line(cmd: list[str], env: dict[str, str], cwd: str) -> str:
    """`Seccomp/filters/NoNewPrivs` of the command's process, so a comparison proves a filter was loaded."""
    r = subprocess.run([*cmd, "/bin/cat", "/proc/self/status"], env=env, cwd=cwd, capture_output=True, text=True)
    f = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
    get = lambda k: f.get(k, "?").strip()  # noqa: E731
    return f"Seccomp {get('Seccomp')}, {get('Seccomp_filters')} filter(s), NoNewPrivs {get('NoNewPrivs')}"


def firejail_probe(path: str | None, env: dict[str, str], cwd: str) -> dict[str, Any]:
    """Whether firejail runs here: status ok / missing / error, with the exact error (containers may refuse)."""
    if path is None:
        return {"status": "missing", "detail": FIREJAIL_MISSING, "version": None, "path": None}
    try:
        v = subprocess.run([path, "--version"], env=env, cwd=cwd, capture_output=True, text=True, timeout=30)
        version = (v.stdout.strip().splitlines() or [""])[0] or None
        r = subprocess.run([path, "--noprofile", "--seccomp", "true"], env=env, cwd=cwd, capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}", "version": None, "path": path}
    if r.returncode != 0:
        err = (r.stderr.strip() or r.stdout.strip() or "(no output)")[-2000:]
        return {"status": "error", "detail": f"exit {r.returncode}: {err}", "version": version, "path": path}
    return {"status": "ok", "detail": None, "version": version, "path": path}


def measure_child(n: int, budget: float, cwd: str) -> dict[str, Any]:
    """`import sysfence` and `sysfence.enable()` timed inside fresh .venv interpreters."""
    env = clean_env()
    imports: list[float] = []
    enables: list[float] = []
    last: dict[str, Any] = {}

    def one(_i: int) -> None:
        nonlocal last
        r = subprocess.run([str(VENV_PY), "-c", CHILD], env=env, cwd=cwd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"import/enable child exited {r.returncode}: {r.stderr.strip()[-2000:]}")
        last = json.loads(r.stdout.splitlines()[-1])
        if not last["enforcing"] or last["preloaded"]:
            raise RuntimeError(f"child did not measure a cold import plus a loaded filter: {last}")
        imports.append(last["import"])
        enables.append(last["enable"])

    runs = _rounds(n, budget, one)
    return {"runs": runs, "import_ms": _stats_ms(imports), "enable_ms": _stats_ms(enables),
            "status": last["status"], "filters": last["filters"]}


def measure_commands(n: int, budget: float, cwd: str, firejail: str | None) -> dict[str, Any]:
    """`sysfence run -- true` against `python -c pass`, `true` and firejail: interleaved, rotated, medians."""
    env = clean_env()
    cases: dict[str, list[str]] = {
        "true": ["/bin/true"],
        "python -c pass": [str(VENV_PY), "-c", "pass"],
        "sysfence run -- true": [str(VENV_SYSFENCE), "run", "--", "/bin/true"],
    }
    fj = firejail_probe(firejail, env, cwd)
    fj_name = "firejail --noprofile --seccomp true"
    if fj["status"] == "ok":
        cases[fj_name] = [str(firejail), "--noprofile", "--seccomp", "/bin/true"]
    seccomp = {"sysfence run -- true": _seccomp_line([str(VENV_SYSFENCE), "run", "--"], env, cwd)}
    if fj["status"] == "ok":
        seccomp[fj_name] = _seccomp_line([str(firejail), "--noprofile", "--seccomp"], env, cwd)
    for cmd in cases.values():  # warm the page cache
        _time(cmd, env, cwd)
    samples: dict[str, list[float]] = {k: [] for k in cases}
    names = list(cases)

    def one(i: int) -> None:
        for k in names[i % len(names):] + names[: i % len(names)]:
            samples[k].append(_time(cases[k], env, cwd))

    runs = _rounds(n, budget, one)
    stats = {k: _stats_ms(v) for k, v in samples.items()}
    median: dict[str, float | None] = {k: s["median"] for k, s in stats.items()}
    median.setdefault(fj_name, None)
    py = stats["python -c pass"]["median"]
    sf = stats["sysfence run -- true"]["median"]
    fj_ms = median[fj_name]
    return {
        "runs": runs,
        "cmd": {k: " ".join(v) for k, v in cases.items()},
        "median_ms": median,
        "min_ms": {k: s["min"] for k, s in stats.items()},
        "p90_ms": {k: s["p90"] for k, s in stats.items()},
        "vs_python": {k: (round(v / py, 4) if v is not None else None) for k, v in median.items()},
        "sysfence_vs_firejail": round(sf / fj_ms, 4) if fj_ms else None,
        "firejail": fj,
        "seccomp": seccomp,
    }


def _site_packages_with_pth() -> Path:
    out = subprocess.run([str(VENV_PY), "-c", "import site; print('\\n'.join(site.getsitepackages()))"],
                         capture_output=True, text=True, check=True).stdout.split()
    for p in out:
        if (Path(p) / "sysfence.pth").exists():
            return Path(p)
    raise RuntimeError(f"no sysfence.pth in {VENV_PY}'s site-packages: install sysfence into its environment first")


def measure_hook(n: int, budget: float, cwd: str) -> dict[str, Any]:
    """`python -c pass` in a fresh virtualenv without sysfence vs one with exactly its installed files."""
    pth = _site_packages_with_pth()
    line = (pth / "sysfence.pth").read_text().strip()
    with tempfile.TemporaryDirectory(prefix="sysfence-bench-venvs-") as d:
        base = subprocess.run([str(VENV_PY), "-c", "import sys; print(sys._base_executable)"],
                              capture_output=True, text=True, check=True).stdout.strip()
        bare, with_sf = Path(d) / "bare", Path(d) / "with"
        for v in (bare, with_sf):
            subprocess.run([base, "-m", "venv", "--without-pip", str(v)], check=True)
        site = next((with_sf / "lib").glob("python3*/site-packages"))
        if not (pth / "sysfence").is_dir():
            raise RuntimeError(f"sysfence is installed editable for {VENV_PY} (no {pth}/sysfence): the start-up "
                               "figures need a normal install (pip install .)")
        shutil.copytree(pth / "sysfence", site / "sysfence", ignore=shutil.ignore_patterns("__pycache__"))
        for dist in pth.glob("sysfence-*.dist-info"):
            shutil.copytree(dist, site / dist.name)
        shutil.copy2(pth / "sysfence.pth", site / "sysfence.pth")
        py_bare, py_with = str(bare / "bin" / "python"), str(with_sf / "bin" / "python")
        cases = {
            "without sysfence": ([py_bare, "-c", "pass"], clean_env()),
            "with sysfence (hook idle)": ([py_with, "-c", "pass"], clean_env()),
            "with SYSFENCE_PROFILE=default": ([py_with, "-c", "pass"], clean_env(SYSFENCE_PROFILE="default")),
        }
        for cmd, env in cases.values():  # warm the page cache (and write the copied package's bytecode)
            _time(cmd, env, cwd)
        samples: dict[str, list[float]] = {k: [] for k in cases}
        names = list(cases)

        def one(i: int) -> None:
            for k in names[i % len(names):] + names[: i % len(names)]:
                cmd, env = cases[k]
                samples[k].append(_time(cmd, env, cwd))

        runs = _rounds(n, budget, one)
    med = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(clean_env())
    try:
        k = 100_000
        line_us = timeit.timeit(line, globals={"os": os}, number=k) / k * 1e6
    finally:
        os.environ.clear()
        os.environ.update(saved)
    base_ms = med["without sysfence"]
    return {
        "runs": runs,
        "median_ms": {k: round(v, 4) for k, v in med.items()},
        "ratio_vs_without": {k: round(v / base_ms, 4) for k, v in med.items()},
        "pth_line_us": round(line_us, 4),
    }


def _goals(child: dict[str, Any], commands: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's start-up goals against today's figures; firejail's is unknown (met None) when it cannot run."""
    imp, en = child["import_ms"]["median"], child["enable_ms"]["median"]
    med = commands["median_ms"]
    sf, py = med["sysfence run -- true"], med["python -c pass"]
    ratio = commands["vs_python"]["sysfence run -- true"]
    goals: list[dict[str, Any]] = [
        {"goal": f"import sysfence <= {GOAL_IMPORT_MS:g} ms", "measured": f"{imp:.2f} ms",
         "met": imp <= GOAL_IMPORT_MS},
        {"goal": f"sysfence.enable() <= {GOAL_ENABLE_MS:g} ms", "measured": f"{en:.3f} ms",
         "met": en <= GOAL_ENABLE_MS},
        {"goal": f"sysfence run -- true <= {GOAL_VS_PYTHON:g}x python -c pass",
         "measured": f"x{ratio:.2f} ({sf:.1f} vs {py:.1f} ms)", "met": ratio <= GOAL_VS_PYTHON},
    ]
    fj = commands["firejail"]
    vs_fj = commands["sysfence_vs_firejail"]
    goal = f"sysfence run -- true <= {GOAL_VS_FIREJAIL:g}x firejail --noprofile --seccomp true"
    if vs_fj is None:
        goals.append({"goal": goal, "measured": f"n/a: {_firejail_note(fj)}", "met": None})
    else:
        fj_ms = med["firejail --noprofile --seccomp true"]
        goals.append({"goal": goal, "measured": f"x{vs_fj:.2f} ({sf:.1f} vs {fj_ms:.1f} ms)",
                      "met": vs_fj <= GOAL_VS_FIREJAIL})
    return goals


def _firejail_note(fj: dict[str, Any]) -> str:
    if fj["status"] == "missing":
        return FIREJAIL_MISSING
    return "firejail cannot run here: " + " | ".join(str(fj["detail"]).splitlines())  # one table line


def measure(quick: bool = False, runs: int | None = None) -> dict[str, Any]:
    """All start-up figures as one JSON-serialisable dict; `runs` overrides the rounds of every comparison."""
    for p in (VENV_PY, VENV_SYSFENCE):
        if not p.exists():
            raise RuntimeError(f"{p} missing: run the bench with the python of an environment where sysfence is "
                               "installed (sh scripts/setup.sh makes .venv)")
    plan = {k: (runs or n, budget if runs is None else float("inf")) for k, (n, budget) in
            (QUICK if quick else FULL).items()}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sysfence-bench-cwd-") as cwd:
        child = measure_child(*plan["child"], cwd)
        commands = measure_commands(*plan["commands"], cwd, shutil.which("firejail"))
        hook = measure_hook(*plan["hook"], cwd)
    return {
        "schema_version": SCHEMA_VERSION,
        "params": {"quick": quick, "python": str(VENV_PY), "sysfence": str(VENV_SYSFENCE),
                   "rounds": {k: n for k, (n, _) in plan.items()},
                   "budget_s": {k: b for k, (_, b) in plan.items() if b != float("inf")}},
        "child": child,
        "commands": commands,
        "hook": hook,
        "goals": _goals(child, commands),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def render(result: dict[str, Any]) -> list[str]:
    """A plain-text table of `measure`'s result, with a title."""
    ch, cm, hk = result["child"], result["commands"], result["hook"]
    lines = [f"start-up cost ({result['params']['python']}, clean environment, temp cwd; medians; "
             f"{result['seconds']:.1f} s)", ""]
    head = f"in a fresh interpreter, timed inside it ({ch['runs']} children), ms"
    lines.append(f"  {head:<60} {'median':>8} {'min':>8} {'p90':>8}   goal")
    for key, label, goal in (("import_ms", "import sysfence", GOAL_IMPORT_MS),
                             ("enable_ms", "sysfence.enable() (embedded default)", GOAL_ENABLE_MS)):
        s = ch[key]
        lines.append(f"    {label:<58} {s['median']:8.3f} {s['min']:8.3f} {s['p90']:8.3f}   <= {goal:g} ms")
    lines.append(f"    child's status: {ch['status']}, {ch['filters']} filter(s)")
    head = f"whole commands ({cm['runs']} interleaved rounds), ms"
    lines += ["", f"  {head:<60} {'median':>8}   vs python -c pass"]
    for name, ms in cm["median_ms"].items():
        if ms is None:
            lines.append(f"    {name:<58} {'-':>8}   {_firejail_note(cm['firejail'])}")
        else:
            lines.append(f"    {name:<58} {ms:8.2f}   x{cm['vs_python'][name]:.3f}")
    vs_fj = cm["sysfence_vs_firejail"]
    shown = f"x{vs_fj:.3f}" if vs_fj is not None else "n/a"
    lines.append(f"    sysfence run -- true vs firejail: {shown}   (goal <= {GOAL_VS_FIREJAIL:g}x; "
                 f"vs python -c pass goal <= {GOAL_VS_PYTHON:g}x)")
    for name, line in cm["seccomp"].items():
        lines.append(f"    {name}: {line}")
    head = f"python -c pass, start-up hook ({hk['runs']} interleaved rounds), ms"
    lines += ["", f"  {head:<60} {'median':>8}   vs without"]
    for name, ms in hk["median_ms"].items():
        lines.append(f"    {name:<58} {ms:8.2f}   x{hk['ratio_vs_without'][name]:.3f}")
    lines.append(f"    the .pth line alone (no variable set, no policy file): {hk['pth_line_us']:.2f} us per start")
    lines += ["", "  goals (reported, not asserted):"]
    for g in result["goals"]:
        mark = {True: "met ", False: "MISS", None: "n/a "}[g["met"]]
        lines.append(f"    [{mark}] {g['goal']}: {g['measured']}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small N, a few seconds")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--runs", type=int, help="rounds of every comparison (no time budget)")
    args = ap.parse_args()
    result = measure(args.quick, args.runs)
    print(json.dumps(result, indent=2) if args.json else "\n".join(render(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
