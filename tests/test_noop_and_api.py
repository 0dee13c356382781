"""enable()/status() paths: reported no-op where seccomp is unavailable, fail-closed when required,
SYSFENCE=off, environment validation, stacking. Unavailability is simulated (non-Linux platform, missing
libseccomp); everything that claims enforcement runs against the real kernel in a child."""

from __future__ import annotations

import json

from conftest import child_env, run_py, sysfence_cli

from sysfence import _libseccomp

NON_LINUX = "import sys; sys.platform = 'darwin'\n"
NO_LIB = {"SYSFENCE_LIBSECCOMP": "/nonexistent/libseccomp.so.2"}

REPORT = """
import json, sysfence
try:
    st = sysfence.enable()
    print(json.dumps({"state": st.state.value, "reason": st.reason}))
except sysfence.SysfenceError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
with open('/proc/self/status') as f:
    print([l.split()[1] for l in f if l.startswith('Seccomp:')][0])
"""


def _report(prefix: str = "", **env: str):
    r = run_py(prefix + REPORT, env=child_env(**env))
    assert r.returncode == 0, r.stderr
    first, mode = r.stdout.splitlines()
    return json.loads(first), mode, r.stderr


def test_enforcing_by_default():
    rep, mode, _ = _report()
    assert rep == {"state": "enforcing", "reason": ""} and mode == "2"


def test_non_linux_is_a_reported_noop():
    rep, mode, _ = _report(NON_LINUX)
    assert rep["state"] == "unavailable" and "Linux-only" in rep["reason"] and mode == "0"


def test_non_linux_required_fails_closed():
    rep, mode, _ = _report(NON_LINUX, SYSFENCE_REQUIRED="1")
    assert rep["error"] == "UnavailableError" and "Linux-only" in rep["message"] and mode == "0"


def test_missing_libseccomp_is_a_reported_noop_with_install_hint():
    rep, mode, _ = _report(**NO_LIB)
    assert rep["state"] == "unavailable" and mode == "0"
    for hint in ("apt-get install libseccomp2", "dnf install libseccomp", "pacman -S libseccomp", "apk add libseccomp"):
        assert hint in rep["reason"]


def test_missing_libseccomp_required_fails_closed():
    rep, mode, _ = _report(SYSFENCE_REQUIRED="1", **NO_LIB)
    assert rep["error"] == "LibseccompMissing" and mode == "0"


def test_required_argument_fails_closed():
    r = run_py(NON_LINUX + "import sysfence\nsysfence.enable(required=True)\nprint('RAN UNFILTERED')")
    assert r.returncode == 1 and "RAN UNFILTERED" not in r.stdout
    assert "UnavailableError: seccomp enforcement required but unavailable" in r.stderr


