"""The built-in profiles' programs shipped in the package (precompiled.py, hatch_build.py).

The shipped programs must decide exactly as a fresh libseccomp compilation of the same rules does, for every
syscall number (emulator); they must be loaded by enable() and `sysfence run` without libseccomp, with the
same errnos; and anything that could make them stale (an edited profile, a damaged file, configuration that
chooses or extends a profile) must take the compiling path instead.

Enforcement tests run children against a copy of the package with programs built into it (the source tree
has none), so they do not depend on how the package was installed; one test checks the installed wheel's own.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SRC, installed_sysfence

from sysfence import _libseccomp, bpf, precompiled, profile

BUILTINS = profile.builtin_names()
ARCH = precompiled.native_arch()
needs_native = pytest.mark.skipif(ARCH is None, reason="no programs are shipped for this architecture")

# A probe the shipped default must answer exactly: (syscall number on x86_64/aarch64, expected errno).
# bpf and kexec_load are denied (EPERM); clone3 gets ENOSYS; mseal (462) is newer than the table: ENOSYS.
PROBES = {"x86_64": {"bpf": (321, errno.EPERM), "kexec_load": (246, errno.EPERM), "clone3": (435, errno.ENOSYS),
                     "mseal": (462, errno.ENOSYS)},
          "aarch64": {"bpf": (280, errno.EPERM), "kexec_load": (104, errno.EPERM), "clone3": (435, errno.ENOSYS),
                      "mseal": (462, errno.ENOSYS)}}


def _copy_package(dest: Path) -> Path:
    pkg = dest / "sysfence"
    shutil.copytree(SRC / "sysfence", pkg, ignore=shutil.ignore_patterns("__pycache__", precompiled.DIR))
    return pkg


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """A copy of the package with `_programs/` built into it, as the wheel has; returns its parent dir."""
    root = tmp_path_factory.mktemp("pkg")
    pkg = _copy_package(root)
    precompiled.build(str(pkg / precompiled.DIR), str(pkg))
    return root


@pytest.fixture
def pkgcopy(built, tmp_path) -> Path:
    """A private copy of `built` a test may damage."""
    shutil.copytree(built / "sysfence", tmp_path / "pkg" / "sysfence")
    return tmp_path / "pkg"


def _env(pkgroot: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSFENCE") and k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(pkgroot)
    env.update(extra)
    return env


def _py(pkgroot: Path, code: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=_env(pkgroot, **extra), cwd=cwd,
                          capture_output=True, text=True, timeout=60)


PROBE_CODE = """
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(nr):
    ctypes.set_errno(0)
    rc = libc.syscall(nr, 0, 0, 0, 0, 0, 0)
    return ctypes.get_errno() if rc == -1 else 0
status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
maps = open('/proc/self/maps').read()
out = {"seccomp": status["Seccomp"].strip(), "nnp": status["NoNewPrivs"].strip(),
       "errnos": {name: errno_of(nr) for name, (nr, _) in PROBES.items()},
       "getppid": os.getppid() > 0, "libseccomp_mapped": "libseccomp" in maps}
"""


def _probe(prelude: str) -> str:
    return (f"import sys\nPROBES = {PROBES.get(ARCH or 'x86_64')!r}\n" + textwrap.dedent(prelude) + PROBE_CODE
            + "out['modules'] = sorted(m for m in sys.modules if m.startswith('sysfence'))\n"
            + "print(json.dumps(out))\n")


def _expected_errnos() -> dict[str, int]:
    return {name: e for name, (_, e) in PROBES[ARCH or "x86_64"].items()}


# ------------------------------------------------------------------ the programs themselves


@pytest.mark.parametrize("arch_name", sorted(precompiled.ARCHES))
def test_built_programs_decide_as_a_fresh_compilation_for_every_syscall_number(built, arch_name):
    idx = precompiled.index(str(built / "sysfence"))
    fresh = precompiled.compile_all(precompiled.ARCHES[arch_name])
    assert sorted(fresh) == sorted(BUILTINS)  # no built-in grants a dangerous capability: all are shipped
    for name, c in fresh.items():
        entry = idx[arch_name, name]
        shipped = entry.program()
        assert shipped is not None and entry.instructions == c.instructions
        assert entry.rule_count == c.ruleset.rule_count
        assert entry.execve_allowed == (not c.ruleset.decide("execve").denies)
        assert precompiled.disagreements(shipped, c) == [], name


def test_the_installed_packages_programs_decide_as_a_fresh_compilation(wheel_python):
    """The wheel's programs were built by hatch_build.py in the build environment, not by this process."""
    pkg = installed_sysfence(wheel_python)
    assert pkg is not None
    idx = precompiled.index(str(pkg))
    assert ARCH is None or {n for a, n in idx if a == ARCH} == set(BUILTINS), \
        f"{pkg}/{precompiled.DIR}: missing or stale programs"
    for arch_name, arch in precompiled.ARCHES.items():
        for name, c in precompiled.compile_all(arch).items():
            shipped = idx[arch_name, name].program()
            assert shipped is not None
            assert precompiled.disagreements(shipped, c) == [], (arch_name, name)


