"""Shared helpers. Every test that loads a filter does it in a child process: a filter cannot be removed."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


@functools.cache
def installed_sysfence(python: str = sys.executable) -> Path | None:
    """The package directory `python` imports sysfence from on its own (-I: no PYTHONPATH, no script directory),
    or None if it has none: site-packages for a normal install, src/ for an editable one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSFENCE", "PYTHON"))}
    r = subprocess.run([python, "-I", "-c", "import os, sysfence; print(os.path.dirname(sysfence.__file__))"],
                       env=env, cwd="/", capture_output=True, text=True, timeout=60)
    return Path(r.stdout.strip()) if r.returncode == 0 else None


def world_readable_package(dest: Path) -> Path:
    """A copy of src/sysfence under `dest` that any user can import (the clone may be in root's 0700 home);
    returns the directory to put on PYTHONPATH. `dest` must be reachable by that user too."""
    lib = dest / "lib"
    shutil.copytree(SRC / "sysfence", lib / "sysfence", ignore=shutil.ignore_patterns("__pycache__"))
    for dirpath, _dirs, files in os.walk(lib):
        os.chmod(dirpath, 0o755)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)
    return lib


def python_for(uid: int, gid: int) -> str | None:
    """An interpreter (>= 3.11) that uid:gid can execute: the test venv's may live under root's 0700 home."""
    for exe in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            r = subprocess.run([exe, "-S", "-c", "import tomllib"], user=uid, group=gid, extra_groups=[],
                               capture_output=True, cwd="/")
        except OSError:
            continue
        if r.returncode == 0:
            return exe
    return None


def _same_sources(installed: Path, source: Path) -> bool:
    """Whether an installed copy holds exactly the source tree's files (else it is stale: reinstall, or build)."""
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and "_programs" not in p.parts}
    return files(installed) == files(source)


@pytest.fixture(scope="session")
def wheel_python(tmp_path_factory) -> str:
    """An interpreter with sysfence installed from a wheel of this tree, as pip installs it (with the programs
    hatch_build.py precompiles): the test interpreter itself when that is how it has sysfence, else a virtualenv
    made here from a wheel built here (an editable install or a bare checkout has no shipped programs)."""
    pkg = installed_sysfence()
    if pkg is not None and not pkg.is_relative_to(SRC) and (pkg / "_programs" / "index.tsv").exists() \
            and _same_sources(pkg, SRC / "sysfence"):
        return sys.executable
    try:
        import hatchling  # noqa: F401
    except ImportError:
        pytest.skip("building a wheel needs hatchling (pip install '.[test]' installs it)")
    d = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(d / "dist"), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "venv", str(d / "venv")], check=True, capture_output=True, timeout=300)
    py = d / "venv" / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps", "--no-index",
                    *map(str, (d / "dist").glob("sysfence-*.whl"))], check=True, capture_output=True, timeout=300)
    return str(py)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSFENCE")}
    # absolute entries only: a child that may not call getcwd (the filter denies it) cannot resolve "src"
    inherited = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *inherited])
    env.update(extra)
    return env


def run_py(code: str, *, env: dict[str, str] | None = None, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (dedented); capture text output."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env or child_env(), capture_output=True, text=True, timeout=timeout, **kw,
    )


def run_enforced(code: str, *, profile: str = "default", env: dict[str, str] | None = None, timeout: float = 60):
    """Run `code` after `sysfence.enable(profile, required=True)` in a child; the prelude proves the filter
    loaded (Seccomp: 2 in /proc/self/status) before `code` runs, so a silently failed load fails the test."""
    prelude = f"""
import sysfence as _sf
_st = _sf.enable({profile!r}, required=True)
assert _st.enforcing, _st
with open('/proc/self/status') as _f:
    _lines = dict(l.split(':', 1) for l in _f if ':' in l)
assert _lines['Seccomp'].strip() == '2' and _lines['NoNewPrivs'].strip() == '1', _lines
"""
    return run_py(prelude + textwrap.dedent(code), env=env, timeout=timeout)


def sysfence_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sysfence", *args],
        env=env or child_env(), capture_output=True, text=True, timeout=timeout, **kw,
    )


@pytest.fixture(scope="session")
def cc(tmp_path_factory):
    """Compile a C probe with gcc: cc(name, source, *flags) -> path of the executable."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed (needed for C probes; .ci/run installs it)")
    out = tmp_path_factory.mktemp("probes")

    def build(name: str, source: str, *flags: str) -> Path:
        src = out / f"{name}.c"
        exe = out / name
        src.write_text(textwrap.dedent(source))
        subprocess.run([gcc, "-O0", "-o", str(exe), str(src), *flags], check=True, capture_output=True)
        return exe

    return build