def test_sysfence_off_disables_and_says_so_once():
    code = "import sysfence\nfor _ in range(3): st = sysfence.enable()\nprint(st.state.value, st.reason)\n" \
           "print(open('/proc/self/status').read().count('Seccomp:\\t0'))"
    r = run_py(code, env=child_env(SYSFENCE="off"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["disabled SYSFENCE=off", "1"]
    assert r.stderr.count("seccomp filtering is DISABLED") == 1


def test_sysfence_off_with_required_is_an_error():
    rep, mode, _ = _report(SYSFENCE="off", SYSFENCE_REQUIRED="1")
    assert rep["error"] == "UnavailableError" and "conflicts" in rep["message"] and mode == "0"


def test_invalid_environment_values_are_errors():
    # SYSFENCE=maybe wakes the start-up hook, which refuses it before any program code runs
    r = run_py("print('ran')", env=child_env(SYSFENCE="maybe"))
    assert r.returncode == 125 and r.stdout == ""
    assert r.stderr == ("sysfence: error: environment variable SYSFENCE='maybe' is not valid: "
                        "use 1/0, true/false, yes/no or on/off\n")
    rep, mode, _ = _report(SYSFENCE_REQUIRED="2")  # the hook ignores it alone; enable() refuses it
    assert rep["error"] == "SysfenceError" and "SYSFENCE_REQUIRED='2' is not valid" in rep["message"] and mode == "0"


def test_status_before_and_after():
    r = run_py("""
        import sysfence
        print(sysfence.status())
        st = sysfence.enable()
        print(st.profile, st.rules > 300, st.libseccomp, st.filters, st.no_new_privs)
        print(sysfence.status().state.value)
    """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "disabled: no filter loaded yet"
    assert lines[1] == f"default True {_libseccomp.info().version} 1 True"  # the library that compiled it
    assert lines[2] == "enforcing"


def test_status_sees_an_inherited_filter():
    r = sysfence_cli("run", "--", *("python3", "-c", "import sysfence; print(sysfence.status())"), env=child_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("enforcing: a seccomp filter was installed before this program started")


def test_enable_twice_same_profile_is_noop_stricter_stacks_looser_refused():
    r = run_py("""
        import os, errno, sysfence
        sysfence.enable()
        sysfence.enable()
        print(sysfence.status().filters)
        try:
            sysfence.enable(allow=["ptrace"])
        except sysfence.LooseningError as exc:
            print("refused", "ptrace" in str(exc))
        print(sysfence.status().filters)
        st = sysfence.enable(deny=["getcwd"])
        print(st.filters, st.profiles)
        try:
            os.getcwd()
        except PermissionError as exc:
            print("getcwd", errno.errorcode[exc.errno])
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["1", "refused True", "1", "2 ('default', 'default')", "getcwd EPERM"]


def test_enable_bad_profile_applies_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("extends='default'\nallow = ['ptrase']\n")
    r = run_py(f"""
        import sysfence
        try:
            sysfence.enable({str(bad)!r})
        except sysfence.ProfileError as exc:
            print(exc)
        print(open('/proc/self/status').read().count('Seccomp:\\t0'))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"{bad}: allow[0]: unknown syscall 'ptrase' (did you mean 'ptrace'?)", "1"]


def test_kernel_without_seccomp_is_a_reported_noop_or_fails_closed():
    sim = "import sysfence.kernel as k; k.unsupported_reason = lambda: 'kernel has no seccomp support (simulated)'\n"
    rep, mode, _ = _report(sim)
    assert rep == {"state": "unavailable", "reason": "kernel has no seccomp support (simulated)"} and mode == "0"
    rep, mode, _ = _report(sim, SYSFENCE_REQUIRED="1")
    assert rep["error"] == "UnavailableError" and mode == "0"


def test_tsync_failure_is_an_error_and_loads_nothing():
    """A thread with a filter of its own cannot be synchronised: enable() must fail, not filter half the process."""
    r = run_py("""
        import ctypes, threading, sysfence
        from sysfence import kernel, syscalls
        done, go = threading.Event(), threading.Event()
        def own_filter():
            allow_all = (0x06).to_bytes(2, 'little') + b'\\0\\0' + (0x7FFF0000).to_bytes(4, 'little')
            kernel.set_no_new_privs()
            libc = ctypes.CDLL(None, use_errno=True)
            n = syscalls.number('seccomp')
            buf = ctypes.create_string_buffer(allow_all)
            prog = kernel.SockFprog(1, ctypes.cast(buf, ctypes.POINTER(kernel.SockFilter)))
            assert libc.syscall(n, 1, 0, ctypes.byref(prog)) == 0  # this thread only, no TSYNC
            done.set(); go.wait()
        t = threading.Thread(target=own_filter); t.start(); done.wait()
        try:
            sysfence.enable()
            print("ENABLED")
        except sysfence.EnforcementError as exc:
            print("refused:", exc)
        print(open('/proc/self/status').read().count('Seccomp:\\t0'), sysfence.status().state.value)
        go.set(); t.join()
    """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("refused: loading the filter failed: TSYNC failed: thread "), lines
    assert lines[1] == "1 disabled"  # the main thread got no filter