def test_the_comparison_finds_a_changed_decision(built):
    """disagreements() is not vacuous: one changed return value in a shipped program is reported."""
    c = precompiled.compile_all(precompiled.ARCHES["x86_64"])["default"]
    insns = bpf.decode(c.program)
    allow = next(i for i, ins in enumerate(insns) if ins.code == 0x06 and ins.k == bpf.RET_ALLOW)
    damaged = bytearray(c.program)
    damaged[allow * 8 + 4: allow * 8 + 8] = (0x00050000 | errno.EPERM).to_bytes(4, "little")
    found = precompiled.disagreements(bytes(damaged), c)
    assert found and "shipped ERRNO(EPERM), fresh ALLOW" in found[0], found


def test_index_records_every_program_with_its_digest(built):
    text = (built / "sysfence" / precompiled.DIR / precompiled.INDEX).read_text()
    programs = [ln.split("\t") for ln in text.splitlines() if ln.startswith("program\t")]
    assert {(p[1], p[2]) for p in programs} == {(a, n) for a in precompiled.ARCHES for n in BUILTINS}
    assert f"inputs\t{precompiled.inputs_digest(str(SRC / 'sysfence'))}" in text.splitlines()


def test_compiled_for_another_arch_uses_that_arch(built):
    """aarch64 programs check AUDIT_ARCH_AARCH64 and aarch64 numbers (bpf is 280 there, 321 on x86_64)."""
    entry = precompiled.index(str(built / "sysfence"))["aarch64", "default"]
    prog = bpf.decode(entry.program() or b"")
    for nr, want in ((280, errno.EPERM), (321, None)):
        ret = bpf.run(prog, bpf.seccomp_data(precompiled.ARCHES["aarch64"], nr, (0,) * 6))[0]
        if want is not None:
            assert ret == 0x00050000 | want
    assert bpf.run(prog, bpf.seccomp_data(precompiled.ARCHES["x86_64"], 0, (0,) * 6))[0] == 0x80000000


# ------------------------------------------------------------------ loading them, in child processes


