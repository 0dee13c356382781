"""on_deny="traceback" / SYSFENCE_ON_DENY=traceback: every denied syscall is reported on stderr with the Python
stack that made it, and the caller still gets the profile's errno. Everything runs in child processes against the
real kernel; every report is checked for the exact file and line of the call."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env, run_py, sysfence_cli

from sysfence import on_deny
from sysfence.rules import ALLOW, Action, Kind

# The call sits three functions deep in a helper module; CALL_LINE is the line of os.getcwd() in that file.
HELPER = """\
import os


def level1():
    return level2()


def level2():
    return level3()


def level3():
    return os.getcwd()
"""
CALL_LINE = 13
SIGSYS_BIT = 1 << (31 - 1)  # SigCgt in /proc/self/status: bit n-1 for signal n

# The caller: catches the error and prints its errno; then whether a SIGSYS handler is installed.
CALLER = """
import os, sys, threading
sys.path.insert(0, {dir!r})
import helper
{enable}
try:
    helper.level1()
    print("NO ERROR")
except OSError as exc:
    print("ERRNO", exc.errno)
with open("/proc/self/status") as f:
    caught = [int(line.split()[1], 16) for line in f if line.startswith("SigCgt:")][0]
print("SIGSYS-HANDLER", bool(caught & {bit}))
"""


@pytest.fixture
def helper(tmp_path: Path) -> Path:
    path = tmp_path / "helper.py"
    path.write_text(HELPER)
    assert path.read_text().splitlines()[CALL_LINE - 1].strip() == "return os.getcwd()"
    return path


def _caller(helper: Path, enable: str) -> str:
    return CALLER.format(dir=str(helper.parent), enable=enable, bit=SIGSYS_BIT)


def _out(r: subprocess.CompletedProcess) -> dict[str, str]:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return dict(line.split(" ", 1) for line in r.stdout.splitlines())


def _assert_report(stderr: str, helper: Path, call: str = "getcwd(", code: str = "EPERM") -> None:
    first = [line for line in stderr.splitlines() if line.startswith("sysfence: denied ")]
    assert len(first) == 1, stderr
    assert first[0].startswith(f"sysfence: denied {call}") and f"-> {code} " in first[0], stderr
    assert f'File "{helper}", line {CALL_LINE}, in level3' in stderr, stderr
    # the whole chain, innermost last, as in a traceback
    assert stderr.index("in level1") < stderr.index("in level2") < stderr.index("in level3"), stderr


def test_api_reports_the_exact_line_and_the_caller_gets_eperm(helper):
    enable = "import sysfence; sysfence.enable('default', deny=['getcwd'], on_deny='traceback', required=True)"
    r = run_py(_caller(helper, enable))
    assert _out(r) == {"ERRNO": str(errno.EPERM), "SIGSYS-HANDLER": "True"}
    _assert_report(r.stderr, helper)


def test_startup_hook_reports_without_code_change(helper, tmp_path):
    app = tmp_path / "app.py"
    app.write_text(_caller(helper, "assert 'sysfence' in sys.modules  # loaded by the hook, not by the app"))
    env = child_env(SYSFENCE_PROFILE="default", SYSFENCE_DENY="getcwd", SYSFENCE_ON_DENY="traceback")
    r = subprocess.run([sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=60)
    assert _out(r) == {"ERRNO": str(errno.EPERM), "SIGSYS-HANDLER": "True"}
    _assert_report(r.stderr, helper)


def test_profile_errno_is_what_the_caller_sees(helper, tmp_path):
    prof = tmp_path / "eacces.toml"
    prof.write_text('name = "eacces"\nextends = "default"\n'
                    'deny = [{ syscalls = ["getcwd"], errno = "EACCES", reason = "test" }]\n')
    r = run_py(_caller(helper, f"import sysfence; sysfence.enable({str(prof)!r}, on_deny='traceback')"))
    assert _out(r)["ERRNO"] == str(errno.EACCES)
    _assert_report(r.stderr, helper, code="EACCES")
    assert "[profile 'eacces', MainThread]" in r.stderr


def test_a_thread_reports_its_own_stack(helper):
    enable = """import sysfence; sysfence.enable('default', deny=['getcwd'], on_deny='traceback')
