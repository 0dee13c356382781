"""RuleSet -> one classic-BPF program for the native architecture, through libseccomp.

libseccomp gives a syscall either one unconditional decision or conditional ones, with a single default
for the whole filter: an unconditional allow silently replaces any conditional deny of the same syscall.
So a RuleSet is compiled as three libseccomp filters, chained into one program by turning each "allow"
return of a stage into a jump to the next stage:

  1. known:   every syscall the profile names -> continue; anything else -> unknown_action (ENOSYS)
  2. guards:  conditional denies of allowed syscalls (ioctl TIOCSTI...); default -> continue
  3. main:    base decisions and conditional allows (personality 0...); default -> default_action (EPERM)

The result is loaded with one seccomp(2) call, so nothing can be half-applied, and the path of a syscall
that is allowed without conditions reads only the number and arch, so the kernel's allow cache applies.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import _libseccomp as lib
from . import syscalls
from .errors import ProfileError
from .rules import Action, Kind, Op, Rule, RuleSet

BPF_RET_K = 0x06
BPF_JMP_JA = 0x05
BPF_MAXINSNS = 4096
_U64 = (1 << 64) - 1
_INSN = struct.Struct("=HBBI")

_OPS = {
    Op.NE: lib.CMP_NE,
    Op.LT: lib.CMP_LT,
    Op.LE: lib.CMP_LE,
    Op.EQ: lib.CMP_EQ,
    Op.GE: lib.CMP_GE,
    Op.GT: lib.CMP_GT,
    Op.MASKED_EQ: lib.CMP_MASKED_EQ,
}


def encode(action: Action) -> int:
    """The kernel's SECCOMP_RET_* value for an action."""
    return {
        Kind.ALLOW: lib.ACT_ALLOW,
        Kind.ERRNO: lib.ACT_ERRNO | action.errno,
        Kind.KILL_PROCESS: lib.ACT_KILL_PROCESS,
        Kind.KILL_THREAD: lib.ACT_KILL_THREAD,
        Kind.TRAP: lib.ACT_TRAP,
        Kind.LOG: lib.ACT_LOG,
    }[action.kind]


@dataclass(frozen=True)
class Compiled:
    ruleset: RuleSet
    arch: int
    program: bytes  # struct sock_filter[], native byte order
    not_on_arch: tuple[str, ...]  # names valid elsewhere but absent on this arch (their calls get unknown_action)

    @property
    def instructions(self) -> int:
        return len(self.program) // _INSN.size


def _new_filter(default: Action, arch: int) -> lib.Filter:
    f = lib.Filter(encode(default))
    f.set_arch(arch)
    f.set_attr(lib.ATTR_ACT_BADARCH, lib.ACT_KILL_PROCESS)  # foreign arch (i386 int $0x80, x32): kill
    f.set_attr(lib.ATTR_CTL_OPTIMIZE, 2)  # binary tree over syscall numbers
    return f


def _conditions(rule: Rule) -> list[tuple[int, int, int, int]]:
    out = []
    for c in rule.conditions:
        if c.op is Op.MASKED_EQ:
            out.append((c.index, _OPS[c.op], c.mask, c.value))
        else:
            out.append((c.index, _OPS[c.op], c.value, 0))
    return out


