"""Precedence of the settings layers and the mandatory system profile (policy.py), enforced for real.

Layers, lowest first: built-in < system policy.toml < project file < environment < `sysfence run` flags. Every
row runs `sysfence run ... -- python -S -P -c PROBE` in a child with a temporary store root (SYSFENCE_ETC) and a
temporary project directory as its working directory; PROBE prints its own Seccomp state from /proc and the
errno (or OK) of syscalls that tell the profiles apart:

    inet     socket(AF_INET)      default, read-only: OK   no-network: EPERM
    unix     socket(AF_UNIX)      default, no-network: OK  read-only: EPERM
    creat    open(O_CREAT)        default, no-network: OK  read-only: EPERM
    getcwd, uname                 OK unless a deny list or an action says otherwise

The probe runs with `-S` so the start-up hook (site-packages/sysfence.pth) never touches it: the filter it
reports is the one `sysfence run` loaded. It runs with `-P` because CPython resolves the '' entry of sys.path
with getcwd(), so `python -c` could not import anything where getcwd is denied.

The CLI itself is started three ways (CLIS): `python -S -m sysfence` (no site-packages, so certainly no start-up
hook), `python -m sysfence` and the `sysfence` console script. The last two are the real entry points: site
processes sysfence.pth there, and the start-up hook must recognise the sysfence command and leave it alone, so
that `run` alone applies every layer (built-in < system < project < environment < flags) in ONE filter. Every
row gives the same result and the same filter count through all three.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import child_env, run_py

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux-only"),
    pytest.mark.skipif(os.geteuid() != 0, reason="store files (SYSFENCE_ETC) are trusted only when owned by root"),
    pytest.mark.skipif(os.path.lexists("/etc/sysfence/policy.toml"),
                       reason="SYSFENCE_ETC is refused where /etc/sysfence/policy.toml exists"),
]

SCRIPT = os.path.join(os.path.dirname(sys.executable), "sysfence")  # the console script of the test venv
CLIS = {
    "-S": [sys.executable, "-S", "-m", "sysfence"],  # no site-packages: the start-up hook cannot run
    "-m": [sys.executable, "-m", "sysfence"],  # sysfence.pth processed; the hook must leave the CLI alone
    "script": [SCRIPT],  # the same through the console script
}
REAL_CLIS = ["-m", "script"]

PROBE = r"""
import errno, os, socket, sys
try:  # the marker: proof that the command started (profiles without file creation refuse it)
    open(sys.argv[1], "w").close()
except OSError:
    pass
with open("/proc/self/status") as f:
    st = dict(line.split(":", 1) for line in f if ":" in line)
print("Seccomp", st["Seccomp"].strip())
print("Seccomp_filters", st["Seccomp_filters"].strip())
def t(name, fn):
    try:
        fn()
        print(name, "OK")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
