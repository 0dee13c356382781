"""The start-up hook: site-packages/sysfence.pth -> sysfence._hook, which filters a Python program before its first
line when SYSFENCE_PROFILE, SYSFENCE=on or SYSFENCE_CAPS/ALLOW/DENY/ACTION ask for a filter or a mandatory system
profile applies to Python, and does nothing (not even import sysfence) when no SYSFENCE_* variable that could ask
for one is set and no system policy exists. The sysfence command itself (`python -m sysfence`, the `sysfence`
console script) is left alone: `run` applies the same layers plus its flags, and `status`/`list` must work while
the configuration is broken. Every enforcement claim is checked in a child process against the real kernel: the
app reads /proc/self/status on its FIRST line, so a filter that silently did not load fails the test."""

from __future__ import annotations

import ast
import errno
import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SRC, child_env, installed_sysfence

EPERM = errno.EPERM
NO_LIB = "/nonexistent/libseccomp.so.2"
OFF_LINE = "sysfence: SYSFENCE=off: seccomp filtering is DISABLED (debugging)"
MANDATORY = '[mandatory]\nprofile = "no-network"\napplies_to = ["python"]\n'

# sysfence/__init__.py of the installed copy: site-packages for a normal install, src/ for an editable one
_pkg = installed_sysfence()
INSTALLED = str(_pkg / "__init__.py") if _pkg else None
pytestmark = pytest.mark.skipif(_pkg is None, reason="sysfence is not installed for this interpreter (the "
                                "start-up hook is site-packages/sysfence.pth: pip install . or pip install -e .)")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="policy files under SYSFENCE_ETC must be root-owned")

# Line 1 records the state the application starts in; nothing of the app has run before it. Every later probe is
# wrapped so that an import refused by a tight profile (strict: no executable mappings) is a result, not a crash.
APP = '''\
_status = open("/proc/self/status").read(); import sys; _early = sorted(m for m in sys.modules if m.split(".")[0] == "sysfence")
import os, threading

def field(text, name):
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value)
    return None

def err(fn):
    try:
        fn()
    except OSError as exc:
        return exc.errno
    except Exception as exc:
        return repr(exc)
    return 0

def inet():
    import socket
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()

def unix():
    import socket
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()

def unshare():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0) != 0:  # flags 0: succeeds unless a filter denies unshare itself
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

thread = {}
def in_thread():
    with open("/proc/thread-self/status") as f:
        thread["seccomp"] = field(f.read(), "Seccomp")
    thread["inet"] = err(inet)
t = threading.Thread(target=in_thread)
t.start()
t.join()

out = {
    "seccomp": field(_status, "Seccomp"), "filters": field(_status, "Seccomp_filters"),
    "nnp": field(_status, "NoNewPrivs"), "early": _early,
    "module": getattr(sys.modules.get("sysfence"), "__file__", None),
    "inet": err(inet), "unix": err(unix), "unshare": err(unshare), "getcwd": err(os.getcwd), "thread": thread,
}
print("RESULT " + repr(out), flush=True)
'''

# What the app runs when it must never run: it leaves a marker.
MARK = "open('app-ran', 'w').close(); print('APP RAN')"


def _env(*, pythonpath: bool = True, **extra: str) -> dict[str, str]:
    env = child_env(**extra)
    if not pythonpath:
        env.pop("PYTHONPATH", None)
    return env