def work():
    try:
        helper.level1()
    except PermissionError as exc:
        print("THREAD", exc.errno)
t = threading.Thread(target=work, name="worker-7")
t.start()
t.join()
sys.exit(0)"""
    r = run_py(_caller(helper, enable))
    assert _out(r) == {"THREAD": str(errno.EPERM)}
    _assert_report(r.stderr, helper)
    assert "worker-7]" in r.stderr and "in work" in r.stderr and "in _bootstrap" in r.stderr
    assert "<module>" not in r.stderr  # the main thread's stack (blocked in join) is not this call's


def test_calls_that_hold_the_gil_and_calls_that_release_it(tmp_path):
    """ctypes.PyDLL keeps the GIL during the call; socket() releases it (and here runs in a thread while the main
    thread waits in join)."""
    r = run_py("""
        import ctypes, socket, threading, sysfence
        sysfence.enable('no-network', deny=['getcwd'], on_deny='traceback')
        libc = ctypes.PyDLL(None, use_errno=True)
        libc.getcwd.restype = ctypes.c_void_p
        buf = ctypes.create_string_buffer(4096)
        print("GIL-HELD", libc.getcwd(buf, 4096), ctypes.get_errno())
        res = {}
        def net():
            try:
                socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as exc:
                res["errno"] = exc.errno
        t = threading.Thread(target=net, name="net")
        t.start(); t.join()
        print("SOCKET", res["errno"])
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()  # allowed: no report
        print("UNIX ok")
    """)
    assert _out(r) == {"GIL-HELD": f"None {errno.EPERM}", "SOCKET": str(errno.EPERM), "UNIX": "ok"}
    reports = [line for line in r.stderr.splitlines() if line.startswith("sysfence: denied")]
    assert len(reports) == 2, r.stderr
    assert reports[0].startswith("sysfence: denied getcwd(") and "-> EPERM [profile 'no-network', MainThread]" in reports[0]
    assert reports[1].startswith("sysfence: denied socket(0x2, ") and "net]" in reports[1]
    assert 'File "<string>", line 7, in <module>' in r.stderr and 'File "<string>", line 11, in net' in r.stderr


def test_process_creation_keeps_its_errno_and_is_not_trapped():
    """subprocess/posix_spawn/fork make these calls with every signal blocked: a trap there would kill the
    process, so they keep the profile's errno from its own filter (and threads still start: clone3 ENOSYS)."""
    r = run_py("""
        import os, subprocess, threading, sysfence
        sysfence.enable('no-spawn', on_deny='traceback')
        for name, fn in [("run", lambda: subprocess.run(["/bin/true"])), ("fork", os.fork),
                         ("spawn", lambda: os.posix_spawn("/bin/true", ["true"], {}))]:
            try:
                fn()
                print(name, "no error")
            except OSError as exc:
                print(name, exc.errno)
        t = threading.Thread(target=lambda: None); t.start(); t.join()
        print("thread ok")
    """)
    assert _out(r) == {"run": "1", "fork": "1", "spawn": "1", "thread": "ok"}
    assert "sysfence: denied" not in r.stderr, r.stderr