@needs_native
def test_enable_loads_the_shipped_default_without_libseccomp_code(built, tmp_path):
    r = _py(built, _probe("""
        import sysfence
        st = sysfence.enable(required=True)
        print(st, file=sys.stderr)
        assert st.enforcing and st.precompiled and st.profile == "default" and st.filters == 1, st
        """), tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["seccomp"] == "2" and out["nnp"] == "1" and out["getppid"]
    assert out["errnos"] == _expected_errnos()
    assert not out["libseccomp_mapped"] and "sysfence._libseccomp" not in out["modules"]
    assert "sysfence.policy" not in out["modules"]  # nor the configuration (TOML) machinery
    assert f"precompiled by libseccomp {_libseccomp.info().version}" in r.stderr  # the one that built them


@needs_native
@pytest.mark.parametrize("name", BUILTINS)
def test_every_shipped_builtin_loads_and_reports_itself(built, tmp_path, name):
    r = _py(built, f"""
        import sysfence, os
        st = sysfence.enable({name!r})
        assert st.enforcing and st.precompiled and st.profile == {name!r}, st
        assert open('/proc/self/status').read().count('Seccomp:\\t2') == 1
        print(st.rules)
        """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == profile.load(f"builtin:{name}").ruleset().rule_count


@needs_native
def test_sysfence_run_fast_path_enforces_the_default(built, tmp_path):
    child = _probe("")
    r = subprocess.run([sys.executable, "-m", "sysfence", "run", "--", sys.executable, "-S", "-c", child],
                       env=_env(built), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["seccomp"] == "2" and out["errnos"] == _expected_errnos()


@needs_native
def test_run_exit_statuses_on_the_fast_path(built, tmp_path):
    run = [sys.executable, "-m", "sysfence", "run", "--"]
    path = {"PATH": "/usr/bin:/bin"}  # an unreadable PATH entry would make it EACCES (126), as execvp(3) does
    r = subprocess.run([*run, "no-such-command-xyz"], env=_env(built, **path), cwd=tmp_path, capture_output=True,
                       text=True)
    assert (r.returncode, r.stderr) == (127, "sysfence: error: no-such-command-xyz: command not found\n")
    (tmp_path / "data").write_text("not a program\n")
    r = subprocess.run([*run, "./data"], env=_env(built), cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 126 and "cannot execute: Permission denied" in r.stderr
    r = subprocess.run([*run, "sh", "-c", "exit 7"], env=_env(built), cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 7


@needs_native
def test_run_refuses_a_profile_that_denies_execve(built, tmp_path):
    """no-spawn denies execve: the fast path must not load it and then fail to exec; the full path explains."""
    denies = [n for n in BUILTINS if profile.load(f"builtin:{n}").ruleset().decide("execve").denies]
    assert denies
    r = subprocess.run([sys.executable, "-m", "sysfence", "run", "--profile", denies[0], "--", "true"],
                       env=_env(built), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 125 and "denies execve" in r.stderr, r.stderr


@needs_native
def test_without_libseccomp_builtins_still_enforce_and_custom_rules_cannot(built, tmp_path):
    """SYSFENCE_LIBSECCOMP pointing nowhere makes libseccomp unloadable; the built-in's program needs none."""
    env = {"SYSFENCE_LIBSECCOMP": "/nonexistent/libseccomp.so.2"}
    r = _py(built, _probe("""
        import sysfence
        st = sysfence.enable("default", required=True)
        assert st.enforcing and st.precompiled, st
        """), tmp_path, **env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["errnos"] == _expected_errnos()
    r = _py(built, """
        import sysfence
        st = sysfence.enable("default", deny=["getcwd"])
        print(st.state.value, st.reason)
        """, tmp_path, **env)
    assert r.returncode == 0 and r.stdout.startswith("unavailable libseccomp.so.2 could not be loaded"), r
    r = subprocess.run([sys.executable, "-m", "sysfence", "run", "--required", "--deny", "getcwd", "--", "true"],
                       env=_env(built, **env), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 125 and "required but unavailable" in r.stderr


# An rtld-audit module (ld.so(8), rtld-audit(7)) that refuses every object whose name mentions libseccomp: the
# dynamic loader then fails to find it, whatever path or soname is asked for. Needs no mount or user namespace.
HIDE_LIBSECCOMP = r"""
#define _GNU_SOURCE
#include <link.h>
#include <string.h>
unsigned int la_version(unsigned int version) { return version ? LAV_CURRENT : 0; }
char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag) {
    return strstr(name, "libseccomp") ? NULL : (char *)name;
}
"""


@needs_native
def test_with_the_library_itself_hidden(built, tmp_path, cc):
    """The real thing: the dynamic loader cannot find libseccomp.so.2 at all (an audit module refuses it), so
    enable() loads the shipped program by itself."""
    hide = cc("ld-audit-hide.so", HIDE_LIBSECCOMP, "-shared", "-fPIC")
    code = _probe("""
        import sysfence
        from sysfence import _libseccomp
        from sysfence.errors import LibseccompMissing
        try:
            _libseccomp.info()
            raise SystemExit("libseccomp is still loadable")
        except LibseccompMissing:
            pass
        st = sysfence.enable(required=True)
        assert st.enforcing and st.precompiled, st
        """)
    control = "import ctypes; ctypes.CDLL('libseccomp.so.2'); print('loaded')"
    r = _py(built, control, tmp_path)
    assert (r.returncode, r.stdout) == (0, "loaded\n"), r.stderr  # without the module it loads
    r = _py(built, control, tmp_path, LD_AUDIT=str(hide))
    if r.returncode == 0:
        pytest.skip("this dynamic loader ignores LD_AUDIT (rtld-audit), so it cannot hide the library")
    assert r.returncode == 1 and "OSError" in r.stderr, r.stderr  # with it, ctypes cannot load it
    r = _py(built, code, tmp_path, LD_AUDIT=str(hide))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["errnos"] == _expected_errnos() and out["seccomp"] == "2" and not out["libseccomp_mapped"]


@needs_native
def test_stacking_on_a_shipped_program_compares_it_as_rules(built, tmp_path):
    r = _py(built, """
        import errno, os, sysfence
        from sysfence.errors import LooseningError
        a = sysfence.enable()
        assert a.precompiled and a.filters == 1
        assert sysfence.enable() == sysfence.status()  # the same policy again: nothing stacked
        assert sysfence.status().filters == 1
        b = sysfence.enable("strict")
        assert b.profiles == ("default", "strict") and b.filters == 2 and b.precompiled, b
        try:
            sysfence.enable("default")
            raise SystemExit("loosening was not refused")
        except LooseningError as exc:
            print(exc)
        """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "filters can only tighten" in r.stdout


# ------------------------------------------------------------------ when the shipped programs are not used


@needs_native
def test_an_edited_installed_profile_is_compiled_not_overridden(pkgcopy, tmp_path):
    path = pkgcopy / "sysfence" / "profiles" / "default.toml"
    path.write_text(path.read_text() + '\n[[deny]]\nsyscalls = ["getcwd"]\n')
    assert precompiled.index(str(pkgcopy / "sysfence")) == {}
    r = _py(pkgcopy, """
        import os, sysfence
        st = sysfence.enable()
        assert st.enforcing and not st.precompiled, st
        try:
            os.getcwd()
        except PermissionError:
            print("EPERM")
        """, tmp_path)
    assert (r.returncode, r.stdout) == (0, "EPERM\n"), r.stderr


@needs_native
def test_same_size_edit_is_caught(pkgcopy):
    """Same size, so only the timestamp (newer than the index) sends it to the digest, which differs."""
    path = pkgcopy / "sysfence" / "profiles" / "strict.toml"
    index_mtime = (pkgcopy / "sysfence" / precompiled.DIR / precompiled.INDEX).stat().st_mtime_ns
    path.write_bytes(path.read_bytes().replace(b"a", b"b", 1))
    os.utime(path, ns=(index_mtime + 10**9, index_mtime + 10**9))
    assert precompiled.index(str(pkgcopy / "sysfence")) == {}


@needs_native
def test_a_newer_installer_timestamp_alone_still_uses_the_programs(pkgcopy):
    """Installers that write the index before the data files: the digest confirms them."""
    path = pkgcopy / "sysfence" / "capabilities.toml"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert len(precompiled.index(str(pkgcopy / "sysfence"))) == len(BUILTINS) * len(precompiled.ARCHES)


@needs_native
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_program_file_is_not_loaded(pkgcopy, tmp_path, damage):
    path = pkgcopy / "sysfence" / precompiled.DIR / ARCH / "default.bpf"
    data = path.read_bytes()
    path.write_bytes(data[:-8] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 1]))
    r = _py(pkgcopy, """
        import sysfence
        st = sysfence.enable(required=True)
        assert st.enforcing and not st.precompiled, st
        """, tmp_path)
    assert r.returncode == 0, r.stderr


@needs_native
def test_another_versions_programs_are_not_used(pkgcopy):
    index = pkgcopy / "sysfence" / precompiled.DIR / precompiled.INDEX
    index.write_text(index.read_text().replace("version\t", "version\t9", 1))
    assert precompiled.index(str(pkgcopy / "sysfence")) == {}


@needs_native
@pytest.mark.parametrize("setting, precompiled_expected", [
    ({}, True),
    ({"SYSFENCE_REQUIRED": "1"}, True),  # full path, same built-in: still its shipped program
    ({"SYSFENCE_ON_DENY": "off"}, True),
])
def test_full_path_uses_the_shipped_program_for_a_plain_builtin(built, tmp_path, setting, precompiled_expected):
    r = _py(built, """
        import sysfence
        st = sysfence.enable("strict")
        print(st.precompiled)
        """, tmp_path, **setting)
    assert (r.returncode, r.stdout.strip()) == (0, str(precompiled_expected)), r.stderr


@needs_native
def test_additions_are_compiled(built, tmp_path):
    r = _py(built, """
        import sysfence
        st = sysfence.enable("strict", deny=["getcwd"])
        print(st.precompiled, st.enforcing)
        """, tmp_path)
    assert (r.returncode, r.stdout.strip()) == (0, "False True"), r.stderr


@needs_native
@pytest.mark.parametrize("project, want", [
    ("sysfence.toml", 'profile = "no-network"\n'),
    ("pyproject.toml", '[tool.sysfence]\nprofile = "no-network"\n'),
    ("pyproject.toml", '[tool."\\u0073ysfence"]\nprofile = "no-network"\n'),
])
def test_run_honours_a_project_file(built, tmp_path, project, want):
    """A project file choosing no-network: `sysfence run` takes the full path and applies it (socket EPERM)."""
    (tmp_path / project).write_text(want)
    r = subprocess.run([sys.executable, "-m", "sysfence", "run", "--", sys.executable, "-S", "-c",
                        "import socket\ntry:\n    socket.socket()\nexcept PermissionError:\n    print('EPERM')"],
                       env=_env(built), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "EPERM\n"), r.stderr


@needs_native
def test_run_ignores_a_pyproject_that_never_mentions_sysfence(built, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.other]\nkey = "value"\n')
    r = subprocess.run([sys.executable, "-m", "sysfence", "run", "--", sys.executable, "-S", "-c",
                        "import socket; socket.socket(); print('ok')"],
                       env=_env(built), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr


def test_seccomp_numbers_match_libseccomps_table():
    """The shipped programs are loaded without libseccomp, so seccomp(2)'s number is kept beside them."""
    from sysfence import syscalls

    for name, arch in precompiled.ARCHES.items():
        assert syscalls.number("seccomp", arch) == precompiled.SECCOMP_NR[name]


def test_may_configure():
    from sysfence import shortcut

    assert shortcut.may_configure("/x/sysfence.toml")
    assert shortcut.may_configure("/nonexistent/pyproject.toml")  # unreadable: cannot tell, full path decides


def test_quick_run_takes_only_the_plain_forms():
    from sysfence._entry import quick_run

    assert quick_run(["run", "--", "true", "-x"]) == (None, ["true", "-x"])
    assert quick_run(["run", "--profile", "strict", "--", "true"]) == ("strict", ["true"])
    assert quick_run(["run", "--profile=strict", "--required", "--", "true"]) == ("strict", ["true"])
    assert quick_run(["run", "--profile", "--", "true"]) is None  # `--` taken as the name: full path says why
    for argv in (["run", "true"], ["run", "--"], ["run", "--cap", "x", "--", "true"], ["status"], [],
                 ["run", "--profile"], ["run", "--no-filter", "--", "true"]):
        assert quick_run(argv) is None, argv


@needs_native
@pytest.mark.parametrize("extra, fast", [({}, True), ({"SYSFENCE_DENY": "uname"}, False)])
def test_start_up_hook_loads_a_shipped_builtin_named_by_sysfence_profile(built, tmp_path, extra, fast):
    """SYSFENCE_PROFILE=no-network alone takes the fast path (no configuration code imported); with any other
    SYSFENCE_* variable the full path applies it all. Either way sockets get EPERM and the variable is consumed."""
    r = _py(built, """
        import os, socket, sys
        import sysfence._hook  # what sysfence.pth imports when a SYSFENCE_* variable is set
        try:
            socket.socket()
            print("socket allowed")
        except PermissionError:
            print("socket EPERM")
        print("fast" if "sysfence.policy" not in sys.modules else "full", "SYSFENCE_PROFILE" in os.environ)
        """, tmp_path, SYSFENCE_PROFILE="no-network", **extra)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["socket EPERM", f"{'fast' if fast else 'full'} False"]


@needs_native
def test_fast_path_filters_threads_started_before_it(built, tmp_path):
    """Checklist 8 on the fast path: TSYNC puts the shipped program on every existing thread."""
    nr, want = PROBES[ARCH or "x86_64"]["bpf"]
    r = _py(built, f"""
        import ctypes, sys, threading
        libc = ctypes.CDLL(None, use_errno=True)
        go, done = threading.Event(), []
        def worker():
            go.wait()
            done.append((libc.syscall({nr}, 0, 0, 0), ctypes.get_errno()))
        t = threading.Thread(target=worker)
        t.start()
        import sysfence
        st = sysfence.enable()
        assert st.precompiled and "sysfence.policy" not in sys.modules, st
        go.set()
        t.join()
        print(done[0])
        """, tmp_path)
    assert (r.returncode, r.stdout.strip()) == (0, f"(-1, {want})"), r.stderr