def _python(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def run_app(tmp_path: Path, *flags: str, env: dict[str, str] | None = None, **extra: str) -> tuple[dict, str]:
    """Run APP as a script (`python [flags] app.py`) in tmp_path; return its result and stderr."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    r = _python([*flags, str(app)], env if env is not None else _env(**extra), tmp_path)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in r.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, (r.stdout, r.stderr)
    return ast.literal_eval(lines[0][len("RESULT "):]), r.stderr


def run_refused(tmp_path: Path, env: dict[str, str]) -> str:
    """The hook must refuse: exit 125, exactly one 'sysfence: error:' line, no traceback, app not run."""
    r = _python(["-c", MARK], env, tmp_path)
    lines = r.stderr.splitlines()
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("sysfence: error: "), r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == "" and not (tmp_path / "app-ran").exists()
    return lines[0]


def assert_filtered(res: dict, filters: int = 1) -> None:
    assert res["seccomp"] == 2 and res["filters"] == filters and res["nnp"] == 1, res


def assert_unfiltered(res: dict) -> None:
    assert res["seccomp"] == 0 and res["filters"] == 0, res
    assert res["inet"] == 0 and res["unshare"] == 0, res  # control: the same probes succeed without a filter


@pytest.fixture
def etc(tmp_path_factory) -> Path:
    """A store root that passes the trust checks (root-owned, 0755) for SYSFENCE_ETC."""
    if os.geteuid() != 0:
        pytest.skip("store files must be root-owned")
    d = tmp_path_factory.mktemp("etc")
    d.chmod(0o755)
    return d


def write_policy(etc: Path, text: str) -> Path:
    p = etc / "policy.toml"
    p.write_text(text)
    p.chmod(0o644)
    return p


@pytest.fixture(autouse=True)
def _no_real_policy():
    """Every test depends on the real /etc/sysfence having no policy: it would apply to these children, and where it
    exists SYSFENCE_ETC is refused (one variable must not replace the administrator's policy)."""
    if os.path.lexists("/etc/sysfence/policy.toml"):
        pytest.skip("/etc/sysfence/policy.toml exists on this machine; it would apply to these children")


# ------------------------------------------------------------------ 1. SYSFENCE_PROFILE


def test_profile_by_name_applies_before_the_first_line(tmp_path):
    res, err = run_app(tmp_path, SYSFENCE_PROFILE="no-network")
    assert_filtered(res)
    # the app never imported sysfence: the hook did, before line 1, from src/ (PYTHONPATH)
    assert "sysfence" in res["early"] and "sysfence._hook" in res["early"]
    assert Path(res["module"]).resolve() == (SRC / "sysfence" / "__init__.py").resolve()
    assert res["inet"] == EPERM, res
    assert res["unix"] == 0 and res["getcwd"] == 0, res  # no-network keeps AF_UNIX and the rest of the default
    assert res["unshare"] == EPERM, res  # the default's denials are part of no-network
    assert res["thread"] == {"seccomp": 2, "inet": EPERM}, res
    assert err == ""


PROFILE_TOML = 'extends = "no-network"\ndeny = ["getcwd"]\n'


@pytest.mark.parametrize("how", ["absolute", "relative", "relative-dir"])
def test_profile_by_path(tmp_path, how):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine.toml").write_text(PROFILE_TOML)
    value = {"absolute": str(tmp_path / "conf" / "mine.toml"), "relative": "mine.toml",
             "relative-dir": "./conf/mine.toml"}[how]
    if how == "relative":
        (tmp_path / "mine.toml").write_text(PROFILE_TOML)
    res, err = run_app(tmp_path, SYSFENCE_PROFILE=value)
    assert_filtered(res)
    assert res["getcwd"] == EPERM and res["inet"] == EPERM and res["unix"] == 0, res
    assert err == ""


CHILD_PROBE = """
import socket
st = open('/proc/self/status').read()
print(*[l.split()[1] for l in st.splitlines() if l.startswith(('Seccomp:', 'Seccomp_filters:'))])
try:
    socket.socket(socket.AF_INET)
except OSError as e:
    print(e.errno)
"""


def test_children_inherit_the_hooks_filter(tmp_path):
    """A child that cannot have filtered itself -- python -S with the SYSFENCE variables removed, or /bin/sh --
    still fails what the parent's profile denies."""
    unshare = shutil.which("unshare")
    code = f"""
        import os, subprocess, sys
        clean = {{k: v for k, v in os.environ.items() if not k.startswith("SYSFENCE")}}
        r = subprocess.run([sys.executable, "-S", "-c", {CHILD_PROBE!r}], env=clean, capture_output=True, text=True)
        print("py", r.returncode, *r.stdout.split(), r.stderr.strip())
        if {unshare!r}:
            r = subprocess.run(["/bin/sh", "-c", "grep -E '^Seccomp' /proc/self/status; exec {unshare} -U true"],
                               env=clean, capture_output=True, text=True)
            print("sh", r.returncode, *r.stdout.split(), r.stderr.strip())
    """
    r = _python(["-c", textwrap.dedent(code)], _env(SYSFENCE_PROFILE="no-network"), tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["py", "0", "2", "1", str(EPERM)], r.stdout  # Seccomp 2, one filter (inherited), socket EPERM
    if unshare is None:
        pytest.skip("util-linux unshare is not installed")
    assert lines[1].startswith("sh 1 Seccomp: 2 Seccomp_filters: 1 "), r.stdout
    assert "Operation not permitted" in lines[1], r.stdout


# ------------------------------------------------------------------ 2. SYSFENCE=on


def test_sysfence_on_applies_the_builtin_default(tmp_path):
    res, err = run_app(tmp_path, SYSFENCE="on")
    assert_filtered(res)
    assert res["unshare"] == EPERM and res["inet"] == 0, res  # default: namespaces denied, network allowed
    assert err == ""


def test_sysfence_on_uses_the_project_file(tmp_path):
    (tmp_path / "sysfence.toml").write_text('profile = "no-network"\n')
    res, _ = run_app(tmp_path, SYSFENCE="1")
    assert_filtered(res)
    assert res["inet"] == EPERM and res["unix"] == 0, res


def test_project_file_in_pyproject_and_from_a_subdirectory(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.sysfence]\nprofile = "no-network"\n'
                                             'deny = ["getcwd"]\n')
    sub = tmp_path / "pkg"
    sub.mkdir()
    res, _ = run_app(sub, SYSFENCE="yes")
    assert_filtered(res)
    assert res["inet"] == EPERM and res["getcwd"] == EPERM, res


def test_environment_overrides_the_project_file(tmp_path):
    (tmp_path / "sysfence.toml").write_text('profile = "no-network"\n')
    res, _ = run_app(tmp_path, SYSFENCE="on", SYSFENCE_PROFILE="default")
    assert_filtered(res)
    assert res["inet"] == 0 and res["unshare"] == EPERM, res


def test_a_project_file_alone_does_not_trigger_the_hook(tmp_path):
    (tmp_path / "sysfence.toml").write_text('profile = "no-network"\n')
    res, _ = run_app(tmp_path)
    assert_unfiltered(res)
    assert res["early"] == [], res


def test_environment_additions_on_top_of_the_profile(tmp_path):
    res, _ = run_app(tmp_path, SYSFENCE_PROFILE="default", SYSFENCE_DENY="getcwd")
    assert_filtered(res)
    assert res["getcwd"] == EPERM and res["inet"] == 0, res


@pytest.mark.parametrize("var, value, expect", [
    ("SYSFENCE_DENY", "getcwd", {"getcwd": EPERM, "inet": 0, "unix": 0, "unshare": EPERM}),
    ("SYSFENCE_DENY", "socket", {"getcwd": 0, "inet": EPERM, "unix": EPERM, "unshare": EPERM}),
    ("SYSFENCE_ACTION", "getcwd=EACCES", {"getcwd": errno.EACCES, "inet": 0, "unix": 0, "unshare": EPERM}),
    ("SYSFENCE_ALLOW", "unshare", {"getcwd": 0, "inet": 0, "unix": 0, "unshare": 0}),
    ("SYSFENCE_CAPS", "net-client", {"getcwd": 0, "inet": 0, "unix": 0, "unshare": EPERM}),
], ids=["deny-getcwd", "deny-socket", "action", "allow", "caps"])
def test_each_filtering_variable_alone_filters_a_plain_interpreter(tmp_path, var, value, expect):
    """Without SYSFENCE_PROFILE or SYSFENCE=on: the built-in default plus the variable's addition."""
    res, err = run_app(tmp_path, **{var: value})
    assert_filtered(res)
    assert {k: res[k] for k in expect} == expect, res
    assert res["thread"]["seccomp"] == 2 and "sysfence._hook" in res["early"], res
    assert err == ""


def test_deny_getcwd_alone_reaches_the_child_of_a_child(tmp_path):
    """SYSFENCE_DENY=getcwd by itself filters a plain `python -c` child started from an unfiltered parent."""
    code = """
        import os, subprocess, sys
        print("parent", os.getcwd() == os.path.realpath("."))
        env = dict(os.environ, SYSFENCE_DENY="getcwd")
        child = "import errno, os\\ntry:\\n    os.getcwd()\\nexcept OSError as e:\\n    print(errno.errorcode[e.errno])"
        r = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True)
        print("child", r.returncode, r.stdout.strip(), repr(r.stderr))
    """
    r = _python(["-c", textwrap.dedent(code)], _env(), tmp_path)
    assert (r.returncode, r.stdout.splitlines(), r.stderr) == (0, ["parent True", "child 0 EPERM ''"], "")


# ------------------------------------------------------------------ 3. nothing asked for


@pytest.mark.parametrize("pythonpath", [True, False], ids=["src-on-path", "installed-copy"])
def test_no_variable_no_policy_does_not_import_sysfence(tmp_path, pythonpath):
    res, err = run_app(tmp_path, env=_env(pythonpath=pythonpath))
    assert res["early"] == [] and res["module"] is None, res
    assert_unfiltered(res)
    assert err == ""
    if not pythonpath:
        # control: the installed hook is live in this very configuration, so the "nothing" above means something
        res, _ = run_app(tmp_path, env=_env(pythonpath=False, SYSFENCE_PROFILE="no-network"))
        assert_filtered(res)
        assert res["inet"] == EPERM and res["module"] == INSTALLED, res


ASKS = ("SYSFENCE_PROFILE", "SYSFENCE", "SYSFENCE_CAPS", "SYSFENCE_ALLOW", "SYSFENCE_DENY", "SYSFENCE_ACTION")


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_variables_do_not_trigger(tmp_path, value):
    res, err = run_app(tmp_path, **{k: value for k in ASKS})
    assert_unfiltered(res)
    assert err == ""
    # "" is not even looked at; blanks make the .pth line import the hook, which then finds nothing asked for
    assert ("sysfence._hook" in res["early"]) is (value != ""), res


def test_required_alone_applies_nothing(tmp_path):
    """SYSFENCE_REQUIRED only says what happens when a filter is asked for; alone it asks for none (even where
    enforcement is unavailable, and even with a value the hook would refuse)."""
    for value in ("1", "maybe"):
        res, err = run_app(tmp_path, SYSFENCE_REQUIRED=value, SYSFENCE_LIBSECCOMP=NO_LIB)
        assert_unfiltered(res)
        assert res["early"] == [] and err == "", (res, err)


def test_etc_alone_without_a_policy_applies_nothing(tmp_path):
    """SYSFENCE_ETC makes the .pth line import the hook (a policy might be there); without one it applies nothing."""
    res, err = run_app(tmp_path, SYSFENCE_ETC="/nonexistent/sysfence")
    assert_unfiltered(res)
    assert "sysfence._hook" in res["early"] and err == "", (res, err)


@needs_root
def test_etc_alone_with_an_empty_store_applies_nothing(tmp_path, etc):
    write_policy(etc, "")  # a policy without settings or [mandatory] only configures
    res, err = run_app(tmp_path, SYSFENCE_ETC=str(etc))
    assert_unfiltered(res)
    assert "sysfence._hook" in res["early"] and err == "", (res, err)


# ------------------------------------------------------------------ 4. SYSFENCE=off


def test_sysfence_off_wins_and_is_said_once(tmp_path):
    code = """
        import socket, sysfence
        a = sysfence.enable()
        b = sysfence.enable("strict")
        socket.socket(socket.AF_INET).close()
        st = open('/proc/self/status').read()
        print(a.state.value, b.state.value, [l.split()[1] for l in st.splitlines() if l.startswith('Seccomp:')])
    """
    r = _python(["-c", textwrap.dedent(code)], _env(SYSFENCE="off", SYSFENCE_PROFILE="no-network"), tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["disabled", "disabled", "['0']"]
    assert r.stderr.splitlines() == [OFF_LINE]


def test_sysfence_off_alone_runs_unfiltered_and_silent(tmp_path):
    res, err = run_app(tmp_path, SYSFENCE="off")
    assert_unfiltered(res)
    assert err == ""  # nothing was asked for, so nothing is disabled to say


# ------------------------------------------------------------------ 5. enforcement unavailable


def test_required_but_unavailable_refuses_to_run(tmp_path):
    line = run_refused(tmp_path, _env(SYSFENCE_PROFILE="default", SYSFENCE_REQUIRED="1",
                                      SYSFENCE_LIBSECCOMP=NO_LIB))
    assert "required but unavailable" in line and NO_LIB in line


@pytest.mark.parametrize("trigger", [{"SYSFENCE_PROFILE": "no-network"}, {"SYSFENCE": "on"}])
def test_unavailable_warns_once_and_runs(tmp_path, trigger):
    res, err = run_app(tmp_path, SYSFENCE_LIBSECCOMP=NO_LIB, **trigger)
    assert_unfiltered(res)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sysfence: warning: ") and NO_LIB in lines[0], err
    assert "WITHOUT a seccomp filter" in lines[0] and "SYSFENCE_REQUIRED=1" in lines[0]


# ------------------------------------------------------------------ 6. bad input


PROFILES = "profiles: default, net-client, net-server, no-network, no-spawn, read-only, strict"
NOT_BOOL = "is not valid: use 1/0, true/false, yes/no or on/off"
ACTIONS = "valid: allow, errno, kill-process, kill-thread, trap, log or an errno name"


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"SYSFENCE_PROFILE": "bogus"}, f"SYSFENCE_PROFILE: unknown profile 'bogus'; {PROFILES}"),
        ({"SYSFENCE_PROFILE": "no-netwrk"},
         "SYSFENCE_PROFILE: unknown profile 'no-netwrk' (did you mean 'no-network'?)"),
        ({"SYSFENCE_PROFILE": "/missing.toml"}, "SYSFENCE_PROFILE: /missing.toml: cannot read profile: No such file or "
         "directory"),
        ({"SYSFENCE_PROFILE": "default", "SYSFENCE_CAPS": "nonsense"},
         "SYSFENCE_CAPS=nonsense: unknown capability 'nonsense'"),
        ({"SYSFENCE_CAPS": "nonsense"}, "SYSFENCE_CAPS=nonsense: unknown capability 'nonsense'"),
        ({"SYSFENCE_PROFILE": "default", "SYSFENCE_ALLOW": "ptrase"},
         "SYSFENCE_ALLOW=ptrase: unknown syscall 'ptrase' (did you mean 'ptrace'?)"),
        ({"SYSFENCE_DENY": "getcwdd"}, "SYSFENCE_DENY=getcwdd: unknown syscall 'getcwdd' (did you mean "
         "'getcwd'?)"),
        ({"SYSFENCE_PROFILE": "default", "SYSFENCE_ACTION": "bogus"},
         f"SYSFENCE_ACTION=bogus: unknown action 'bogus'; {ACTIONS}"),
        ({"SYSFENCE_ACTION": "bogus"}, f"SYSFENCE_ACTION=bogus: unknown action 'bogus'; {ACTIONS}"),
        ({"SYSFENCE_PROFILE": "default", "SYSFENCE_REQUIRED": "maybe"},
         f"environment variable SYSFENCE_REQUIRED='maybe' {NOT_BOOL}"),
        ({"SYSFENCE": "maybe"}, f"environment variable SYSFENCE='maybe' {NOT_BOOL}"),
        ({"SYSFENCE_PROFILE": "default", "SYSFENCE_ETC": "relative/path"},
         "environment variable SYSFENCE_ETC='relative/path' is not valid: must be an absolute path"),
        ({"SYSFENCE_ETC": "relative/path"},
         "environment variable SYSFENCE_ETC='relative/path' is not valid: must be an absolute path"),
        ({"SYSFENCE": "off", "SYSFENCE_PROFILE": "default", "SYSFENCE_REQUIRED": "1"},
         "SYSFENCE=off conflicts with required enforcement (SYSFENCE_REQUIRED or required=True)"),
    ],
    ids=["unknown-name", "did-you-mean", "missing-file", "caps", "caps-alone", "allow", "deny-alone", "action",
         "action-alone", "required", "sysfence", "etc-relative", "etc-relative-alone", "off-and-required"],
)
def test_bad_input_is_one_line_and_exit_125(tmp_path, env, expected):
    assert run_refused(tmp_path, _env(**env)) == f"sysfence: error: {expected}"


