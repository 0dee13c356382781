"""Profile files: parsing, validation (one clear line naming file, key and value), composition rules."""

from __future__ import annotations

import errno

import pytest

from sysfence import ProfileError, UnknownSyscallError, profile
from sysfence.rules import ALLOW, ENOSYS, EPERM, Action, ArgCondition, Kind, Op, Rule, RuleSet

TIOCSTI_ARGS = (0, 0x5412, 0, 0, 0, 0)

GOOD = b"""
name = "mini"
description = "tiny"
capabilities = ["runtime", "terminal"]
allow = ["getcwd"]
deny = ["ptrace", { syscalls = ["mount"], errno = "EACCES", reason = "no" }]
default_errno = "EPERM"
[[rule]]
syscall = "socket"
action = "allow"
when = [{ arg = 0, op = "masked_eq", mask = 0xffffffff, value = 1 }]
[action]
reboot = "kill-process"
chroot = "EACCES"
"""


def test_good_profile_parses():
    rs = profile.parse(GOOD, "mini.toml").ruleset()
    assert rs.decide("getcwd") == ALLOW and rs.decide("exit_group") == ALLOW
    assert rs.decide("ptrace") == EPERM
    assert rs.decide("mount") == Action(Kind.ERRNO, errno.EACCES)
    assert rs.decide("reboot") == Action(Kind.KILL_PROCESS)
    assert rs.decide("chroot") == Action(Kind.ERRNO, errno.EACCES)
    assert rs.decide("ioctl", TIOCSTI_ARGS) == EPERM
    assert rs.decide("ioctl", (0, 0x1_0000_5412, 0, 0, 0, 0)) == EPERM  # low 32 bits only
    assert rs.decide("ioctl", (0, 0x5413, 0, 0, 0, 0)) == ALLOW
    assert rs.decide("socket", (1, 0, 0, 0, 0, 0)) == ALLOW
    assert rs.decide("socket", (2, 0, 0, 0, 0, 0)) == EPERM
    assert rs.decide("openat") == EPERM  # in the table, not granted
    assert rs.decide("clone3") == ENOSYS  # not granted: ENOSYS so glibc falls back
    assert rs.decide("mseal") == ENOSYS  # newer than the table


@pytest.mark.parametrize(
    "text, message",
    [
        (b"allow = ['ptrase']", "bad.toml: allow[0]: unknown syscall 'ptrase' (did you mean 'ptrace'?)"),
        (b"deny = ['mout']", "bad.toml: deny[0]: unknown syscall 'mout' (did you mean 'mount'?)"),
        (b"capabilities = ['net-clinet']", "capabilities[0]: unknown capability 'net-clinet' (did you mean 'net-client'?)"),
        (b"capabilities = 'stdio'", "capabilities must be an array"),
        (b"nmae = 'x'", "unknown key 'nmae' (did you mean 'name'?)"),
        (b"default_action = 'alow'", "default_action: unknown action 'alow' (did you mean 'allow'?)"),
        (b"default_errno = 'EPRM'", "unknown errno 'EPRM' (did you mean 'EPERM'?)"),
        (b"default_errno = 0", "errno 0 out of range"),
        (b"default_action = 'allow'\ndefault_errno = 'EPERM'", "errno is only meaningful with action = 'errno'"),
        (b"deny = [{ syscalls = ['read'], errno = 'ENOPE' }]", "deny[0].errno: unknown errno 'ENOPE'"),
        (b"deny = [{ syscall = ['read'] }]", "deny[0]: unknown key 'syscall' (did you mean 'syscalls'?)"),
        (b"deny = [3]", "deny[0]: must be a syscall name"),
        (b"deny = 'read'", "deny must be an array"),
        (b"allow = [1]", "allow[0] must be a syscall name"),
        (b"[action]\nptrace = 'kil'", "action.ptrace: unknown action 'kil'"),
        (b"[action]\nptrase = 'trap'", "action.ptrase: unknown syscall 'ptrase' (did you mean 'ptrace'?)"),
        (b"action = 3", "action must be a table"),
        (b"name = 3", "name must be a string"),
        (b"rule = 5", "rule must be an array of tables"),
        (b"name = [", "not valid TOML"),
        (b"\xff\xfe", "not valid TOML"),
        (b"[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='masked_eq', mask=0xff, value=0x5412}]", "has bits outside mask"),
        (b"[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=7, op='eq', value=1}]", "argument index 7 out of range"),
        (b"[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='equals', value=1}]", "op must be one of"),
        (b"[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='eq', value=1, mask=3}]", "mask is only meaningful"),
        (b"[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='eq', value=-1}]", "does not fit in 64 bits"),
        (b"[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='ne', value=1}, {arg=1, op='ne', value=2}]", "a second condition on arg 1"),
        (b"[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[]", "when must be a non-empty array"),
        (b"[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='eq', value='x'}]", "value must be an integer"),
        (b"allow=['ioctl']\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='eq', value=1}]\n[[rule]]\nsyscall='ioctl'\naction='errno'\nerrno='EACCES'\nwhen=[{arg=1, op='eq', value=2}]", "must all have the same action"),
        (b"extends='nonesuch'", "bad.toml: extends: unknown profile 'nonesuch'"),
        (b"unknown_errno='NOPE'", "unknown_errno: unknown errno 'NOPE'"),
    ],
)
def test_bad_profiles_are_one_clear_line(text, message):
    with pytest.raises(ProfileError) as exc:
        profile.parse(text, "bad.toml")
    msg = str(exc.value)
    assert msg.startswith("bad.toml"), msg
    assert message in msg, msg
    assert "\n" not in msg


