"""Profile parsing and validation: every mistake is one clear line naming file, key and value."""

from __future__ import annotations

import errno

import pytest

from sysfence import ProfileError, UnknownSyscallError, profile
from sysfence.rules import ALLOW, EPERM, Action, ArgCondition, Kind, Op, Rule, RuleSet

GOOD = b"""
name = "mini"
description = "tiny"
[[group]]
name = "basics"
action = "allow"
syscalls = ["read", "write", "exit_group", "ioctl"]
[[group]]
name = "nope"
action = "errno"
errno = "EACCES"
syscalls = ["ptrace"]
[[rule]]
syscall = "ioctl"
action = "errno"
errno = "EPERM"
when = [{ arg = 1, op = "masked_eq", mask = 0xffffffff, value = 0x5412 }]
"""


def test_good_profile_parses():
    p = profile.parse(GOOD, "mini.toml")
    rs = p.ruleset()
    assert rs.decide("read") == ALLOW
    assert rs.decide("ptrace") == Action(Kind.ERRNO, errno.EACCES)
    assert rs.decide("ioctl", (0, 0x5412, 0, 0, 0, 0)) == EPERM
    assert rs.decide("ioctl", (0, 0x1_0000_5412, 0, 0, 0, 0)) == EPERM  # low 32 bits only
    assert rs.decide("ioctl", (0, 0x5413, 0, 0, 0, 0)) == ALLOW
    assert rs.decide("openat").errno == errno.ENOSYS  # unnamed -> ENOSYS