def test_profile_file_with_a_syntax_error(tmp_path):
    (tmp_path / "bad.toml").write_text('extends = "default"\ndeny = ["getcwd"\n')
    line = run_refused(tmp_path, _env(SYSFENCE_PROFILE="bad.toml"))
    assert line.startswith(f"sysfence: error: SYSFENCE_PROFILE: {tmp_path / 'bad.toml'}: not valid TOML: "), line


@pytest.mark.parametrize("value", ["/missing.toml", "bad.toml", "unknown-key.toml"])
def test_profile_file_errors_name_the_variable_once(tmp_path, value):
    (tmp_path / "bad.toml").write_text("deny = [\n")
    (tmp_path / "unknown-key.toml").write_text("bogus = 1\n")
    path = value if value.startswith("/") else str(tmp_path / value)
    line = run_refused(tmp_path, _env(SYSFENCE_PROFILE=value))
    assert line == "sysfence: error: SYSFENCE_PROFILE: " + {
        "/missing.toml": "/missing.toml: cannot read profile: No such file or directory",
        "bad.toml": f"{path}: not valid TOML: Invalid value (at end of document)",
        "unknown-key.toml": f"{path}: unknown key 'bogus'; valid keys: action, allow, capabilities, default_action, "
                            "default_errno, deny, description, extends, name, rule, table, unknown_errno",
    }[value], line