def test_unknown_profile_name_suggests():
    with pytest.raises(ProfileError, match=r"unknown profile 'defualt' \(did you mean 'default'\?\)"):
        profile.load("defualt")


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ProfileError, match=r"nope\.toml: cannot read profile: No such file"):
        profile.load(str(tmp_path / "nope.toml"))


# ------------------------------------------------------------------ composition rules


def _rs(text: str):
    return profile.parse(text.encode(), "t.toml").ruleset()


def test_deny_beats_capability_of_the_same_layer():
    rs = _rs("capabilities = ['runtime', 'stdio']\ndeny = ['write']")
    assert rs.decide("write") == EPERM and rs.decide("read") == ALLOW


def test_grant_in_a_later_layer_beats_an_earlier_deny(tmp_path):
    (tmp_path / "base.toml").write_text("capabilities = ['runtime', 'stdio']\ndeny = ['write']\n")
    (tmp_path / "child.toml").write_text("extends = 'base.toml'\nallow = ['write']\n")
    assert profile.load(str(tmp_path / "child.toml")).ruleset().decide("write") == ALLOW


def test_argument_limited_grant_in_a_later_layer_beats_an_earlier_deny(tmp_path):
    (tmp_path / "base.toml").write_text("capabilities = ['runtime']\ndeny = ['socket']\n[action]\nsocketpair = 'kill-process'\n")
    (tmp_path / "child.toml").write_text("extends = 'base.toml'\ncapabilities = ['net-client', 'unix-sockets']\n")
    rs = profile.load(str(tmp_path / "child.toml")).ruleset()
    assert rs.decide("socket", (2, 1, 0, 0, 0, 0)) == ALLOW and rs.decide("socket", (17, 3, 0, 0, 0, 0)) == EPERM
    assert rs.decide("socketpair", (1, 1, 0, 0, 0, 0)) == ALLOW and rs.decide("socketpair", (2, 1, 0, 0, 0, 0)) == EPERM


def test_deny_in_a_later_layer_beats_an_earlier_grant(tmp_path):
    (tmp_path / "child.toml").write_text("extends = 'default'\ndeny = ['getcwd']\n")
    rs = profile.load(str(tmp_path / "child.toml")).ruleset()
    assert rs.decide("getcwd") == EPERM and rs.decide("read") == ALLOW


def test_guards_survive_any_grant():
    rs = _rs("capabilities = ['device-control']\nallow = ['ioctl']")
    assert rs.decide("ioctl", TIOCSTI_ARGS) == EPERM


def test_outright_grant_replaces_argument_limited_grant():
    limited = _rs("capabilities = ['file-read']")
    assert limited.decide("openat", (0, 0, 0o1, 0, 0, 0)) == EPERM  # O_WRONLY
    assert limited.decide("openat", (0, 0, 0o0, 0, 0, 0)) == ALLOW
    full = _rs("capabilities = ['file-read', 'file-create']")
    assert full.decide("openat", (0, 0, 0o1101, 0, 0, 0)) == ALLOW
    assert not [r for r in full.conditional if r.syscall == "openat"]


