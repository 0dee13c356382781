"""The command line: exit codes, one-line errors, JSON output; and that the start-up hook (sysfence.pth) leaves the
sysfence command itself alone, however it is started."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import child_env, sysfence_cli

from sysfence import syscalls

PROFILES = "profiles: default, net-client, net-server, no-network, no-spawn, read-only, strict"
SCRIPT = os.path.join(os.path.dirname(sys.executable), "sysfence")  # the console script of the test venv


def cli(how: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The sysfence command as `python -m sysfence` ("-m") or the console script ("script")."""
    if how == "-m":
        return sysfence_cli(*args, env=env)
    if not os.path.exists(SCRIPT):
        pytest.skip("console script not installed (pip install .)")
    return subprocess.run([SCRIPT, *args], env=env or child_env(), capture_output=True, text=True, timeout=60)


HOWS = ["-m", "script"]


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
        (["run", "--allow", "ptrase", "--", "true"], 2,
         "--allow ptrase: unknown syscall 'ptrase' (did you mean 'ptrace'?)"),
        (["run", "--deny", "getcwdd", "--", "true"], 2,
         "--deny getcwdd: unknown syscall 'getcwdd' (did you mean 'getcwd'?)"),
        (["run", "--cap", "nonsense", "--", "true"], 2, "--cap nonsense: unknown capability 'nonsense'"),
        (["run", "--allow", "socket", "--deny", "socket", "--", "true"], 2,
         "command line: 'socket' is both allowed (--allow socket) and denied (--deny socket)"),
        (["run", "--profile", "defualt", "--", "true"], 125,
         "--profile: unknown profile 'defualt' (did you mean 'default'?)"),
        (["run", "--profile", "/nonexistent.toml", "--", "true"], 125,
         "--profile: /nonexistent.toml: cannot read profile: No such file or directory"),
        (["run"], 2, "run needs a command: sysfence run [options] -- COMMAND [ARG...]"),
        (["frobnicate"], 2, None),  # argparse's wording varies between Python versions
        (["show", "nope"], 1, f"unknown profile 'nope'; {PROFILES}"),
    ],
)
def test_user_mistakes_are_one_line_no_traceback(args, code, message):
    r = sysfence_cli(*args)
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("sysfence:")]
    assert len(lines) == 1, r.stderr
    if message is None:
        assert lines[0].startswith("sysfence: error: argument cmd: invalid choice: 'frobnicate'"), lines
    else:
        assert lines[0] == f"sysfence: error: {message}"
    assert r.stdout == ""


def test_run_bad_profile_file_applies_nothing_and_runs_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'bad'\ncapabilities = ['stdio']\nbogus = 1\n")
    marker = tmp_path / "ran"
    r = sysfence_cli("run", "--profile", str(bad), "--", "touch", str(marker))
    assert r.returncode == 125 and not marker.exists()
    assert r.stderr == (f"sysfence: error: --profile: {bad}: unknown key 'bogus'; valid keys: action, allow, "
                        "capabilities, default_action, default_errno, deny, description, extends, name, rule, table, "
                        "unknown_errno\n")
    assert r.stdout == ""


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


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("env, chosen", [
    ({}, ("default", "built-in default")),
    ({"SYSFENCE_PROFILE": "strict"}, ("strict", "SYSFENCE_PROFILE=strict")),
    ({"SYSFENCE_PROFILE": "no-network", "SYSFENCE_DENY": "getcwd,openat"}, ("no-network",
                                                                           "SYSFENCE_PROFILE=no-network")),
    ({"SYSFENCE": "on"}, ("default", "built-in default")),
], ids=["plain", "strict", "deny-openat", "on"])
def test_status_json(how, env, chosen):
    """`status` describes the CLI process itself: never filtered by the start-up hook, whatever the variables say
    (with openat denied it could not even have read /proc/self/status)."""
    r = cli(how, "status", "--json", env=child_env(**env))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == 1
    assert d["kernel"]["seccomp_filter"] is True
    assert "errno" in d["kernel"]["actions_available"]
    assert d["libseccomp"]["available"] and d["libseccomp"]["api_level"] >= 3
    assert d["process"] == {"seccomp": "disabled", "filters": 0, "no_new_privs": False}
    assert (d["state"], d["reason"]) == ("disabled", "no filter loaded yet")
    assert (d["configuration"]["profile"], d["configuration"]["chosen_by"]) == chosen, d["configuration"]


INET = """
import socket
st = open('/proc/self/status').read()
print(*[l.split()[1] for l in st.splitlines() if l.startswith(('Seccomp:', 'Seccomp_filters:'))], end=' ')
try:
    socket.socket(socket.AF_INET).close()
    print('OK')
except OSError as e:
    print(e.errno)
"""


@pytest.mark.parametrize("how", HOWS)
def test_run_flag_profile_beats_env_profile_on_the_real_entry_points(how):
    env = child_env(SYSFENCE_PROFILE="no-network")
    r = cli(how, "run", "--", sys.executable, "-S", "-c", INET, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "2 1 1\n", "")  # no-network: AF_INET EPERM
    r = cli(how, "run", "--profile", "default", "--", sys.executable, "-S", "-c", INET, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "2 1 OK\n", "")  # --profile wins; still one filter


@pytest.mark.parametrize("how", HOWS)
def test_run_with_env_denying_getcwd_does_not_crash(how):
    """The CLI needs getcwd (project file search); SYSFENCE_DENY=getcwd is for the command."""
    code = "import os\ntry:\n    os.getcwd()\nexcept OSError as e:\n    print(e.errno)"
    for env in ({"SYSFENCE_DENY": "getcwd"}, {"SYSFENCE_PROFILE": "default", "SYSFENCE_DENY": "getcwd"}):
        r = cli(how, "run", "--", sys.executable, "-S", "-P", "-c", code, env=child_env(**env))
        assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", ""), env