# ------------------------------------------------------------------ 7. system policy


@needs_root
def test_mandatory_policy_filters_a_plain_interpreter(tmp_path, etc):
    write_policy(etc, MANDATORY)
    res, err = run_app(tmp_path, SYSFENCE_ETC=str(etc))
    assert_filtered(res)
    assert res["inet"] == EPERM and res["unix"] == 0, res
    assert err == ""


@needs_root
@pytest.mark.parametrize(
    "env, expected",
    [
        ({"SYSFENCE": "off"}, "SYSFENCE=off"),
        ({"SYSFENCE_PROFILE": "default"}, "SYSFENCE_PROFILE=default"),
        ({"SYSFENCE_REQUIRED": "0"}, "SYSFENCE_REQUIRED"),
        ({"SYSFENCE_PROFILE": "no-network", "SYSFENCE_ALLOW": "unshare"}, "SYSFENCE_ALLOW=unshare"),
    ],
    ids=["off", "looser-profile", "not-required", "allow"],
)
def test_mandatory_policy_cannot_be_loosened(tmp_path, etc, env, expected):
    policy = write_policy(etc, MANDATORY)
    line = run_refused(tmp_path, _env(SYSFENCE_ETC=str(etc), **env))
    assert str(policy) in line and expected in line, line


@needs_root
def test_mandatory_policy_stacks_a_tighter_profile(tmp_path, etc):
    write_policy(etc, MANDATORY)
    res, _ = run_app(tmp_path, SYSFENCE_ETC=str(etc), SYSFENCE_PROFILE="strict")
    assert_filtered(res, filters=2)
    assert res["inet"] == EPERM, res