def test_invalid_values_are_errors():
    r = run_py("""
        import sysfence
        for kw in ("bogus", 1):
            try:
                sysfence.enable(on_deny=kw)
            except sysfence.SysfenceError as exc:
                print(type(exc).__name__, exc)
        print(sysfence.status().state.value)
    """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "SysfenceError sysfence.enable(): on_deny='bogus' is not valid: use 'traceback' (or 'off')"
    assert lines[1].startswith("SysfenceError sysfence.enable(): on_deny must be a string") and lines[2] == "disabled"
    r = run_py("import sysfence; sysfence.enable()", env=child_env(SYSFENCE_ON_DENY="tb"))
    assert "SysfenceError: environment variable SYSFENCE_ON_DENY='tb' is not valid" in r.stderr


def test_invalid_value_stops_the_startup_hook(tmp_path):
    env = child_env(SYSFENCE_PROFILE="default", SYSFENCE_ON_DENY="yes")
    r = subprocess.run([sys.executable, "-c", "print('APP RAN')"], env=env, capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == 125 and r.stdout == "", (r.stdout, r.stderr)
    assert r.stderr.splitlines() == ["sysfence: error: environment variable SYSFENCE_ON_DENY='yes' is not valid: "
                                     "use 'traceback' (or 'off')"]


def test_off_by_default_no_handler_and_run_refuses_it():
    r = run_py(_caller(Path("/nonexistent"), "import sysfence; sysfence.enable('default', deny=['getcwd'])")
               .replace("import helper", "import os\nclass helper:\n    level1 = staticmethod(os.getcwd)")
               + "print('IMPORTED', 'sysfence.on_deny' in sys.modules)")
    assert _out(r) == {"ERRNO": str(errno.EPERM), "SIGSYS-HANDLER": "False", "IMPORTED": "False"}
    assert r.stderr == ""
    r = sysfence_cli("run", "--", "/bin/true", env=child_env(SYSFENCE_ON_DENY="traceback"))
    assert r.returncode == 125 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("sysfence: error: SYSFENCE_ON_DENY=traceback: reports denied calls inside a Python")


def test_overlay_traps_exactly_the_errno_denials():
    """The rule-level view of what gets trapped (the filter itself is exercised by the tests above)."""
    from sysfence.profile import load

    for name in ("default", "no-spawn", "strict", "no-network"):
        rs = load(name).ruleset()
        ov = on_deny.overlay(rs)
        for s in rs.base:
            for args in ((0,) * 6, (2, 1, 0, 0, 0, 0), (0x5412,) * 6, (0x20000000,) * 6):
                want, got = rs.decide(s, args), ov.decide(s, args)
                trap = want.kind is Kind.ERRNO and want.errno != errno.ENOSYS and s not in on_deny.EXEMPT
                assert got == (Action(Kind.TRAP) if trap else ALLOW), (name, s, args, want, got)


def test_register_and_struct_offsets_match_the_c_headers(cc):
    exe = cc("ucontext_offsets", """
        #define _GNU_SOURCE
        #include <signal.h>
        #include <stddef.h>
        #include <stdio.h>
        #include <ucontext.h>
        int main(void) {
            printf("%zu %zu %zu %zu %zu\\n", offsetof(siginfo_t, si_errno), offsetof(siginfo_t, si_code),
                   offsetof(siginfo_t, si_call_addr), offsetof(siginfo_t, si_syscall), offsetof(siginfo_t, si_arch));
            printf("%zu %d %d %d %d %d %d %d %d\\n", offsetof(ucontext_t, uc_mcontext.gregs), REG_R8, REG_R9,
                   REG_R10, REG_RDI, REG_RSI, REG_RDX, REG_RAX, NGREG);
            printf("%zu %zu %zu %zu %d %d\\n", sizeof(struct sigaction), offsetof(struct sigaction, sa_mask),
                   offsetof(struct sigaction, sa_flags), offsetof(struct sigaction, sa_restorer), SA_SIGINFO, SA_NODEFER);
            return 0;
        }
    """)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    o = on_deny
    assert out[0].split() == [str(v) for v in (o.SI_ERRNO, o.SI_CODE, o.SI_CALL_ADDR, o.SI_SYSCALL, o.SI_ARCH)]
    assert out[1].split() == [str(v) for v in (o.UC_GREGS, o.REG_R8, o.REG_R9, o.REG_R10, o.REG_RDI, o.REG_RSI,
                                               o.REG_RDX, o.REG_RAX, o.NGREG)]
    import ctypes

    sa = o._SigAction
    assert out[2].split() == [str(v) for v in (ctypes.sizeof(sa), sa.sa_mask.offset, sa.sa_flags.offset,
                                               sa.sa_restorer.offset, o.SA_SIGINFO, o.SA_NODEFER)]


