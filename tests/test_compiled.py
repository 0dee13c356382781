"""The compiled (chained) program decides exactly what the rules intend: checked with the BPF emulator for
every syscall number of the native arch, x32 numbers, foreign arches and the edge values of every argument
rule. A disagreement names the syscall."""

from __future__ import annotations

import pytest

from sysfence import bpf, compiler, profile, syscalls
from sysfence.rules import KILL_PROCESS, RuleSet

X86_64, I386, AARCH64 = 0xC000003E, 0x40000003, 0xC00000B7


@pytest.fixture(scope="module")
def default():
    rs = profile.load("default").ruleset()
    return rs, compiler.compile_ruleset(rs)


def _verdict(program: bytes, arch: int, nr: int, args=(0,) * 6) -> int:
    return bpf.run(program, bpf.seccomp_data(arch, nr, args))[0]


def _expected(rs: RuleSet, nr: int, args=(0,) * 6) -> int:
    name = syscalls.name(nr)
    return compiler.encode(rs.decide(name, args) if name else rs.unknown_action)


def test_native_arch_is_x86_64():
    if syscalls.native_arch() != X86_64:
        pytest.skip("these expectations are written for x86_64")


def test_every_syscall_number_matches_the_rules(default):
    rs, comp = default
    wrong = []
    for nr in range(0, 1024):
        got, want = _verdict(comp.program, X86_64, nr), _expected(rs, nr)
        if got != want:
            wrong.append(f"{syscalls.name(nr) or nr}: program {got:#x}, rules {want:#x}")
    assert not wrong, wrong


@pytest.mark.parametrize("nr", [0, 39, 59, 435, 0x3FFFFFFF])
def test_x32_numbers_are_killed(default, nr):
    _, comp = default
    assert _verdict(comp.program, X86_64, 0x40000000 | nr) == compiler.encode(KILL_PROCESS)


@pytest.mark.parametrize("arch", [I386, AARCH64, 0x4000003E, 0])
@pytest.mark.parametrize("nr", [0, 1, 20, 39, 120, 435])
def test_foreign_arches_are_killed(default, arch, nr):
    _, comp = default
    assert _verdict(comp.program, arch, nr) == compiler.encode(KILL_PROCESS)


def _edges(rs: RuleSet):
    for rule in rs.conditional:
        for cond in rule.conditions:
            vals = {cond.value, cond.value | 1 << 32, cond.value | 0xFFFFFFFF00000000, 0, 0xFFFFFFFFFFFFFFFF,
                    (cond.value + 1) & (2**64 - 1), (cond.value - 1) % 2**64}
            if cond.op.value == "masked_eq":
                vals |= {cond.value | (~cond.mask & 0xFFFFFFFF), cond.value ^ cond.mask, cond.mask}
            for v in vals:
                args = [0] * 6
                args[cond.index] = v
                yield rule.syscall, tuple(args)


def test_argument_rule_edges_match_the_rules(default):
    rs, comp = default
    wrong = []
    cases = list(_edges(rs))
    assert len(cases) > 50
    for name, args in cases:
        nr = syscalls.number(name)
        got, want = _verdict(comp.program, X86_64, nr, args), compiler.encode(rs.decide(name, args))
        if got != want:
            wrong.append(f"{name}{tuple(hex(a) for a in args)}: program {got:#x}, rules {want:#x}")
    assert not wrong, wrong


def test_hot_syscalls_read_only_nr_and_arch(default):
    """The kernel caches 'always allow' only when the path reads nothing but nr and arch."""
    _, comp = default
    insns = bpf.decode(comp.program)
    for name in ["read", "write", "futex", "epoll_wait", "clock_gettime", "mmap", "close", "openat", "getpid"]:
        nr = syscalls.number(name)
        # run with two very different argument vectors: the path must not depend on them
        a = bpf.run(insns, bpf.seccomp_data(X86_64, nr, (0,) * 6))
        b = bpf.run(insns, bpf.seccomp_data(X86_64, nr, (2**64 - 1,) * 6, ip=12345))
        assert a == b and a[0] == compiler.encode(rs_allow := profile.load("default").ruleset().decide(name)), name
        assert not rs_allow.denies


def test_program_fits_the_kernel_limit(default):
    _, comp = default
    assert 0 < comp.instructions <= compiler.BPF_MAXINSNS