@needs_root
def test_mandatory_policy_same_profile_is_one_filter(tmp_path, etc):
    write_policy(etc, MANDATORY)
    res, _ = run_app(tmp_path, SYSFENCE_ETC=str(etc), SYSFENCE_PROFILE="no-network")
    assert_filtered(res, filters=1)


@needs_root
def test_mandatory_for_run_only_leaves_python_alone(tmp_path, etc):
    write_policy(etc, MANDATORY.replace('["python"]', '["run"]'))
    res, err = run_app(tmp_path, SYSFENCE_ETC=str(etc))
    assert_unfiltered(res)
    assert "sysfence._hook" in res["early"], res  # the policy file exists, so the hook looked, and found nothing
    assert err == ""


@needs_root
def test_system_policy_profile_is_below_project_and_environment(tmp_path, etc):
    write_policy(etc, 'profile = "no-network"\n')
    res, _ = run_app(tmp_path, SYSFENCE_ETC=str(etc))
    assert_unfiltered(res)  # a non-mandatory policy only configures; nothing asked for a filter
    res, _ = run_app(tmp_path, SYSFENCE_ETC=str(etc), SYSFENCE="on")
    assert_filtered(res)
    assert res["inet"] == EPERM, res  # system layer over built-in
    (tmp_path / "sysfence.toml").write_text('profile = "default"\n')
    res, _ = run_app(tmp_path, SYSFENCE_ETC=str(etc), SYSFENCE="on")
    assert_filtered(res)
    assert res["inet"] == 0 and res["unshare"] == EPERM, res  # project over system
    res, _ = run_app(tmp_path, SYSFENCE_ETC=str(etc), SYSFENCE="on", SYSFENCE_PROFILE="no-network")
    assert res["inet"] == EPERM, res  # environment over project