t("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
t("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
t("getcwd", os.getcwd)
t("uname", os.uname)
t("creat", lambda: os.close(os.open("probe-new-%d" % os.getpid(), os.O_WRONLY | os.O_CREAT, 0o600)))
"""

ALL_OK = {"inet": "OK", "unix": "OK", "getcwd": "OK", "uname": "OK", "creat": "OK"}
NO_NETWORK = {**ALL_OK, "inet": "EPERM"}
READ_ONLY = {**ALL_OK, "unix": "EPERM", "creat": "EPERM"}
MANDATORY = '[mandatory]\nprofile = "no-network"\n'

# A profile file that no built-in equals: no-network without getcwd.
CUSTOM = 'name = "custom"\nextends = "no-network"\ndeny = ["getcwd"]\n'
CUSTOM_RESULT = {**NO_NETWORK, "getcwd": "EPERM"}


class Env:
    """A temporary store root and project directory; the child runs in PROJECT/sub/work, so the project file
    is found by the upward search."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.root = tmp / "etc"
        self.proj = tmp / "proj"
        self.cwd = self.proj / "sub" / "work"
        self.marker = tmp / "ran"
        for d in (self.root, self.cwd):
            d.mkdir(parents=True)
        for d in (tmp, self.root, self.proj, self.proj / "sub", self.cwd):
            os.chmod(d, 0o755)
        self.policy = self.root / "policy.toml"

    def write(self, path: Path, text: str) -> Path:
        path.write_text(text.replace("{tmp}", str(self.tmp)))
        os.chmod(path, 0o644)
        return path

    def setup(self, system: str | None = None, project: str | tuple[str, str] | None = None) -> None:
        self.write(self.tmp / "custom.toml", CUSTOM)
        if system is not None:
            self.write(self.policy, system)
        if project is not None:
            name, text = project if isinstance(project, tuple) else ("sysfence.toml", project)
            self.write(self.proj / name, text)

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(SYSFENCE_ETC=str(self.root), PYTHONDONTWRITEBYTECODE="1",
                         **{k: v.replace("{tmp}", str(self.tmp)) for k, v in extra.items()})

    def run(self, *flags: str, env: dict[str, str] | None = None, cli: str = "-m") -> subprocess.CompletedProcess:
        """`sysfence run FLAGS -- python -S -P -c PROBE MARKER`, the CLI started as CLIS[cli]."""
        if cli == "script" and not os.path.exists(SCRIPT):
            pytest.skip("console script not installed (pip install .)")
        flags = tuple(f.replace("{tmp}", str(self.tmp)) for f in flags)
        return subprocess.run([*CLIS[cli], "run", *flags, "--", sys.executable, "-S", "-P", "-c", PROBE,
                               str(self.marker)],
                              env=env or self.env(), cwd=self.cwd, capture_output=True, text=True, timeout=30)

    def py(self, code: str, *, env: dict[str, str] | None = None, site: bool = True) -> subprocess.CompletedProcess:
        """A plain Python child (start-up hook active unless site=False)."""
        if site:
            return run_py(code, env=env or self.env(), cwd=self.cwd, timeout=30)
        return subprocess.run([sys.executable, "-S", "-c", textwrap.dedent(code)], env=env or self.env(),
                              cwd=self.cwd, capture_output=True, text=True, timeout=30)


@pytest.fixture
def fx(tmp_path: Path) -> Env:
    return Env(tmp_path)


def results(r: subprocess.CompletedProcess) -> dict[str, str]:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)


def refusal(r: subprocess.CompletedProcess, fx: Env) -> str:
    """Exit 125, exactly one stderr line, and the command never started."""
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("sysfence: error: "), lines
    assert not fx.marker.exists(), "the command ran"
    assert r.stdout == ""
    return lines[0]


def filtered(out: dict[str, str], filters: int, expect: dict[str, str]) -> None:
    assert out["Seccomp"] == "2", out
    assert out["Seccomp_filters"] == str(filters), out
    assert {k: out[k] for k in expect} == expect, out


# ------------------------------------------------------------------ the precedence table (no mandatory profile)

ROWS = [
    # id, system policy.toml, project file, environment, flags, expected probe results
    ("built-in default", None, None, {}, [], ALL_OK),
    ("system profile beats built-in", 'profile = "no-network"\n', None, {}, [], NO_NETWORK),
    ("project profile beats system", 'profile = "no-network"\n', 'profile = "read-only"\n', {}, [], READ_ONLY),
    ("pyproject [tool.sysfence] beats system", 'profile = "no-network"\n',
     ("pyproject.toml", '[project]\nname = "x"\n\n[tool.sysfence]\nprofile = "read-only"\n'), {}, [], READ_ONLY),
    ("project profile path is relative to the project file", None, 'profile = "../custom.toml"\n', {}, [],
     CUSTOM_RESULT),
    ("SYSFENCE_PROFILE beats project", 'profile = "no-network"\n', 'profile = "read-only"\n',
     {"SYSFENCE_PROFILE": "{tmp}/custom.toml"}, [], CUSTOM_RESULT),
    ("--profile beats SYSFENCE_PROFILE", 'profile = "no-network"\n', 'profile = "read-only"\n',
     {"SYSFENCE_PROFILE": "{tmp}/custom.toml"}, ["--profile", "default"], ALL_OK),
    ("--profile beats system and project", 'profile = "no-network"\n', 'profile = "read-only"\n', {},
     ["--profile", "default"], ALL_OK),
    # grants, denials and actions of every layer apply on top of the chosen profile, lowest layer first
    ("system deny applies under a profile a higher layer chose", 'deny = ["getcwd"]\n', 'profile = "read-only"\n',
     {}, [], {**READ_ONLY, "getcwd": "EPERM"}),
    ("system deny errno", 'deny = [{ syscalls = ["getcwd"], errno = "EACCES" }]\n', None, {}, [],
     {**ALL_OK, "getcwd": "EACCES"}),
    ("system deny + project allow: allowed", 'deny = ["getcwd"]\n', 'allow = ["getcwd"]\n', {}, [], ALL_OK),
    ("project deny + SYSFENCE_ALLOW: allowed", None, 'deny = ["getcwd"]\n', {"SYSFENCE_ALLOW": "getcwd"}, [],
     ALL_OK),
    ("project allow + SYSFENCE_DENY: denied", 'deny = ["getcwd"]\n', 'allow = ["getcwd"]\n',
     {"SYSFENCE_DENY": "getcwd"}, [], {**ALL_OK, "getcwd": "EPERM"}),
    ("SYSFENCE_DENY + --allow: allowed", None, None, {"SYSFENCE_DENY": "getcwd,uname"}, ["--allow", "getcwd"],
     {**ALL_OK, "uname": "EPERM"}),
    ("SYSFENCE_ALLOW + --deny: denied", 'deny = ["getcwd"]\n', None, {"SYSFENCE_ALLOW": "getcwd"},
     ["--deny", "getcwd"], {**ALL_OK, "getcwd": "EPERM"}),
    ("system EACCES + SYSFENCE_DENY: EPERM", 'deny = [{ syscalls = ["getcwd"], errno = "EACCES" }]\n', None,
     {"SYSFENCE_DENY": "getcwd"}, [], {**ALL_OK, "getcwd": "EPERM"}),
    ("SYSFENCE_DENY + --action getcwd=EACCES: EACCES", None, None, {"SYSFENCE_DENY": "getcwd"},
     ["--action", "getcwd=EACCES"], {**ALL_OK, "getcwd": "EACCES"}),
    ("SYSFENCE_ACTION getcwd=EACCES + --deny: EPERM", None, None, {"SYSFENCE_ACTION": "getcwd=EACCES"},
     ["--deny", "getcwd"], {**ALL_OK, "getcwd": "EPERM"}),
    ("project [action] + SYSFENCE_ACTION: environment's errno", None, '[action]\ngetcwd = "EACCES"\n',
     {"SYSFENCE_ACTION": "getcwd=ENOENT"}, [], {**ALL_OK, "getcwd": "ENOENT"}),
    ("project capability on the system's profile", 'profile = "no-network"\n', 'capabilities = ["net-client"]\n',
     {}, [], ALL_OK),
    ("... then SYSFENCE_DENY=socket", 'profile = "no-network"\n', 'capabilities = ["net-client"]\n',
     {"SYSFENCE_DENY": "socket"}, [], {**ALL_OK, "inet": "EPERM", "unix": "EPERM"}),
    ("... then --cap net-client: AF_INET only", 'profile = "no-network"\n', 'capabilities = ["net-client"]\n',
     {"SYSFENCE_DENY": "socket"}, ["--cap", "net-client"], {**ALL_OK, "unix": "EPERM"}),
    ("system capability survives a higher profile", 'capabilities = ["net-client"]\n', 'profile = "no-network"\n',
     {}, [], ALL_OK),
]


@pytest.mark.parametrize("cli", list(CLIS))
@pytest.mark.parametrize("system, project, env, flags, expect", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_precedence_table(fx, system, project, env, flags, expect, cli):
    fx.setup(system, project)
    r = fx.run(*flags, env=fx.env(**env), cli=cli)
    filtered(results(r), 1, expect)  # one filter, whatever the entry point: `run` applied every layer itself
    assert r.stderr == ""


# ------------------------------------------------------------------ required and disabling

MISSING_LIB = "/nonexistent/libseccomp.so.2"
REQUIRED_ROWS = [
    ("built-in: optional", None, None, {}, [], False),
    ("system required", "required = true\n", None, {}, [], True),
    ("SYSFENCE_REQUIRED=0 beats system", "required = true\n", None, {"SYSFENCE_REQUIRED": "0"}, [], False),
    ("project required=false beats system", "required = true\n", "required = false\n", {}, [], False),
    ("project required=true beats system", "required = false\n", "required = true\n", {}, [], True),
    ("SYSFENCE_REQUIRED=1 beats project", "required = true\n", "required = false\n", {"SYSFENCE_REQUIRED": "1"},
     [], True),
    ("--required beats SYSFENCE_REQUIRED=0", "required = true\n", None, {"SYSFENCE_REQUIRED": "0"}, ["--required"],
     True),
    ("mandatory: required by default", MANDATORY, None, {}, [], True),
    ("mandatory with required = false", MANDATORY + "required = false\n", None, {}, [], False),
]


@pytest.mark.parametrize("system, project, env, flags, fatal", [r[1:] for r in REQUIRED_ROWS],
                         ids=[r[0] for r in REQUIRED_ROWS])
def test_required_when_libseccomp_is_missing(fx, system, project, env, flags, fatal):
    fx.setup(system, project)
    r = fx.run(*flags, env=fx.env(SYSFENCE_LIBSECCOMP=MISSING_LIB, **env))
    if fatal:
        line = refusal(r, fx)
        assert "seccomp enforcement required but unavailable" in line and MISSING_LIB in line, line
    else:
        out = results(r)
        assert out["Seccomp"] == "0" and out["inet"] == "OK", out
        assert "WITHOUT a seccomp filter" in r.stderr and MISSING_LIB in r.stderr, r.stderr
        assert fx.marker.exists()


@pytest.mark.parametrize("cli", list(CLIS))
@pytest.mark.parametrize("env, flags, why", [
    ({"SYSFENCE": "off"}, [], "SYSFENCE=off"),
    ({}, ["--no-filter"], "--no-filter"),
    ({"SYSFENCE_PROFILE": "no-network"}, ["--no-filter"], "--no-filter"),
    ({"SYSFENCE_PROFILE": "no-network", "SYSFENCE_DENY": "getcwd"}, ["--no-filter"], "--no-filter"),
])
def test_disabling_beats_every_profile_without_a_mandatory_one(fx, env, flags, why, cli):
    fx.setup('profile = "no-network"\nrequired = false\n', 'profile = "read-only"\n')
    r = fx.run(*flags, env=fx.env(**env), cli=cli)
    out = results(r)
    assert (out["Seccomp"], out["Seccomp_filters"]) == ("0", "0"), out
    assert {k: out[k] for k in ALL_OK} == ALL_OK, out
    assert r.stderr == f"sysfence: {why}: seccomp filtering is DISABLED (debugging)\n", r.stderr


@pytest.mark.parametrize("cli", list(CLIS))
def test_disabling_conflicts_with_required_from_any_layer(fx, cli):
    fx.setup("required = true\n")
    r = fx.run("--no-filter", cli=cli)
    assert refusal(r, fx) == ("sysfence: error: --no-filter conflicts with required enforcement (SYSFENCE_REQUIRED "
                              "or required=True)")


@pytest.mark.parametrize("which", ["system", "project"])
def test_an_untrusted_layer_is_refused_not_skipped(fx, which):
    """A group-writable policy or project file stops `run` (exit 125) rather than be ignored: skipping it would
    silently drop that layer's denials."""
    fx.setup('deny = ["getcwd"]\n', 'deny = ["uname"]\n')
    path = fx.policy if which == "system" else fx.proj / "sysfence.toml"
    os.chmod(path, 0o664)
    line = refusal(fx.run(), fx)
    assert line == f"sysfence: error: {path}: untrusted file: group-writable (owner uid 0, mode 0664)", line


# ------------------------------------------------------------------ the real entry points (sysfence.pth processed)


@pytest.mark.parametrize("cli", REAL_CLIS)
def test_real_cli_env_profile_beats_project(fx, cli):
    fx.setup('profile = "no-network"\n', 'profile = "read-only"\n')
    r = fx.run(env=fx.env(SYSFENCE_PROFILE="no-network"), cli=cli)
    filtered(results(r), 1, NO_NETWORK)
    assert r.stderr == ""


@pytest.mark.parametrize("cli", REAL_CLIS)
def test_real_cli_env_project_and_flags_make_one_filter(fx, cli):
    fx.setup(None, 'deny = ["uname"]\n')
    r = fx.run("--deny", "getcwd", env=fx.env(SYSFENCE_PROFILE="no-network"), cli=cli)
    # the hook left the CLI process alone: `run` put the environment's profile, the project's denial and the
    # flag's denial into one filter
    filtered(results(r), 1, {**NO_NETWORK, "uname": "EPERM", "getcwd": "EPERM"})


@pytest.mark.parametrize("cli", REAL_CLIS)
def test_real_cli_flag_profile_beats_env_profile(fx, cli):
    fx.setup()
    r = fx.run("--profile", "default", env=fx.env(SYSFENCE_PROFILE="no-network"), cli=cli)
    filtered(results(r), 1, ALL_OK)
    assert r.stderr == ""


@pytest.mark.parametrize("cli", REAL_CLIS)
@pytest.mark.parametrize("env", [{"SYSFENCE_PROFILE": "default", "SYSFENCE_DENY": "getcwd"},
                                 {"SYSFENCE_DENY": "getcwd"}], ids=["with-profile", "deny-alone"])
def test_real_cli_env_denying_getcwd(fx, cli, env):
    """The CLI calls getcwd() to find the project file; the environment's denial is for the command only."""
    fx.setup()
    r = fx.run(env=fx.env(**env), cli=cli)
    filtered(results(r), 1, {**ALL_OK, "getcwd": "EPERM"})
    assert r.stderr == ""


@pytest.mark.parametrize("cli", REAL_CLIS)
def test_real_cli_env_profile_that_cannot_exec_is_refused_by_run(fx, cli):
    """strict denies execve: had the hook filtered the CLI with it, `run` could not even start the command; it is
    `run` that refuses it, with its own message, before loading anything."""
    fx.setup()
    r = fx.run(env=fx.env(SYSFENCE_PROFILE="strict"), cli=cli)
    assert refusal(r, fx) == (
        "sysfence: error: profile 'strict' denies execve, so no program can be started under it; call "
        "sysfence.enable('strict') inside the program, or start a Python program with SYSFENCE_PROFILE=strict "
        "python ...")


PROFILES = "profiles: default, net-client, net-server, no-network, no-spawn, read-only, strict"
BAD_KEY = ("unknown key 'bogus'; valid keys: action, allow, capabilities, default_action, default_errno, deny, "
           "description, extends, name, rule, table, unknown_errno")
PROFILE_ERRORS = [
    # id, system policy.toml, project file, environment, flags, the exact error after "sysfence: error: "
    ("system", 'profile = "bogus"\n', None, {}, [],
     f"{{root}}/policy.toml: profile: unknown profile 'bogus'; {PROFILES}"),
    ("project", None, 'profile = "nope.toml"\n', {}, [],
     "{proj}/sysfence.toml: profile: {proj}/nope.toml: cannot read profile: No such file or directory"),
    ("project bad file", None, 'profile = "../bad.toml"\n', {}, [],
     f"{{proj}}/sysfence.toml: profile: {{proj}}/../bad.toml: {BAD_KEY}"),
    ("pyproject", None, ("pyproject.toml", '[tool.sysfence]\nprofile = "no-netwrk"\n'), {}, [],
     "{proj}/pyproject.toml: [tool.sysfence]: profile: unknown profile 'no-netwrk' (did you mean 'no-network'?)"),
    ("SYSFENCE_PROFILE name", None, None, {"SYSFENCE_PROFILE": "bogus"}, [],
     f"SYSFENCE_PROFILE: unknown profile 'bogus'; {PROFILES}"),
    ("SYSFENCE_PROFILE file", None, None, {"SYSFENCE_PROFILE": "{tmp}/missing.toml"}, [],
     "SYSFENCE_PROFILE: {tmp}/missing.toml: cannot read profile: No such file or directory"),
    ("--profile name", None, None, {}, ["--profile", "no-netwrk"],
     "--profile: unknown profile 'no-netwrk' (did you mean 'no-network'?)"),
    ("--profile file", None, None, {}, ["--profile", "{tmp}/bad.toml"], f"--profile: {{tmp}}/bad.toml: {BAD_KEY}"),
    ("--profile beats a bad SYSFENCE_PROFILE", None, None, {"SYSFENCE_PROFILE": "bogus"},
     ["--profile", "{tmp}/bad.toml"], f"--profile: {{tmp}}/bad.toml: {BAD_KEY}"),
    ("mandatory name", '[mandatory]\nprofile = "bogus"\n', None, {}, [],
     f"{{root}}/policy.toml: [mandatory] profile = 'bogus': unknown profile 'bogus'; {PROFILES}"),
    ("mandatory file", '[mandatory]\nprofile = "{tmp}/bad.toml"\n', None, {}, [],
     f"{{root}}/policy.toml: [mandatory] profile = '{{tmp}}/bad.toml': {{tmp}}/bad.toml: {BAD_KEY}"),
]


@pytest.mark.parametrize("cli", REAL_CLIS)
@pytest.mark.parametrize("system, project, env, flags, error", [r[1:] for r in PROFILE_ERRORS],
                         ids=[r[0] for r in PROFILE_ERRORS])
def test_profile_errors_name_the_setting_once(fx, system, project, env, flags, error, cli):
    """An error about a profile is prefixed with the key, variable or flag that named it -- without its value,
    which the message itself already quotes."""
    fx.setup(system, project)
    fx.write(fx.tmp / "bad.toml", "name = 'bad'\nbogus = 1\n")
    line = refusal(fx.run(*flags, env=fx.env(**env), cli=cli), fx)
    assert line == "sysfence: error: " + error.format(root=fx.root, proj=fx.proj, tmp=fx.tmp), line


# ------------------------------------------------------------------ mandatory profile: loosening is refused

EVERYTHING = "_sysctl, acct, add_key, adjtimex, afs_syscall, ..."  # the first five no-network denies, sorted
OPTIONAL = "making enforcement optional is"
DISABLING = "disabling the filter is"


def would(names: str) -> str:
    return f"would allow {names}, which mandatory profile 'no-network' denies:"


LOOSENING = [
    # id, system settings above [mandatory], project file, environment, flags, the setting named, what it would do
    ("system profile", 'profile = "default"\n', None, {}, [], "{root}/policy.toml: profile = 'default'",
     would("socket, socketpair")),
    ("system required=false", "required = false\n", None, {}, [], "{root}/policy.toml: required", OPTIONAL),
    ("system allow", 'allow = ["socket"]\n', None, {}, [], "{root}/policy.toml: allow", would("socket")),
    ("system capabilities", 'capabilities = ["net-client"]\n', None, {}, [], "{root}/policy.toml: capabilities",
     would("socket")),
    ("system default_action", 'default_action = "allow"\n', None, {}, [], "{root}/policy.toml: default_action",
     would(EVERYTHING)),
    ("project profile", "", 'profile = "default"\n', {}, [], "{proj}/sysfence.toml: profile = 'default'",
     would("socket, socketpair")),
    ("project read-only profile", "", 'profile = "read-only"\n', {}, [],
     "{proj}/sysfence.toml: profile = 'read-only'", would("socket")),
    ("project capabilities", "", 'capabilities = ["net-client"]\n', {}, [], "{proj}/sysfence.toml: capabilities",
     would("socket")),
    ("project allow", "", 'allow = ["socket"]\n', {}, [], "{proj}/sysfence.toml: allow", would("socket")),
    ("project deny and allow: the allow", "", 'deny = ["uname"]\nallow = ["socket"]\n', {}, [],
     "{proj}/sysfence.toml: allow", would("socket")),
    ("project rule", "", '[[rule]]\nsyscall = "socket"\naction = "allow"\nwhen = [{ arg = 0, op = "eq", value = 2 }]\n',
     {}, [], "{proj}/sysfence.toml: rule", would("socket")),
    ("project action", "", '[action]\nsocket = "allow"\n', {}, [], "{proj}/sysfence.toml: action", would("socket")),
    ("project default_action", "", 'default_action = "log"\n', {}, [], "{proj}/sysfence.toml: default_action",
     would(EVERYTHING)),
    ("project action and default_action", "", 'default_action = "log"\n[action]\nsocket = "allow"\n', {}, [],
     "{proj}/sysfence.toml: action/default_action", would(EVERYTHING)),
    ("project required=false", "", "required = false\n", {}, [], "{proj}/sysfence.toml: required", OPTIONAL),
    ("pyproject allow", "", ("pyproject.toml", '[tool.sysfence]\nallow = ["socket"]\n'), {}, [],
     "{proj}/pyproject.toml: [tool.sysfence]: allow", would("socket")),
    ("pyproject capabilities", "", ("pyproject.toml", '[tool.sysfence]\ncapabilities = ["net-client"]\n'), {}, [],
     "{proj}/pyproject.toml: [tool.sysfence]: capabilities", would("socket")),
    ("pyproject profile", "", ("pyproject.toml", '[tool.sysfence]\nprofile = "default"\n'), {}, [],
     "{proj}/pyproject.toml: [tool.sysfence]: profile = 'default'", would("socket, socketpair")),
    ("SYSFENCE_PROFILE", "", None, {"SYSFENCE_PROFILE": "default"}, [], "SYSFENCE_PROFILE=default",
     would("socket, socketpair")),
    ("SYSFENCE_CAPS", "", None, {"SYSFENCE_CAPS": "net-client"}, [], "SYSFENCE_CAPS=net-client", would("socket")),
    ("SYSFENCE_ALLOW", "", None, {"SYSFENCE_ALLOW": "socket"}, [], "SYSFENCE_ALLOW=socket", would("socket")),
    ("SYSFENCE_ACTION=allow", "", None, {"SYSFENCE_ACTION": "allow"}, [], "SYSFENCE_ACTION=allow",
     would(EVERYTHING)),
    ("SYSFENCE_ACTION=log", "", None, {"SYSFENCE_ACTION": "log"}, [], "SYSFENCE_ACTION=log", would(EVERYTHING)),
    ("SYSFENCE_ACTION=socket=allow", "", None, {"SYSFENCE_ACTION": "socket=allow"}, [],
     "SYSFENCE_ACTION=socket=allow", would("socket")),
    ("SYSFENCE=off", "", None, {"SYSFENCE": "off"}, [], "SYSFENCE=off", DISABLING),
    ("SYSFENCE_REQUIRED=0", "", None, {"SYSFENCE_REQUIRED": "0"}, [], "SYSFENCE_REQUIRED", OPTIONAL),
    ("--profile", "", None, {}, ["--profile", "default"], "--profile default", would("socket, socketpair")),
    ("--profile beats a tight SYSFENCE_PROFILE, then is refused", "", None, {"SYSFENCE_PROFILE": "no-network"},
     ["--profile", "default"], "--profile default", would("socket, socketpair")),
    ("--cap", "", None, {}, ["--cap", "net-client"], "--cap net-client", would("socket")),
    ("--allow", "", None, {}, ["--allow", "socket"], "--allow socket", would("socket")),
    ("--action allow", "", None, {}, ["--action", "allow"], "--action allow", would(EVERYTHING)),
    ("--action log", "", None, {}, ["--action", "log"], "--action log", would(EVERYTHING)),
    ("--action socket=allow", "", None, {}, ["--action", "socket=allow"], "--action socket=allow", would("socket")),
    ("--no-filter", "", None, {}, ["--no-filter"], "--no-filter", DISABLING),
]


def refused_by(fx: Env, scopes: str = "python, run") -> str:
    return (f"refused by {fx.policy}: [mandatory] profile = 'no-network' (mandatory for {scopes}; it can only be "
            "tightened)")


@pytest.mark.parametrize("scope", [None, '["run"]'], ids=["applies_to=default", "applies_to=run"])
@pytest.mark.parametrize("system, project, env, flags, setting, what", [r[1:] for r in LOOSENING],
                         ids=[r[0] for r in LOOSENING])
def test_mandatory_refuses_loosening(fx, scope, system, project, env, flags, setting, what):
    fx.setup(system + MANDATORY + (f"applies_to = {scope}\n" if scope else ""), project)
    line = refusal(fx.run(*flags, env=fx.env(**env)), fx)
    named = setting.format(root=fx.root, proj=fx.proj)
    assert line == f"sysfence: error: {named}: {what} {refused_by(fx, 'run' if scope else 'python, run')}", line


@pytest.mark.parametrize("cli", REAL_CLIS)
@pytest.mark.parametrize("env, flags, setting, what", [
    ({"SYSFENCE_PROFILE": "default"}, [], "SYSFENCE_PROFILE=default", would("socket, socketpair")),
    ({"SYSFENCE_ALLOW": "socket"}, [], "SYSFENCE_ALLOW=socket", would("socket")),
    ({}, ["--profile", "default"], "--profile default", would("socket, socketpair")),
    ({}, ["--no-filter"], "--no-filter", DISABLING),
], ids=["SYSFENCE_PROFILE", "SYSFENCE_ALLOW", "--profile", "--no-filter"])
def test_mandatory_refuses_loosening_through_every_entry_point(fx, cli, env, flags, setting, what):
    fx.setup(MANDATORY)
    line = refusal(fx.run(*flags, env=fx.env(**env), cli=cli), fx)
    assert line == f"sysfence: error: {setting}: {what} {refused_by(fx)}", line


TIGHTENING = [
    # id, system settings above [mandatory], project file, environment, flags, filters, expected probe results
    ("--deny", "", None, {}, ["--deny", "uname"], 2, {**NO_NETWORK, "uname": "EPERM"}),
    ("--action errno", "", None, {}, ["--action", "uname=EACCES"], 2, {**NO_NETWORK, "uname": "EACCES"}),
    ("SYSFENCE_DENY", "", None, {"SYSFENCE_DENY": "uname"}, [], 2, {**NO_NETWORK, "uname": "EPERM"}),
    ("SYSFENCE_ACTION errno", "", None, {"SYSFENCE_ACTION": "uname=EACCES"}, [], 2,
     {**NO_NETWORK, "uname": "EACCES"}),
    ("project deny", "", 'deny = ["uname"]\n', {}, [], 2, {**NO_NETWORK, "uname": "EPERM"}),
    ("system deny", 'deny = ["uname"]\n', None, {}, [], 2, {**NO_NETWORK, "uname": "EPERM"}),
    ("every layer adds one", 'deny = ["uname"]\n', '[action]\nuname = "EACCES"\n',
     {"SYSFENCE_ACTION": "uname=ENOENT"}, ["--action", "uname=ESRCH"], 2, {**NO_NETWORK, "uname": "ESRCH"}),
    ("system default_errno", 'default_errno = "EACCES"\n', None, {}, [], 2, {**NO_NETWORK, "inet": "EACCES"}),
    ("SYSFENCE_PROFILE same as mandatory", "", None, {"SYSFENCE_PROFILE": "no-network"}, [], 1, NO_NETWORK),
    ("--profile same as mandatory", "", None, {}, ["--profile", "no-network"], 1, NO_NETWORK),
    ("SYSFENCE_REQUIRED=1", "", None, {"SYSFENCE_REQUIRED": "1"}, ["--required"], 1, NO_NETWORK),
    ("system profile same as mandatory", 'profile = "no-network"\n', None, {}, [], 1, NO_NETWORK),
]


@pytest.mark.parametrize("cli", list(CLIS))
@pytest.mark.parametrize("system, project, env, flags, filters, expect", [r[1:] for r in TIGHTENING],
                         ids=[r[0] for r in TIGHTENING])
def test_mandatory_allows_tightening_and_stacks(fx, system, project, env, flags, filters, expect, cli):
    """The mandatory profile is its own filter; everything else is at most ONE more, through every entry point."""
    fx.setup(system + MANDATORY, project)
    r = fx.run(*flags, env=fx.env(**env), cli=cli)
    filtered(results(r), filters, expect)
    assert fx.marker.exists()
    assert r.stderr == ""


@pytest.mark.parametrize("cli", list(CLIS))
def test_mandatory_tightening_by_denying_getcwd(fx, cli):
    """The project denies getcwd under a mandatory 'python' scope: the CLI (which needs getcwd to find that very
    file) is not filtered by its hook, and the command gets both filters."""
    fx.setup(MANDATORY, 'deny = ["getcwd"]\n')
    r = fx.run(cli=cli)
    filtered(results(r), 2, {**NO_NETWORK, "getcwd": "EPERM"})
    assert r.stderr == ""


# ------------------------------------------------------------------ mandatory profile in Python (enable(), the hook)

STATE = """
import errno, socket, sysfence
def state(tag):
    with open("/proc/self/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        inet = "OK"
    except OSError as e:
        inet = errno.errorcode[e.errno]
    print(tag, st["Seccomp"].strip(), st["Seccomp_filters"].strip(), inet)
"""


def lines(r: subprocess.CompletedProcess) -> list[str]:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.splitlines()


def test_enable_without_arguments_loads_the_mandatory_profile(fx):
    fx.setup(MANDATORY)
    code = STATE + """
state("start")
st = sysfence.enable()
print("status", st.profile, st.profiles)
state("after")
st = sysfence.enable("no-network", deny=["getcwd"])
print("stacked", st.filters, st.profiles)
import os
try:
    os.getcwd()
except PermissionError:
    print("getcwd EPERM")
"""
    # without the hook (-S): enable() itself loads the mandatory profile
    assert lines(fx.py(code, site=False)) == [
        "start 0 0 OK", "status no-network ('no-network',)", "after 2 1 EPERM", "stacked 2 ('no-network', 'no-network')",
        "getcwd EPERM",
    ]
    # with the hook: it was loaded at start-up, and enable() is then a no-op
    assert lines(fx.py(code))[:3] == ["start 2 1 EPERM", "status no-network ('no-network',)", "after 2 1 EPERM"]


@pytest.mark.parametrize("site", [False, True], ids=["enable", "hook+enable"])
@pytest.mark.parametrize("call, setting, names", [
    ('"default"', "sysfence.enable('default')", "socket, socketpair"),
    ('"read-only"', "sysfence.enable('read-only')", "socket"),
    ('capabilities=["net-client"]', "capabilities=net-client", "socket"),
    ('allow=["socket"]', "allow=socket", "socket"),
    ('actions=["allow"]', "actions=allow", EVERYTHING),
    ('actions=["socket=allow"]', "actions=socket=allow", "socket"),
])
def test_enable_refuses_loosening_a_mandatory_profile(fx, site, call, setting, names):
    """The refusal names the call's setting (with its value) and the rule that forbids it."""
    fx.setup(MANDATORY)
    code = STATE + f"""
try:
    sysfence.enable({call})
except sysfence.LooseningError as e:
    print("refused", e)
state("after")
"""
    out = lines(fx.py(code, site=site))
    assert out[0] == f"refused {setting}: {would(names)} {refused_by(fx)}", out
    # nothing was loaded by the refused call: only the hook's mandatory filter, if the hook ran
    assert out[1:] == ["after 2 1 EPERM" if site else "after 0 0 OK"], out


def test_enable_profile_errors_are_not_prefixed(fx):
    """Errors about the profile enable() was given carry no setting prefix: the caller named it in code."""
    fx.setup(MANDATORY)
    out = lines(fx.py(STATE + """
for name in ("bogus", "no-netwrk", "/missing.toml"):
    try:
        sysfence.enable(name)
    except sysfence.ProfileError as e:
        print(type(e).__name__, e)
state("after")
""", site=False))
    assert out == [
        "ProfileError unknown profile 'bogus'; profiles: default, net-client, net-server, no-network, no-spawn, "
        "read-only, strict",
        "ProfileError unknown profile 'no-netwrk' (did you mean 'no-network'?)",
        "ProfileError /missing.toml: cannot read profile: No such file or directory",
        # every filter is resolved before any is loaded: not even the mandatory base was stacked
        "after 0 0 OK",
    ], out


def test_mandatory_python_scope_refuses_sysfence_off_at_start_up(fx):
    fx.setup(MANDATORY)
    r = fx.py(f"open({str(fx.marker)!r}, 'w').close()", env=fx.env(SYSFENCE="off"))
    assert refusal(r, fx) == f"sysfence: error: SYSFENCE=off: {DISABLING} {refused_by(fx)}"


def test_applies_to_run_leaves_python_alone(fx):
    fx.setup(MANDATORY + 'applies_to = ["run"]\n')
    out = lines(fx.py(STATE + 'state("start")\nprint(sysfence.enable("default").profile)\nstate("after")\n'))
    assert out == ["start 0 0 OK", "default", "after 2 1 OK"]
    for cli in CLIS:
        line = refusal(fx.run("--profile", "default", cli=cli), fx)
        assert line == f"sysfence: error: --profile default: {would('socket, socketpair')} {refused_by(fx, 'run')}"


def test_applies_to_python_leaves_run_alone(fx):
    fx.setup(MANDATORY + 'applies_to = ["python"]\n')
    # every Python program gets the mandatory profile at start-up; enable() cannot loosen it
    out = lines(fx.py(STATE + """
state("start")
try:
    sysfence.enable("default")
except sysfence.LooseningError as e:
    print("refused", e)
"""))
    assert out == ["start 2 1 EPERM",
                   f"refused sysfence.enable('default'): {would('socket, socketpair')} {refused_by(fx, 'python')}"]
    # `sysfence run` is not bound, whichever way it is started: the start-up hook leaves the CLI process alone
    for cli in CLIS:
        r = fx.run("--profile", "default", cli=cli)
        filtered(results(r), 1, ALL_OK)
        assert r.stderr == ""


def test_kernel_keeps_the_mandatory_denial_under_an_allow_everything_filter(fx):
    """Stacking can only tighten: a filter that allows everything, loaded with raw prctl(PR_SET_SECCOMP) on top
    of the mandatory one, changes nothing."""
    fx.setup(MANDATORY)
    out = lines(fx.py(STATE + """
import ctypes
class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]
class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]
state("start")
insns = (SockFilter * 1)(SockFilter(0x06, 0, 0, 0x7FFF0000))  # BPF_RET|BPF_K SECCOMP_RET_ALLOW
prog = SockFprog(1, insns)
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
rc = libc.prctl(22, 2, ctypes.byref(prog), 0, 0)  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
print("prctl", rc, ctypes.get_errno() if rc else 0)
state("after")
"""))
    assert out == ["start 2 1 EPERM", "prctl 0 0", "after 2 2 EPERM"]


def test_flag_profile_beats_env_profile_for_a_python_command_too(fx: Env):
    """`run` consumes SYSFENCE_PROFILE once it loaded the filter, so a Python command's own start-up hook does
    not stack the environment's profile on top of the one the flag chose."""
    fx.setup()
    r = subprocess.run([*CLIS["-m"], "run", "--profile", "default", "--", sys.executable, "-P", "-c", PROBE,
                        str(fx.marker)], env=fx.env(SYSFENCE_PROFILE="no-network"), cwd=fx.cwd,
                       capture_output=True, text=True, timeout=30)
    filtered(results(r), 1, ALL_OK)
    assert r.stderr == ""
