"""The command line: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import child_env, sysfence_cli


def test_run_passes_exit_status_through():
    assert sysfence_cli("run", "--", "sh", "-c", "exit 7").returncode == 7


def test_run_target_is_filtered():
    r = sysfence_cli("run", "--", "grep", "-E", "^(Seccomp|Seccomp_filters|NoNewPrivs):", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["NoNewPrivs:", "1", "Seccomp:", "2", "Seccomp_filters:", "1"]


def test_run_not_found_is_127_and_not_executable_is_126(tmp_path):
    r = sysfence_cli("run", "--", "/nonexistent/cmd")
    assert r.returncode == 127 and r.stderr == "sysfence: error: /nonexistent/cmd: command not found\n"
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\n")
    f.chmod(0o644)
    r = sysfence_cli("run", "--", str(f))
    assert r.returncode == 126 and "cannot execute: Permission denied" in r.stderr


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["run", "--allow", "ptrase", "--", "true"], 2, "--allow: ptrase: unknown syscall 'ptrase' (did you mean 'ptrace'?)"),
        (["run", "--deny", "getcwdd", "--", "true"], 2, "did you mean 'getcwd'?"),
        (["run", "--profile", "defualt", "--", "true"], 125, "unknown profile 'defualt' (did you mean 'default'?)"),
        (["run", "--profile", "/nonexistent.toml", "--", "true"], 125, "/nonexistent.toml: cannot read profile"),
        (["run"], 2, "run needs a command"),
        (["frobnicate"], 2, "invalid choice"),
        (["show", "nope"], 1, "unknown profile 'nope'"),
    ],
)
def test_user_mistakes_are_one_line_no_traceback(args, code, message):
    r = sysfence_cli(*args)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert [l for l in r.stderr.splitlines() if l.startswith("sysfence:")].__len__() == 1


def test_run_bad_profile_file_applies_nothing_and_runs_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'bad'\ncapabilities = ['stdio']\nbogus = 1\n")
    marker = tmp_path / "ran"
    r = sysfence_cli("run", "--profile", str(bad), "--", "touch", str(marker))
    assert r.returncode == 125 and not marker.exists()
    assert r.stderr.strip().startswith(f"sysfence: error: {bad}: unknown key 'bogus'; valid keys: action, allow,")


def test_run_allow_and_deny_flags():
    r = sysfence_cli("run", "--deny", "getcwd", "--", sys.executable, "-c", "import os; os.getcwd()")
    assert r.returncode == 1 and "PermissionError: [Errno 1] Operation not permitted" in r.stderr
    code = "import ctypes; l=ctypes.CDLL(None, use_errno=True); print(l.syscall(101, 0x4206, 0, 0, 0), ctypes.get_errno())"
    denied = sysfence_cli("run", "--", sys.executable, "-c", code)
    allowed = sysfence_cli("run", "--allow", "ptrace", "--", sys.executable, "-c", code)
    assert denied.stdout.split() == ["-1", "1"]  # PTRACE_SEIZE pid 0 -> EPERM from the filter
    assert allowed.stdout.split() == ["-1", "3"]  # -> ESRCH from the kernel


def test_run_without_libseccomp_warns_and_runs_unfiltered_or_fails_closed():
    env = child_env(SYSFENCE_LIBSECCOMP="/nonexistent/libseccomp.so.2")
    r = sysfence_cli("run", "--", "grep", "^Seccomp:", "/proc/self/status", env=env)
    assert r.returncode == 0 and r.stdout.split() == ["Seccomp:", "0"]
    assert "WITHOUT a seccomp filter" in r.stderr and "apt-get install libseccomp2" in r.stderr
    r = sysfence_cli("run", "--required", "--", "true", env=env)
    assert r.returncode == 125 and "required but unavailable" in r.stderr
    env["SYSFENCE_REQUIRED"] = "1"
    assert sysfence_cli("run", "--", "true", env=env).returncode == 125


def test_sysfence_off_runs_unfiltered_and_says_so():
    r = sysfence_cli("run", "--", "grep", "^Seccomp:", "/proc/self/status", env=child_env(SYSFENCE="off"))
    assert r.returncode == 0 and r.stdout.split() == ["Seccomp:", "0"]
    assert r.stderr == "sysfence: SYSFENCE=off: seccomp filtering is DISABLED (debugging)\n"


def test_status_json():
    r = sysfence_cli("status", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == 1
    assert d["kernel"]["seccomp_filter"] is True
    assert "errno" in d["kernel"]["actions_available"]
    assert d["libseccomp"]["available"] and d["libseccomp"]["api_level"] >= 3
    assert d["process"] == {"seccomp": "disabled", "filters": 0, "no_new_privs": False}


def test_status_under_run_shows_the_filter():
    r = sysfence_cli("run", "--", sys.executable, "-m", "sysfence", "status", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["process"] == {"seccomp": "filter", "filters": 1, "no_new_privs": True}


def test_status_text():
    r = sysfence_cli("status")
    assert r.returncode == 0
    assert "libseccomp:  2." in r.stdout and "this process: seccomp disabled, 0 filter(s), NoNewPrivs 0" in r.stdout


def test_show_json_counts_and_groups():
    r = sysfence_cli("show", "default", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == 1 and d["profile"] == "default" and d["arch"] == "x86_64"
    assert d["unknown_action"] == "errno(ENOSYS)" and d["default_action"] == "errno(EPERM)"
    assert d["allowed"] == 293 and d["denied"] == 75 and d["unnamed"] == []
    groups = {g["source"]: g for g in d["groups"]}
    assert groups["clone3"]["actions"] == ["errno(ENOSYS)"]
    assert "io_uring_setup" in groups["default"]["syscalls"] and groups["default"]["verdict"] == "denied"
    assert any(r["syscall"] == "ioctl" and "0x5412" in r["when"][0] for r in d["argument_rules"])


def test_show_lists_builtin_profiles():
    r = sysfence_cli("show", "--json")
    assert r.returncode == 0, r.stderr
    names = [p["profile"] for p in json.loads(r.stdout)["profiles"]]
    assert names == ["default", "net-client", "net-server", "no-network", "no-spawn", "read-only", "strict"]
    text = sysfence_cli("show").stdout
    for n in names:
        assert f"  {n} " in text


def test_show_text():
    r = sysfence_cli("show", "default")
    assert r.returncode == 0
    assert "ALLOWED" in r.stdout and "DENIED" in r.stdout and "ARGUMENT RULES" in r.stdout
    assert "syscalls newer than the table -> errno(ENOSYS)" in r.stdout


def test_python_dash_m_and_console_script_agree():
    import shutil

    beside = os.path.join(os.path.dirname(sys.executable), "sysfence")
    exe = beside if os.path.exists(beside) else shutil.which("sysfence")
    if exe is None:
        pytest.skip("console script not installed (pip install .)")
    r = __import__("subprocess").run([exe, "--version"], capture_output=True, text=True, env=child_env())
    assert r.returncode == 0 and r.stdout.startswith("sysfence ")