@pytest.mark.parametrize("how", HOWS)
def test_run_env_profile_error_comes_from_run(how):
    r = cli(how, "run", "--", "true", env=child_env(SYSFENCE_PROFILE="bogus"))
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr == f"sysfence: error: SYSFENCE_PROFILE: unknown profile 'bogus'; {PROFILES}\n"
    r = cli(how, "status", env=child_env(SYSFENCE_PROFILE="bogus"))
    assert r.returncode == 0 and r.stderr == ""
    assert f"configured:  error: SYSFENCE_PROFILE: unknown profile 'bogus'; {PROFILES}" in r.stdout.splitlines()


def test_list_json_exit_status():
    if os.path.lexists("/etc/sysfence"):
        pytest.skip("a real /etc/sysfence exists on this machine")
    r = sysfence_cli("list", "--json")
    assert (r.returncode, r.stderr) == (0, "")
    d = json.loads(r.stdout)
    assert d["store"] == "/etc/sysfence" and all(row["problem"] == "" for row in d["profiles"])
    r = sysfence_cli("list", "--json", env=child_env(SYSFENCE_ETC="relative"))
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == ("sysfence: error: environment variable SYSFENCE_ETC='relative' is not valid: must be an "
                        "absolute path\n")


def test_status_under_run_shows_the_filter():
    r = sysfence_cli("run", "--", sys.executable, "-m", "sysfence", "status", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["process"] == {"seccomp": "filter", "filters": 1, "no_new_privs": True}


def test_status_text():
    r = sysfence_cli("status")
    assert r.returncode == 0 and r.stderr == ""
    assert "libseccomp:  2." in r.stdout and "this process: seccomp disabled, 0 filter(s), NoNewPrivs 0" in r.stdout


def test_show_json_counts_and_groups():
    r = sysfence_cli("show", "default", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == 1 and d["profile"] == "default" and d["arch"] == "x86_64"
    assert d["unknown_action"] == "errno(ENOSYS)" and d["default_action"] == "errno(EPERM)"
    assert d["allowed"] == 293 and d["denied"] == 75
    # what this host's libseccomp knows beyond the profile's table (none with 2.5.4; statmount... with 2.6)
    assert d["unnamed"] == sorted(set(syscalls.table()) - set(syscalls.profile_table()[1]))
    assert ("statmount" in d["unnamed"]) == (syscalls.name(457) == "statmount")  # 457: statmount on x86_64
    groups = {g["source"]: g for g in d["groups"]}
    assert groups["clone3"]["actions"] == ["errno(ENOSYS)"]
    assert "io_uring_setup" in groups["default"]["syscalls"] and groups["default"]["verdict"] == "denied"
    assert any(r["syscall"] == "ioctl" and "0x5412" in r["when"][0] for r in d["argument_rules"])


STATUS_UNDER = """
import json, signal, sys
import sysfence
from sysfence import cli
if sys.argv[1] == "strict":
    sysfence.enable("strict", required=True)  # fork refused: the getrandom probe cannot run
elif sys.argv[1] == "sigchld":
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel: no status to read
sys.exit(cli.main(["status"] + sys.argv[2:]))
"""


def test_status_reports_the_platforms_getrandom_and_newer_names():
    from sysfence import host

    d = json.loads(sysfence_cli("status", "--json").stdout)
    vdso = host.getrandom_bypasses_filters()
    assert d["getrandom_bypasses_filters"] is vdso is not None
    newer = sorted(set(syscalls.table()) - set(syscalls.profile_table()[1]))
    assert d["libseccomp"]["names_beyond_profile_table"] == newer
    text = sysfence_cli("status").stdout
    assert ("getrandom:   answered from the vDSO" in text) is vdso and ("getrandom:   a system call" in text) is not vdso
    assert (f"knows {len(newer)} syscalls newer than the built-in profiles' table" in text) is bool(newer)
    for how in ("strict", "sigchld"):  # the probe cannot tell: said by leaving it out, never a traceback
        r = subprocess.run([sys.executable, "-c", STATUS_UNDER, how, "--json"], capture_output=True, text=True,
                           env=child_env())
        assert r.returncode == 0 and r.stderr == "", (how, r.stderr)
        assert json.loads(r.stdout)["getrandom_bypasses_filters"] is None, how
        r = subprocess.run([sys.executable, "-c", STATUS_UNDER, how], capture_output=True, text=True,
                           env=child_env())
        assert r.returncode == 0 and "getrandom:" not in r.stdout, (how, r.stdout, r.stderr)


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
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, env=child_env())
    assert r.returncode == 0 and r.stdout.startswith("sysfence ")
    assert r.stdout == sysfence_cli("--version").stdout
    # both are "the sysfence command" for the start-up hook: SYSFENCE_PROFILE=strict (which denies execve and
    # sockets) filters neither, and both describe the same configuration
    env = child_env(SYSFENCE_PROFILE="strict")
    a = json.loads(subprocess.run([exe, "status", "--json"], capture_output=True, text=True, env=env).stdout)
    b = json.loads(sysfence_cli("status", "--json", env=env).stdout)
    assert a["process"] == b["process"] == {"seccomp": "disabled", "filters": 0, "no_new_privs": False}
    assert a["configuration"] == b["configuration"]