@pytest.mark.parametrize(
    "text, message",
    [
        (b"name = 'x'\n[[group]]\nname='g'\naction='allow'\nsyscalls=['ptrase']", "group[0].syscalls[0]: unknown syscall 'ptrase' (did you mean 'ptrace'?)"),
        (b"nmae = 'x'", "unknown key 'nmae' (did you mean 'name'?)"),
        (b"name = 'x'\n[[group]]\nname='g'\naction='alow'\nsyscalls=['read']", "group[0]: unknown action 'alow' (did you mean 'allow'?)"),
        (b"name = 'x'\n[[group]]\nname='g'\naction='errno'\nerrno='EPRM'\nsyscalls=['read']", "group[0].errno: unknown errno 'EPRM' (did you mean 'EPERM'?)"),
        (b"name = 'x'\n[[group]]\nname='g'\naction='errno'\nerrno=0\nsyscalls=['read']", "errno 0 out of range"),
        (b"name = 'x'\n[[group]]\nname='g'\naction='allow'\nerrno='EPERM'\nsyscalls=['read']", "errno is only meaningful with action = 'errno'"),
        (b"name = 'x'\n[[group]]\nname='g'\naction='allow'\nsyscalls=[]", "group[0]: syscalls must be a non-empty array"),
        (b"name = 'x'\n[[group]]\nname='g'\naction='allow'\nsyscalls=['read','read']", "'read' listed twice"),
        (b"name = 'x'\n[[group]]\nname='a'\naction='allow'\nsyscalls=['read']\n[[group]]\nname='b'\naction='allow'\nsyscalls=['read']", "syscall 'read' is in both group 'a' and group 'b'"),
        (b"name = 3", "name must be a string"),
        (b"name = 'x'\ngroup = 5", "group must be an array of tables"),
        (b"name = [", "not valid TOML"),
        (b"\xff\xfe", "not valid TOML"),
        (b"name='x'\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='masked_eq', mask=0xff, value=0x5412}]", "has bits outside mask"),
        (b"name='x'\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=7, op='eq', value=1}]", "argument index 7 out of range"),
        (b"name='x'\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='equals', value=1}]", "op must be one of"),
        (b"name='x'\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='eq', value=1, mask=3}]", "mask is only meaningful"),
        (b"name='x'\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='eq', value=-1}]", "does not fit in 64 bits"),
        (b"name='x'\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='ne', value=1}, {arg=1, op='ne', value=2}]", "a second condition on arg 1"),
        (b"name='x'\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[]", "when must be a non-empty array"),
        (b"name='x'\n[[rule]]\nsyscall='ioctl'\naction='errno'\nwhen=[{arg=1, op='eq', value=1}]", "needs an unconditional decision"),
        (b"name='x'\n[[group]]\nname='g'\naction='errno'\nsyscalls=['ioctl']\n[[rule]]\nsyscall='ioctl'\naction='errno'\nerrno='EACCES'\nwhen=[{arg=1, op='eq', value=1}]", "must go the other way"),
        (b"name='x'\nextends='nonesuch'", "unknown profile 'nonesuch'"),
        (b"name='x'\nunknown_errno='NOPE'", "unknown_errno: unknown errno 'NOPE'"),
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


def test_extends_overrides_parent_and_keeps_its_rules(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("extends = 'default'\nname='p'\n[[group]]\nname='dbg'\naction='allow'\nsyscalls=['ptrace']\n")
    rs = profile.load(str(f)).ruleset()
    assert rs.decide("ptrace") == ALLOW
    assert rs.decide("ioctl", (0, 0x5412, 0, 0, 0, 0)) == EPERM  # the parent's guard survives
    assert rs.decide("read") == ALLOW


def test_extends_cycle_is_an_error(tmp_path):
    (tmp_path / "a.toml").write_text("extends = 'b.toml'\n")
    (tmp_path / "b.toml").write_text("extends = 'a.toml'\n")
    with pytest.raises(ProfileError, match="extends cycle"):
        profile.load(str(tmp_path / "a.toml"))


def test_names_valid_on_other_arches_are_accepted_and_reported():
    p = profile.parse(b"name='x'\n[[group]]\nname='g'\naction='errno'\nsyscalls=['vm86', 'socketcall']", "x.toml")
    from sysfence import compiler

    assert compiler.compile_ruleset(p.ruleset()).not_on_arch == ("socketcall", "vm86")


def test_overrides_allow_and_deny():
    base = profile.load("default")
    p = profile.with_overrides(base, ["ptrace"], ["getcwd"])
    rs = p.ruleset()
    assert rs.decide("ptrace") == ALLOW and rs.decide("getcwd") == EPERM
    with pytest.raises(UnknownSyscallError, match="did you mean 'ptrace'"):
        profile.with_overrides(base, ["ptrase"], [])
    with pytest.raises(ProfileError, match="both allowed and denied"):
        profile.with_overrides(base, ["ptrace"], ["ptrace"])


def test_deny_flag_removes_conditional_permits():
    rs = profile.with_overrides(profile.load("default"), [], ["personality"]).ruleset()
    assert rs.decide("personality", (0,) * 6) == EPERM


def test_allow_flag_keeps_guards():
    rs = profile.with_overrides(profile.load("default"), ["ioctl", "clone"], []).ruleset()
    assert rs.decide("ioctl", (0, 0x5412, 0, 0, 0, 0)) == EPERM
    assert rs.decide("clone", (0x10000000, 0, 0, 0, 0, 0)) == EPERM


def test_loosening_detection():
    default = profile.load("default").ruleset()
    assert default.loosens(default) == []
    assert profile.with_overrides(profile.load("default"), [], ["getcwd"]).ruleset().loosens(default) == []
    assert "ptrace" in profile.with_overrides(profile.load("default"), ["ptrace"], []).ruleset().loosens(default)
    no_guard = RuleSet.build("x", "", [Rule("ioctl", ALLOW)])
    guarded = RuleSet.build("y", "", [Rule("ioctl", ALLOW), Rule("ioctl", EPERM, (ArgCondition(1, Op.EQ, 5),))])
    assert no_guard.loosens(guarded) == ["ioctl (drops argument checks)"]
    assert guarded.loosens(no_guard) == []