@needs_root
def test_broken_policy_file_stops_every_interpreter(tmp_path, etc):
    policy = write_policy(etc, "[mandatory\n")
    line = run_refused(tmp_path, _env(SYSFENCE_ETC=str(etc)))
    assert str(policy) in line and "not valid TOML" in line, line


@needs_root
def test_untrusted_policy_file_is_an_error(tmp_path, etc):
    policy = write_policy(etc, MANDATORY)
    policy.chmod(0o646)
    line = run_refused(tmp_path, _env(SYSFENCE_ETC=str(etc)))
    assert str(policy) in line and "world-writable" in line, line


# ------------------------------------------------------------------ 8. documented limitations


def test_python_dash_S_skips_the_hook(tmp_path):
    # Documented limitation: -S disables the site module, which is what processes .pth files, so the start-up
    # hook never runs. Programs that must be filtered regardless call sysfence.enable(required=True) themselves
    # or are started by `sysfence run`.
    res, err = run_app(tmp_path, "-S", SYSFENCE_PROFILE="no-network")
    assert res["early"] == [], res
    assert_unfiltered(res)
    assert err == ""


def test_python_dash_I_still_runs_the_hook(tmp_path):
    # -I ignores PYTHON* variables (so the installed copy is used) and the user site, but still imports site and
    # processes site-packages/*.pth; SYSFENCE_* variables are not PYTHON* variables.
    res, _ = run_app(tmp_path, "-I", SYSFENCE_PROFILE="no-network")
    assert_filtered(res)
    assert res["inet"] == EPERM and res["module"] == INSTALLED, res


# ------------------------------------------------------------------ 9. the hook line itself


def test_installed_pth_is_the_one_line_of_src():
    pths = [Path(d) / "sysfence.pth" for d in site.getsitepackages() if (Path(d) / "sysfence.pth").is_file()]
    assert sys.prefix != sys.base_prefix, "tests are expected to run in the project's venv"
    assert len(pths) == 1, (site.getsitepackages(), pths)
    installed = pths[0].read_bytes()
    assert installed == (SRC / "sysfence.pth").read_bytes()
    lines = installed.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("import "), lines
    assert "sysfence._hook" in lines[0]


