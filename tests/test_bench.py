"""The benchmark command still works: `bench/run.py --quick --json` runs every section and writes complete JSON.

CI runs the tests, not the benchmark, so this keeps bench/ from rotting. It checks structure only, never timings
(DESIGN.md: speed is reported by the benchmark, not asserted), and passes with or without firejail installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SECTIONS = ("syscall_cost", "instructions", "e2e", "startup")
STARTUP_KEYS = {"schema_version", "params", "child", "commands", "hook", "goals", "seconds"}
FIREJAIL = "firejail --noprofile --seccomp true"



def _load(name: str) -> types.ModuleType:
    """Import a bench/ script under a private name, without putting bench/ on every test's sys.path."""
    spec = importlib.util.spec_from_file_location(f"sysfence_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench_run = _load("run")
startup = _load("startup")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, wheel_python: str) -> tuple[subprocess.CompletedProcess[str],
                                                                               dict[str, Any]]:
    """One quick run for the whole module (a few seconds): its process and the JSON it wrote. The bench measures
    the environment of the interpreter running it, which must have sysfence installed from a wheel."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (bench/syscall_cost.py compiles bench/syscalls.c; .ci/run installs it)")
    out = tmp_path_factory.mktemp("bench") / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSFENCE")}
    r = subprocess.run([wheel_python, str(BENCH / "run.py"), "--quick", "--json", str(out)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    return r, json.loads(out.read_text())


def _numbers(obj: Any, path: str = "") -> list[tuple[str, float]]:
    """Every number in a JSON value with where it sits (bools are not numbers here)."""
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [(path, obj)]
    if isinstance(obj, dict):
        return [n for k, v in obj.items() for n in _numbers(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [n for i, v in enumerate(obj) for n in _numbers(v, f"{path}[{i}]")]
    return []


def test_every_section_prints_its_table(quick):
    r, _ = quick
    out = r.stdout
    for name in SECTIONS:
        assert f"== {name} (" in out
        assert "FAILED" not in out
    assert "start-up cost" in out and "import sysfence" in out and "sysfence run -- true" in out
    assert "goals (reported, not asserted):" in out
    assert "total wall time:" in out.splitlines()[-1]


def test_json_has_machine_facts_and_every_section(quick):
    _, data = quick
    assert data["schema_version"] == 1 and data["quick"] is True and data["failed"] == []
    m = data["machine"]
    for key in ("date", "kernel", "cpu_model", "python", "libseccomp", "sysfence", "git"):
        assert key in m, key
    assert m["sysfence"]["version"] and m["libseccomp"]
    assert list(data["sections"]) == list(SECTIONS)
    for name, result in data["sections"].items():
        assert isinstance(result, dict) and "error" not in result, (name, result.get("error"))
        assert result["schema_version"] == 1, name
    assert set(data["sections"]["startup"]) == STARTUP_KEYS
    assert data["total_seconds"] > 0 and set(data["section_seconds"]) == set(SECTIONS)


def test_numbers_are_finite_and_startup_figures_positive(quick):
    _, data = quick
    for path, x in _numbers(data):
        assert math.isfinite(x), path
    for name, result in data["sections"].items():
        assert any(x > 0 for _, x in _numbers(result)), f"{name}: no positive figure at all"
    for path, x in _numbers(data["sections"]["startup"]):
        assert x > 0, path
    s = data["sections"]["startup"]
    assert s["child"]["import_ms"]["median"] > 0 and s["child"]["enable_ms"]["median"] > 0
    for name in ("true", "python -c pass", "sysfence run -- true"):
        assert s["commands"]["median_ms"][name] > 0, name
    assert "Seccomp 2" in s["commands"]["seccomp"]["sysfence run -- true"]


def test_goals_are_collected(quick):
    _, data = quick
    for g in data["goals"]:
        assert isinstance(g["goal"], str) and isinstance(g["measured"], str) and g["met"] in (True, False, None)
    startup_goals = [g for g in data["goals"] if g["section"] == "startup"]
    assert len(startup_goals) == 4


def test_firejail_figure_or_the_reason_it_is_missing(quick):
    """Either a real figure (firejail ran and loaded a filter) or null with the reason, in JSON and table."""
    r, data = quick
    c = data["sections"]["startup"]["commands"]
    fj = c["firejail"]
    goal = [g for g in data["goals"] if "firejail" in g["goal"]][0]
    if fj["status"] == "ok":
        assert c["median_ms"][FIREJAIL] > 0 and c["sysfence_vs_firejail"] > 0
        assert "Seccomp 2" in c["seccomp"][FIREJAIL]
        assert isinstance(goal["met"], bool)
    else:
        assert c["median_ms"][FIREJAIL] is None and c["sysfence_vs_firejail"] is None and goal["met"] is None
        assert fj["detail"].splitlines()[0] in r.stdout
        if fj["status"] == "missing":
            assert "firejail not installed (apt-get install firejail)" in r.stdout


def test_missing_or_failing_firejail_is_reported(quick, tmp_path):
    """The CI machine may lack firejail: the probe says so, and render() prints it instead of a number."""
    env = startup.clean_env()
    missing = startup.firejail_probe(None, env, str(tmp_path))
    assert missing["status"] == "missing" and missing["detail"] == startup.FIREJAIL_MISSING
    broken = startup.firejail_probe("/bin/false", env, str(tmp_path))
    assert broken["status"] == "error" and broken["detail"].startswith("exit 1")
    result = json.loads(json.dumps(quick[1]["sections"]["startup"]))
    c = result["commands"]
    c["firejail"] = missing
    c["median_ms"][FIREJAIL] = c["vs_python"][FIREJAIL] = c["sysfence_vs_firejail"] = None
    c["seccomp"].pop(FIREJAIL, None)
    result["goals"] = startup._goals(result["child"], c)
    assert result["goals"][-1]["met"] is None
    text = "\n".join(startup.render(result))
    assert text.count("firejail not installed (apt-get install firejail)") >= 2
    json.dumps(result, allow_nan=False)


def test_a_crashing_section_is_reported_and_the_others_run(monkeypatch, tmp_path, capsys):
    """Stub sections: one crashes, one reports goals; run.py names the crash, keeps going and exits 1."""
    boom = types.SimpleNamespace(measure=lambda quick: 1 / 0, render=lambda result: [])
    ok = types.SimpleNamespace(
        measure=lambda quick: {"schema_version": 1, "x": 1.5,
                               "goals": [{"goal": "x <= 2", "measured": "1.5", "met": True}]},
        render=lambda result: ["stub table", f"x = {result['x']}"])
    monkeypatch.setattr(sys, "path", list(sys.path))  # run.main() puts bench/ on it
    monkeypatch.setitem(sys.modules, "bench_stub_boom", boom)
    monkeypatch.setitem(sys.modules, "bench_stub_ok", ok)
    monkeypatch.setattr(bench_run, "SECTIONS", ("bench_stub_boom", "bench_stub_ok"))
    out = tmp_path / "r.json"
    assert bench_run.main(["--quick", "--json", str(out)]) == 1
    text = capsys.readouterr().out
    assert "section bench_stub_boom FAILED: ZeroDivisionError" in text and "stub table" in text
    assert "[met ] bench_stub_ok" in text and "failed sections: bench_stub_boom" in text
    data = json.loads(out.read_text())
    assert data["failed"] == ["bench_stub_boom"]
    assert data["sections"]["bench_stub_boom"]["error"].startswith("ZeroDivisionError")
    assert data["sections"]["bench_stub_ok"]["x"] == 1.5