def test_argument_limited_grants_of_two_capabilities_combine():
    rs = _rs("capabilities = ['net-client', 'unix-sockets']")
    for fam, want in ((1, ALLOW), (2, ALLOW), (10, ALLOW), (16, EPERM), (17, EPERM), (40, EPERM)):
        assert rs.decide("socket", (fam, 1, 0, 0, 0, 0)) == want, fam


def test_action_override_has_the_last_word():
    rs = _rs("capabilities = ['runtime', 'stdio']\n[action]\nwrite = 'log'\nread = 'trap'")
    assert rs.decide("write") == Action(Kind.LOG) and rs.decide("read") == Action(Kind.TRAP)


def test_default_action_applies_to_ungranted_known_syscalls_only():
    rs = _rs("capabilities = ['runtime']\ndefault_action = 'kill-process'")
    assert rs.decide("ptrace") == Action(Kind.KILL_PROCESS)
    assert rs.decide("exit_group") == ALLOW
    assert rs.decide("mseal") == ENOSYS


def test_clone3_enosys_unless_named():
    assert _rs("capabilities = ['threads']").decide("clone3") == ENOSYS
    assert _rs("allow = ['clone3']").decide("clone3") == ALLOW
    assert _rs("deny = ['clone3']").decide("clone3") == EPERM


def test_extends_keeps_the_parents_rules(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("extends = 'default'\nname='p'\ncapabilities = ['debugging']\n")
    prof = profile.load(str(f))
    rs = prof.ruleset()
    assert rs.decide("ptrace") == ALLOW and prof.dangerous == ["debugging"]
    assert rs.decide("ioctl", TIOCSTI_ARGS) == EPERM
    assert rs.decide("read") == ALLOW


def test_extends_cycle_is_an_error(tmp_path):
    (tmp_path / "a.toml").write_text("extends = 'b.toml'\n")
    (tmp_path / "b.toml").write_text("extends = 'a.toml'\n")
    with pytest.raises(ProfileError, match="extends cycle"):
        profile.load(str(tmp_path / "a.toml"))


def test_names_valid_on_other_arches_are_reported():
    prof = profile.parse(b"deny = ['vm86', 'socketcall']", "x.toml")
    assert prof.not_on_arch() == ["socketcall", "vm86"]
    from sysfence import compiler

    assert compiler.compile_ruleset(prof.ruleset()).not_on_arch == ("socketcall", "vm86")


def test_overrides_allow_deny_and_caps():
    base = profile.load("default")
    rs = profile.with_overrides(base, ["ptrace"], ["getcwd"], ["io_uring"]).ruleset()
    assert rs.decide("ptrace") == ALLOW and rs.decide("getcwd") == EPERM and rs.decide("io_uring_setup") == ALLOW
    with pytest.raises(UnknownSyscallError, match="did you mean 'ptrace'"):
        profile.with_overrides(base, ["ptrase"], [])
    with pytest.raises(ProfileError, match="both allowed and denied"):
        profile.with_overrides(base, ["ptrace"], ["ptrace"])
    with pytest.raises(ProfileError, match="unknown capability 'io-uring' .did you mean 'io_uring'"):
        profile.with_overrides(base, caps=["io-uring"])


def test_deny_flag_removes_argument_limited_grants():
    rs = profile.with_overrides(profile.load("default"), [], ["personality"]).ruleset()
    assert rs.decide("personality", (0,) * 6) == EPERM


def test_allow_flag_grants_every_call_but_keeps_guards():
    rs = profile.with_overrides(profile.load("default"), ["ioctl", "clone"], []).ruleset()
    assert rs.decide("ioctl", TIOCSTI_ARGS) == EPERM
    assert rs.decide("clone", (0x10000000, 0, 0, 0, 0, 0)) == ALLOW  # asked for all of clone


def test_loosening_detection():
    default = profile.load("default").ruleset()
    assert default.loosens(default) == []
    assert profile.with_overrides(profile.load("default"), [], ["getcwd"]).ruleset().loosens(default) == []
    assert "ptrace" in profile.with_overrides(profile.load("default"), ["ptrace"], []).ruleset().loosens(default)
    no_guard = RuleSet.build("x", "", [Rule("ioctl", ALLOW)])
    guarded = RuleSet.build("y", "", [Rule("ioctl", ALLOW), Rule("ioctl", EPERM, (ArgCondition(1, Op.EQ, 5),))])
    assert no_guard.loosens(guarded) == ["ioctl (drops argument checks)"]
    assert guarded.loosens(no_guard) == []
    strict = profile.load("strict").ruleset()
    assert strict.loosens(default) == []
    assert default.loosens(strict)