def compile_ruleset(rs: RuleSet, arch: int | None = None) -> Compiled:
    """Compile for `arch` (the native one by default), or raise ProfileError/LibseccompError; never touches
    the running process. Other architectures are for the programs shipped precompiled (precompiled.py)."""
    native = syscalls.native_arch()
    arch = native if arch is None else arch
    missing: list[str] = []
    nrs: dict[str, int] = {}  # numbers on `arch`: what the program compares with
    add: dict[str, int] = {}  # what libseccomp takes: native numbers (or its pseudo-numbers), translated by name
    for name in sorted(rs.base):
        nr = syscalls.number(name, arch)
        if nr is None:
            missing.append(name)
        else:
            nrs[name] = nr
            add[name] = nr if arch == native else lib.resolve_name(name, native)
    main_default = rs.default_action
    for rule in rs.permits:
        b = rs.base[rule.syscall].action
        if b != main_default:
            raise ProfileError(
                f"profile {rs.name!r}: {rule.syscall!r} has conditional allow rules, so its other calls must get "
                f"the profile's default action ({main_default}), not {b}"
            )
    stages = []
    if rs.unknown_action.kind is not Kind.ALLOW:
        with _new_filter(rs.unknown_action, arch) as known:
            for nr in add.values():
                known.add_rule(lib.ACT_ALLOW, nr, [])
            stages.append(known.export_bpf())
    if rs.guards:
        with _new_filter(Action(Kind.ALLOW), arch) as guards:
            for rule in rs.guards:
                if rule.syscall in add:
                    guards.add_rule(encode(rule.action), add[rule.syscall], _conditions(rule))
            stages.append(guards.export_bpf())
    with _new_filter(main_default, arch) as main:
        for name, nr in add.items():
            action = rs.base[name].action
            if action != main_default:
                main.add_rule(encode(action), nr, [])
        for rule in rs.permits:
            if rule.syscall in add:
                main.add_rule(encode(rule.action), add[rule.syscall], _conditions(rule))
        stages.append(main.export_bpf())
    program = stages[-1]
    for stage in reversed(stages[:-1]):
        program = chain(stage, program)
    n = len(program) // _INSN.size
    if n > BPF_MAXINSNS:
        raise ProfileError(f"profile {rs.name!r} compiles to {n} BPF instructions; the kernel limit is {BPF_MAXINSNS}")
    compiled = Compiled(rs, arch, program, tuple(missing))
    wrong = verify(compiled, nrs)
    if wrong:
        raise ProfileError(
            f"profile {rs.name!r}: libseccomp compiled {wrong[0]} differently from the rules "
            f"({len(wrong)} disagreements; libseccomp 2.5.x merges some argument comparisons wrongly, "
            "GHSA-4q85-33p6-j5g6): simplify the argument rules of that syscall"
        )
    return compiled


def edge_vectors(rules: list[Rule], limit: int = 2048) -> list[tuple[int, ...]]:
    """Argument vectors at and around every value the rules compare with, high-bit variants included,
    combined across the arguments the rules read (at most `limit`)."""
    per_arg: dict[int, set[int]] = {}
    for r in rules:
        for c in r.conditions:
            vals = per_arg.setdefault(c.index, {0, _U64})
            for v in (c.value, c.value | c.mask if c.op is Op.MASKED_EQ else c.value, c.mask ^ c.value):
                vals.update({v & _U64, (v + 1) & _U64, (v - 1) & _U64, (v | 1 << 32) & _U64, v & 0xFFFFFFFF})
    vectors: list[tuple[int, ...]] = [(0,) * 6]
    for idx, vals in sorted(per_arg.items()):
        vectors = [v[:idx] + (x,) + v[idx + 1 :] for v in vectors for x in sorted(vals)][:limit]
    return vectors


def verify(compiled: Compiled, nrs: dict[str, int] | None = None) -> list[str]:
    """Emulate the program for every syscall with argument rules, at the rules' edge values, and compare
    with the rules' own decision. Returns the disagreements (empty when the program is faithful)."""
    from . import bpf

    rs = compiled.ruleset
    nrs = nrs if nrs is not None else {s: n for s in rs.base if (n := syscalls.number(s, compiled.arch)) is not None}
    insns = bpf.decode(compiled.program)
    wrong = []
    for name in sorted({r.syscall for r in rs.conditional} & set(nrs)):
        for args in edge_vectors([r for r in rs.conditional if r.syscall == name]):
            got = bpf.run(insns, bpf.seccomp_data(compiled.arch, nrs[name], args))[0]
            if got != encode(rs.decide(name, args)):
                wrong.append(f"{name}({', '.join(hex(a) for a in args)})")
    return wrong


def chain(first: bytes, then: bytes) -> bytes:
    """Run `first`; where it would return ALLOW, continue with `then` instead."""
    insns = [list(_INSN.unpack_from(first, off)) for off in range(0, len(first), _INSN.size)]
    n = len(insns)
    for i, ins in enumerate(insns):
        code, _jt, _jf, k = ins
        if code & 0x07 == 0x06 and code != BPF_RET_K:
            raise ValueError(f"cannot chain: instruction {i} returns a register value")
        if code == BPF_RET_K and k == lib.ACT_ALLOW:
            insns[i] = [BPF_JMP_JA, 0, 0, n - i - 1]
    return b"".join(_INSN.pack(*ins) for ins in insns) + then