@pytest.mark.parametrize(
    "env, imported",
    [({}, False), ({"SYSFENCE_PROFILE": "x"}, True), ({"SYSFENCE": "x"}, True), ({"SYSFENCE_CAPS": "x"}, True),
     ({"SYSFENCE_ALLOW": "x"}, True), ({"SYSFENCE_DENY": "x"}, True), ({"SYSFENCE_ACTION": "x"}, True),
     ({"SYSFENCE_ETC": "/nonexistent"}, True), ({"SYSFENCE_REQUIRED": "1"}, False),
     ({"SYSFENCE_LIBSECCOMP": "/x"}, False),
     ({k: "" for k in ("SYSFENCE_PROFILE", "SYSFENCE", "SYSFENCE_CAPS", "SYSFENCE_ALLOW", "SYSFENCE_DENY",
                       "SYSFENCE_ACTION", "SYSFENCE_ETC")}, False)],
    ids=["nothing", "profile", "sysfence", "caps", "allow", "deny", "action", "etc", "required-alone",
         "libseccomp-alone", "all-empty"],
)
def test_pth_line_triggers_only_on_its_conditions(tmp_path, env, imported):
    """Execute the line exactly as site does (exec of an 'import' line), with sysfence._hook replaced by a stub
    that only records that it was imported. (Its other condition, /etc/sysfence/policy.toml existing, is the real
    path whatever SYSFENCE_ETC says; the autouse fixture skips this where that file exists.)"""
    stub = tmp_path / "stub" / "sysfence"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("")
    (stub / "_hook.py").write_text("")
    code = f"""
        import sys
        sys.path.insert(0, {str(stub.parent)!r})
        exec(open({str(SRC / 'sysfence.pth')!r}).read())
        print('sysfence._hook' in sys.modules)
    """
    r = _python(["-S", "-c", textwrap.dedent(code)], _env(**env), tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(imported)


# ------------------------------------------------------------------ 10. nested interpreters


def test_nested_interpreter_is_filtered_too(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    code = """
        import subprocess, sys
        r = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        sys.exit(r.returncode)
    """
    r = _python(["-c", textwrap.dedent(code)], _env(SYSFENCE_PROFILE="default"), tmp_path)
    assert r.returncode == 0, r.stderr
    res = ast.literal_eval(r.stdout.split("RESULT ", 1)[1])
    # the inherited filter only: the hook consumed SYSFENCE_PROFILE once it loaded the filter, so the child
    # does not stack the same filter again
    assert_filtered(res, filters=1)
    assert "sysfence._hook" not in res["early"] and res["unshare"] == EPERM and res["inet"] == 0, res


# ------------------------------------------------------------------ 11. the sysfence command is left alone

SCRIPT = Path(sys.executable).parent / "sysfence"  # the console script of the test venv
UNFILTERED = {"seccomp": "disabled", "filters": 0, "no_new_privs": False}


def _cli(how: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The sysfence command, started as `python -m sysfence` or as the console script (sysfence.pth processed)."""
    if how == "script":
        if not SCRIPT.exists():
            pytest.skip("console script not installed (pip install .)")
        cmd = [str(SCRIPT), *args]
    else:
        cmd = [sys.executable, "-m", "sysfence", *args]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


CLI_WAYS = ["-m", "script"]


@pytest.mark.parametrize("how", CLI_WAYS)
@pytest.mark.parametrize("env, chosen", [
    ({"SYSFENCE_PROFILE": "strict"}, ("strict", "SYSFENCE_PROFILE=strict")),
    ({"SYSFENCE_PROFILE": "strict", "SYSFENCE_DENY": "getcwd,openat"}, ("strict", "SYSFENCE_PROFILE=strict")),
    ({"SYSFENCE": "on", "SYSFENCE_DENY": "getcwd"}, ("default", "built-in default")),
], ids=["strict", "strict+deny", "on+deny"])
def test_cli_status_is_not_filtered_by_its_own_hook(tmp_path, how, env, chosen):
    """`status` reports the CLI process itself unfiltered and what `run` would apply -- while the same variables
    filter a plain interpreter before its first line."""
    r = _cli(how, ["status", "--json"], _env(**env), tmp_path)
    assert r.returncode == 0, (r.stdout, r.stderr)
    d = json.loads(r.stdout)
    assert d["process"] == UNFILTERED and d["state"] == "disabled", d
    assert (d["configuration"]["profile"], d["configuration"]["chosen_by"]) == chosen, d["configuration"]
    assert r.stderr == ""
    r = _cli(how, ["status"], _env(**env), tmp_path)
    assert r.returncode == 0 and "this process: seccomp disabled, 0 filter(s), NoNewPrivs 0" in r.stdout.splitlines()
    # control: the very same environment filters `python app.py`
    if "openat" in env.get("SYSFENCE_DENY", ""):  # ... so much that it cannot even open the script
        (tmp_path / "app.py").write_text(APP)
        r = _python([str(tmp_path / "app.py")], _env(**env), tmp_path)
        assert (r.returncode, r.stdout) == (2, ""), r
        assert r.stderr.endswith(f"can't open file '{tmp_path / 'app.py'}': [Errno 1] Operation not permitted\n"), r
        return
    res, err = run_app(tmp_path, **env)
    assert_filtered(res)
    if chosen[0] == "strict":
        assert (res["inet"], res["unix"], res["unshare"]) == (EPERM, EPERM, EPERM), res
    if "SYSFENCE_DENY" in env:
        assert res["getcwd"] == EPERM, res


def test_strict_filters_python_dash_c_but_not_python_dash_m_sysfence(tmp_path):
    probe = "print(open('/proc/self/status').read().count('Seccomp:\\t2'))"
    env = _env(SYSFENCE_PROFILE="strict")
    r = _python(["-c", probe], env, tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", "")
    r = _python(["-m", "sysfence", "--version"], env, tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("sysfence ") and r.stderr == "", r


@pytest.mark.parametrize("how", CLI_WAYS)
def test_cli_with_a_bad_environment_reports_instead_of_dying(tmp_path, how):
    """The hook would refuse SYSFENCE_PROFILE=bogus (exit 125); the CLI reports it: `status` in its configuration
    line (exit 0), `run` as its own error (exit 125); `list` is about the store and the policy, not the environment."""
    env = _env(SYSFENCE_PROFILE="bogus")
    error = f"SYSFENCE_PROFILE: unknown profile 'bogus'; {PROFILES}"
    r = _cli(how, ["status"], env, tmp_path)
    assert r.returncode == 0 and f"configured:  error: {error}" in r.stdout.splitlines(), (r.stdout, r.stderr)
    assert r.stderr == ""
    r = _cli(how, ["list"], env, tmp_path)
    assert r.returncode == 0 and r.stderr == "" and "REFUSED" not in r.stdout, (r.stdout, r.stderr)
    r = _cli(how, ["run", "--", sys.executable, "-S", "-c", MARK], env, tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (125, "", f"sysfence: error: {error}\n")
    assert not (tmp_path / "app-ran").exists()
    assert run_refused(tmp_path, env) == f"sysfence: error: {error}"  # control: the hook refuses a plain program


@needs_root
@pytest.mark.parametrize("how", CLI_WAYS)
def test_cli_works_while_the_system_policy_is_broken(tmp_path, etc, how):
    """A broken policy.toml stops every Python program (exit 125), but not the command that diagnoses it."""
    policy = write_policy(etc, "[mandatory\n")
    env = _env(SYSFENCE_ETC=str(etc))
    line = run_refused(tmp_path, env)
    assert line.startswith(f"sysfence: error: {policy}: not valid TOML: "), line
    error = line[len("sysfence: error: "):]
    r = _cli(how, ["status"], env, tmp_path)
    assert r.returncode == 0 and r.stderr == "", (r.stdout, r.stderr)
    assert f"configured:  error: {error}" in r.stdout.splitlines()
    assert "this process: seccomp disabled, 0 filter(s), NoNewPrivs 0" in r.stdout.splitlines()
    r = _cli(how, ["list"], env, tmp_path)
    assert r.returncode == 1 and r.stderr == "", (r.stdout, r.stderr)
    assert r.stdout.splitlines()[-1] == f"policy: REFUSED: {error}"
    r = _cli(how, ["list", "--json"], env, tmp_path)
    assert r.returncode == 1 and r.stderr == "", (r.stdout, r.stderr)
    assert json.loads(r.stdout)["policy"] == {"path": str(policy), "error": error}
    r = _cli(how, ["run", "--", sys.executable, "-S", "-c", MARK], env, tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (125, "", f"{line}\n")
    assert not (tmp_path / "app-ran").exists()


@needs_root
@pytest.mark.parametrize("how", CLI_WAYS)
def test_cli_under_a_mandatory_python_profile_is_left_to_run(tmp_path, etc, how):
    """[mandatory] applies_to = ["python"]: every Python program is filtered at start-up, but `sysfence run` is not
    bound by the python scope and its command gets exactly what `run` chose."""
    write_policy(etc, MANDATORY)
    env = _env(SYSFENCE_ETC=str(etc))
    r = _cli(how, ["status", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["process"] == UNFILTERED
    r = _cli(how, ["run", "--profile", "default", "--", sys.executable, "-S", "-c", CHILD_PROBE], env, tmp_path)
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["2", "1"], "")  # one filter, AF_INET allowed


@pytest.mark.parametrize("argv", [
    ["-c", CHILD_PROBE, "sysfence"],
    ["app.py", "sysfence"],
    ["-c", CHILD_PROBE, "-m", "sysfence"],
    ["app.py", "-m", "sysfence"],
    ["sysfence"],  # a script of that name that is not the installed console script
], ids=["c-then-arg-sysfence", "script-then-arg-sysfence", "c-then-m-sysfence", "script-then-m-sysfence",
        "script-named-sysfence"])
def test_only_the_sysfence_command_is_left_alone(tmp_path, argv):
    (tmp_path / "app.py").write_text(CHILD_PROBE)
    (tmp_path / "sysfence").write_text(CHILD_PROBE)
    r = _python(argv, _env(SYSFENCE_PROFILE="no-network"), tmp_path)
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["2", "1", str(EPERM)], "")


@needs_root
def test_a_program_given_dash_m_sysfence_as_arguments_is_bound_by_the_mandatory_profile(tmp_path, etc):
    write_policy(etc, MANDATORY)
    r = _python(["-c", CHILD_PROBE, "-m", "sysfence"], _env(SYSFENCE_ETC=str(etc)), tmp_path)
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["2", "1", str(EPERM)], "")
