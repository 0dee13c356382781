"""Classic-BPF tools for seccomp programs: decoder, emulator, disassembler and a verifier. Pure Python.

- `run` / `trace` / `evaluate` execute a program on one `seccomp_data` (arch, nr, instruction pointer, six
  args) the way the kernel does; `trace` and `evaluate` also return the instructions taken.
- `disassemble` turns program bytes into readable lines: absolute jump targets, seccomp_data fields by name,
  syscall numbers by name (for the arch the program has checked at that point), arches and return values
  decoded. Naming syscalls needs libseccomp's table; without it numbers stay numbers.
- `verify` checks that a program decides exactly what a RuleSet says, for every syscall number of the arch,
  x32 numbers, foreign arches and the edge values of every argument rule (this part needs libseccomp for
  the syscall names, as the rules are written with names).
"""

from __future__ import annotations

import errno as _errno
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .rules import Rule, RuleSet

_INSN = struct.Struct("=HBBI")
_M32 = 0xFFFFFFFF
_U64 = (1 << 64) - 1

# instruction classes and fields (linux/bpf_common.h)
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
K, X = 0x00, 0x08
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40

# SECCOMP_RET_* (linux/seccomp.h)
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_ACTION_FULL = 0xFFFF0000
RET_DATA = 0x0000FFFF

# AUDIT_ARCH_* (linux/audit.h). x32 has no audit arch of its own: the kernel reports x32 calls as
# AUDIT_ARCH_X86_64 with X32_SYSCALL_BIT set in nr; 0x4000003e is libseccomp's token for it.
AUDIT_ARCH = {
    0xC000003E: "AUDIT_ARCH_X86_64",
    0x40000003: "AUDIT_ARCH_I386",
    0x4000003E: "SCMP_ARCH_X32",
    0xC00000B7: "AUDIT_ARCH_AARCH64",
    0x40000028: "AUDIT_ARCH_ARM",
    0xC00000F3: "AUDIT_ARCH_RISCV64",
    0x80000016: "AUDIT_ARCH_S390X",
    0x00000016: "AUDIT_ARCH_S390",
    0xC0000015: "AUDIT_ARCH_PPC64LE",
    0x80000015: "AUDIT_ARCH_PPC64",
    0x00000014: "AUDIT_ARCH_PPC",
    0x00000008: "AUDIT_ARCH_MIPS",
    0x40000008: "AUDIT_ARCH_MIPSEL",
    0x80000008: "AUDIT_ARCH_MIPS64",
    0xC0000008: "AUDIT_ARCH_MIPSEL64",
    0xC0000102: "AUDIT_ARCH_LOONGARCH64",
}
X86_64, I386, X32, AARCH64, ARM = 0xC000003E, 0x40000003, 0x4000003E, 0xC00000B7, 0x40000028
X32_SYSCALL_BIT = 0x40000000
_AUDIT_ARCH_LE = 0x40000000

_ALU_OPS = {0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and", 0x60: "lsh",
            0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xA0: "xor"}
_ALU_SYM = {"add": "+", "sub": "-", "mul": "*", "div": "/", "or": "|", "and": "&", "lsh": "<<", "rsh": ">>",
            "mod": "%", "xor": "^"}
_JMP_OPS = {JEQ: "jeq", JGT: "jgt", JGE: "jge", JSET: "jset"}
_JMP_SYM = {"jeq": "==", "jgt": ">", "jge": ">=", "jset": "&"}


@dataclass(frozen=True)
class Insn:
    code: int
    jt: int
    jf: int
    k: int


def decode(program: bytes) -> list[Insn]:
    if len(program) % _INSN.size:
        raise ValueError(f"program length {len(program)} is not a multiple of {_INSN.size}")
    return [Insn(*_INSN.unpack_from(program, off)) for off in range(0, len(program), _INSN.size)]


def encode(insns: Iterable[Insn | tuple[int, int, int, int]]) -> bytes:
    """struct sock_filter[] bytes from instructions (or (code, jt, jf, k) tuples)."""
    out = []
    for i in insns:
        out.append(_INSN.pack(i.code, i.jt, i.jf, i.k) if isinstance(i, Insn) else _INSN.pack(*i))
    return b"".join(out)


def seccomp_data(arch: int, nr: int, args: Sequence[int] = (0,) * 6, ip: int = 0) -> bytes:
    """struct seccomp_data in native (little-endian on x86_64) byte order; nr taken modulo 2**32."""
    nr &= _M32
    return struct.pack("=iIQ6Q", nr - (1 << 32) if nr >= 1 << 31 else nr, arch, ip & _U64,
                       *(a & _U64 for a in args))


# ------------------------------------------------------------------ emulator


def _execute(insns: Sequence[Insn], data: bytes, path: list[int] | None) -> tuple[int, int]:
    a = x = 0
    mem = [0] * 16
    pc = steps = 0
    n = len(insns)
    while True:
        if pc >= n:
            raise ValueError(f"fell off the end of the program at {pc}")
        ins = insns[pc]
        if path is not None:
            path.append(pc)
        steps += 1
        code, k = ins.code, ins.k
        cls = code & 7
        pc += 1
        if cls == JMP:
            op = code & 0xF0
            if op == JA:
                pc += k
                continue
            src = x if code & X else k
            if op == JEQ:
                cond = a == src
            elif op == JGT:
                cond = a > src
            elif op == JGE:
                cond = a >= src
            elif op == JSET:
                cond = bool(a & src)
            else:
                raise ValueError(f"bad jump {code:#x} at {pc - 1}")
            pc += ins.jt if cond else ins.jf
        elif cls == LD or cls == LDX:
            mode, size = code & 0xE0, code & 0x18
            if mode == ABS or mode == IND:
                off = k + (x if mode == IND else 0)
                width = 4 if size == W else 2 if size == H else 1
                if off + width > len(data) or (mode == ABS and size == W and off % 4):
                    raise ValueError(f"out-of-bounds or misaligned load at {off}")
                v = int.from_bytes(data[off : off + width], sys.byteorder)
            elif mode == IMM:
                v = k
            elif mode == MEM:
                v = mem[k & 15]
            elif mode == LEN:
                v = len(data)
            elif mode == MSH and cls == LDX:
                if k >= len(data):
                    raise ValueError(f"out-of-bounds load at {k}")
                v = (data[k] & 0xF) << 2
            else:
                raise ValueError(f"bad load mode {code:#x} at {pc - 1}")
            if cls == LD:
                a = v & _M32
            else:
                x = v & _M32
        elif cls == RET:
            return (a if code & 0x18 == 0x10 else k) & _M32, steps
        elif cls == ALU:
            op, src = code & 0xF0, (x if code & X else k)
            if op == 0x80:
                a = -a & _M32
            elif op in (0x30, 0x90) and src == 0:
                return RET_KILL_THREAD, steps  # division by zero ends the program with 0: the kernel kills
            elif op == 0x00:
                a = (a + src) & _M32
            elif op == 0x10:
                a = (a - src) & _M32
            elif op == 0x20:
                a = (a * src) & _M32
            elif op == 0x30:
                a = a // src
            elif op == 0x40:
                a = a | src
            elif op == 0x50:
                a = a & src
            elif op == 0x60:
                a = (a << (src & 31)) & _M32
            elif op == 0x70:
                a = a >> (src & 31)
            elif op == 0x90:
                a = a % src
            elif op == 0xA0:
                a = a ^ src
            else:
                raise ValueError(f"bad ALU operation {code:#x} at {pc - 1}")
        elif cls == ST:
            mem[k & 15] = a
        elif cls == STX:
            mem[k & 15] = x
        else:  # MISC
            if code & 0xF8 == 0x00:
                x = a  # tax
            else:
                a = x  # txa


def _insns(program: bytes | Sequence[Insn]) -> Sequence[Insn]:
    return decode(program) if isinstance(program, bytes) else program


def run(program: bytes | Sequence[Insn], data: bytes) -> tuple[int, int]:
    """Execute; returns (SECCOMP_RET_* value, instructions executed). Raises ValueError on invalid programs."""
    return _execute(_insns(program), data, None)


def trace(program: bytes | Sequence[Insn], data: bytes) -> tuple[int, list[int]]:
    """Execute; returns (SECCOMP_RET_* value, indexes of the instructions taken, in order)."""
    path: list[int] = []
    ret, _ = _execute(_insns(program), data, path)
    return ret, path


@dataclass(frozen=True)
class Result:
    ret: int  # SECCOMP_RET_* value
    path: tuple[int, ...]  # instruction indexes taken

    @property
    def action(self) -> str:
        return action_name(self.ret)


def evaluate(program: bytes | Sequence[Insn], arch: int, nr: int, args: Sequence[int] = (0,) * 6,
             ip: int = 0) -> Result:
    """Run the program on one call: `arch` (AUDIT_ARCH_*), `nr`, up to six args, instruction pointer."""
    full = tuple(args) + (0,) * (6 - len(args))
    if len(full) != 6:
        raise ValueError(f"seccomp passes six arguments, got {len(args)}")
    ret, path = trace(program, seccomp_data(arch, nr, full, ip))
    return Result(ret, tuple(path))


# ------------------------------------------------------------------ return values


def _errno_name(e: int) -> str:
    return _errno.errorcode.get(e, str(e))


def describe_ret(ret: int) -> str:
    """SECCOMP_RET_* value as the kernel names it: ALLOW, ERRNO(EPERM), KILL_PROCESS, TRACE(5)..."""
    ret &= _M32
    action, data = ret & RET_ACTION_FULL, ret & RET_DATA
    if action == RET_ERRNO:
        return f"ERRNO({_errno_name(data)})"
    names = {RET_KILL_PROCESS: "KILL_PROCESS", RET_KILL_THREAD: "KILL_THREAD", RET_TRAP: "TRAP",
             RET_USER_NOTIF: "USER_NOTIF", RET_TRACE: "TRACE", RET_LOG: "LOG", RET_ALLOW: "ALLOW"}
    if action in names:
        return names[action] + (f"({data})" if data else "")
    # the kernel treats an unknown action as KILL_PROCESS
    return f"{ret:#x} (unknown action: KILL_PROCESS)"


def action_name(ret: int) -> str:
    """SECCOMP_RET_* value in the spelling of sysfence.rules.Action: allow, errno(EPERM), kill-process..."""
    ret &= _M32
    action, data = ret & RET_ACTION_FULL, ret & RET_DATA
    if action == RET_ERRNO:
        return f"errno({_errno_name(data)})"
    names = {RET_KILL_PROCESS: "kill-process", RET_KILL_THREAD: "kill-thread", RET_TRAP: "trap",
             RET_USER_NOTIF: "user-notif", RET_TRACE: "trace", RET_LOG: "log", RET_ALLOW: "allow"}
    return names.get(action, "kill-process")


# ------------------------------------------------------------------ disassembler


def _field(off: int, little: bool) -> str:
    """Name of the 32-bit word of struct seccomp_data at byte offset `off`."""
    if off == 0:
        return "nr"
    if off == 4:
        return "arch"
    if off in (8, 12):
        half = "lo" if (off == 8) == little else "hi"
        return f"instruction_pointer.{half}"
    if 16 <= off < 64 and off % 4 == 0:
        i, second = divmod(off - 16, 8)
        half = "lo" if (second == 0) == little else "hi"
        return f"args[{i}].{half}"
    return f"[{off}]"


def _native_names(arch: int, nr: int) -> str | None:
    """Syscall name from libseccomp's table, or None (unknown number, or libseccomp missing)."""
    try:
        from . import syscalls
        from .errors import SysfenceError

        try:
            return syscalls.name(nr, arch)
        except (SysfenceError, OSError):
            return None
    except ImportError:  # pragma: no cover
        return None


@dataclass(frozen=True)
class Line:
    """One disassembled instruction. `jt`/`jf` (conditional jumps) and `target` (ja) are absolute indexes."""

    index: int
    mnemonic: str
    operand: str = ""
    jt: int | None = None
    jf: int | None = None
    comment: str = ""

    def __str__(self) -> str:
        ops = self.operand
        if self.jt is not None:
            ops = f"{self.operand:<12} jt {self.jt:<5} jf {self.jf}"
        text = f"{self.index:>5}  {self.mnemonic:<5} {ops}"
        return f"{text:<44} ; {self.comment}" if self.comment else text.rstrip()


@dataclass
class _State:
    a: str | None = None  # what A holds: a seccomp_data field name, or an expression over one
    arch: int | None = None  # arch value proven equal on every path here

    def merge(self, other: _State) -> _State:
        return _State(self.a if self.a == other.a else None, self.arch if self.arch == other.arch else None)


def disassemble_lines(program: bytes | Sequence[Insn], arch: int | None = None,
                      names: Callable[[int, int], str | None] | None = _native_names) -> list[Line]:
    """Disassemble. `arch` (an AUDIT_ARCH_* value) names syscall numbers where the program has not
    itself compared `arch` on every path to that instruction; `names(arch, nr)` looks names up (default:
    libseccomp's table; None for numbers only)."""
    insns = _insns(program)
    n = len(insns)
    states: list[_State | None] = [None] * (n + 1)
    if n:
        states[0] = _State()

    def flow(target: int, st: _State) -> None:
        if 0 <= target < n:
            cur = states[target]
            states[target] = st if cur is None else cur.merge(st)

    lines: list[Line] = []
    for i, ins in enumerate(insns):
        st = states[i] or _State()  # unreachable code: nothing known
        little = (st.arch & _AUDIT_ARCH_LE != 0) if st.arch is not None else (
            (arch & _AUDIT_ARCH_LE != 0) if arch is not None else sys.byteorder == "little")
        line, nxt = _one(i, ins, st, little, st.arch if st.arch is not None else arch, names)
        lines.append(line)
        for target, after in nxt:
            flow(target, after)
    return lines


def _const(value: int, a: str | None, arch: int | None, names: Callable[[int, int], str | None] | None) -> str:
    """Annotation of constant `value` compared with what A holds."""
    if a == "arch":
        return AUDIT_ARCH.get(value, f"{value:#x}")
    if a == "nr":
        if value == _M32:
            return "-1 (no syscall: skipped by a tracer)"
        if value == X32_SYSCALL_BIT and arch == X86_64:
            return "X32_SYSCALL_BIT"
        name = names(arch, value) if names is not None and arch is not None and value < X32_SYSCALL_BIT else None
        return f"{value} ({name})" if name else str(value)
    return f"{value:#x}"


def _one(i: int, ins: Insn, st: _State, little: bool, arch: int | None,
         names: Callable[[int, int], str | None] | None) -> tuple[Line, list[tuple[int, _State]]]:
    code, k = ins.code, ins.k
    cls = code & 7
    nxt = i + 1
    keep = [(nxt, st)]
    if cls in (LD, LDX):
        reg = "A" if cls == LD else "X"
        mode, size = code & 0xE0, code & 0x18
        sfx = {W: "", H: "h", B: "b"}.get(size, "?")
        mn = ("ld" if cls == LD else "ldx") + sfx
        held: str | None = None
        if mode == ABS:
            operand = f"[{k}]"
            held = _field(k, little) if size == W else None
            comment = f"{reg} = {held}" if held else f"{reg} = {operand}"
        elif mode == IND:
            operand, comment = f"[x + {k}]", ""
        elif mode == IMM:
            operand, comment = f"#{k:#x}", ""
        elif mode == MEM:
            operand, comment = f"M[{k}]", ""
        elif mode == LEN:
            operand, comment = "#len", f"{reg} = sizeof(seccomp_data)"
        elif mode == MSH:
            mn, operand, comment = "ldxb", f"4*([{k}]&0xf)", ""
        else:
            return Line(i, f"?{code:#06x}", f"{k:#x}", comment="invalid load"), keep
        return Line(i, mn, operand, comment=comment), [(nxt, _State(held, st.arch) if cls == LD else st)]
    if cls in (ST, STX):
        return Line(i, "st" if cls == ST else "stx", f"M[{k}]"), keep
    if cls == ALU:
        alu = _ALU_OPS.get(code & 0xF0)
        if alu is None:
            return Line(i, f"?{code:#06x}", f"{k:#x}", comment="invalid ALU operation"), keep
        if alu == "neg":
            return Line(i, "neg"), [(nxt, _State(f"-({st.a})" if st.a else None, st.arch))]
        src = "x" if code & X else f"#{k:#x}"
        expr = f"{st.a} {_ALU_SYM[alu]} {src.lstrip('#')}" if st.a else None
        return Line(i, alu, src, comment=f"A = {expr}" if expr else ""), [(nxt, _State(expr, st.arch))]
    if cls == JMP:
        op = code & 0xF0
        if op == JA:
            return Line(i, "ja", str(nxt + k)), [(nxt + k, st)]
        jmn = _JMP_OPS.get(op)
        if jmn is None:
            return Line(i, f"?{code:#06x}", f"{k:#x}", comment="invalid jump"), []
        jt, jf = nxt + ins.jt, nxt + ins.jf
        if code & X:
            return Line(i, jmn, "x", jt, jf, f"{st.a or 'A'} {_JMP_SYM[jmn]} X"), [(jt, st), (jf, st)]
        what = st.a or "A"
        comment = f"{what} {_JMP_SYM[jmn]} {_const(k, st.a, arch, names)}"
        if jmn == "jset":
            comment = f"{what} & {k:#x}"
        taken = st
        if jmn == "jeq" and st.a == "arch":
            taken = _State(st.a, k)  # on the true branch the arch is known
        return Line(i, jmn, f"#{k:#x}", jt, jf, comment), [(jt, taken), (jf, st)]
    if cls == RET:
        if code & 0x18 == 0x10:
            return Line(i, "ret", "a", comment="return A"), []
        return Line(i, "ret", f"#{k:#x}", comment=describe_ret(k)), []
    # MISC
    if code & 0xF8 == 0x00:
        return Line(i, "tax"), keep
    return Line(i, "txa"), keep


def disassemble(program: bytes | Sequence[Insn], arch: int | None = None,
                names: Callable[[int, int], str | None] | None = _native_names) -> list[str]:
    """Readable lines: `index  mnemonic operands  ; annotation`, jump targets as absolute indexes."""
    return [str(line) for line in disassemble_lines(program, arch, names)]


# ------------------------------------------------------------------ verification against the rules


@dataclass(frozen=True)
class Disagreement:
    arch: int
    nr: int
    name: str | None
    args: tuple[int, ...]
    ip: int
    program: int  # SECCOMP_RET_* the program returns
    rules: int  # SECCOMP_RET_* the rules intend

    def __str__(self) -> str:
        call = f"{self.name or f'syscall {self.nr}'}({', '.join(hex(a) for a in self.args)})"
        where = AUDIT_ARCH.get(self.arch, f"arch {self.arch:#x}")
        ip = f", instruction_pointer {self.ip:#x}" if self.ip else ""
        return (f"{call} [nr {self.nr:#x} on {where}{ip}]: program {action_name(self.program)}, "
                f"rules {action_name(self.rules)}")


@dataclass
class Verification:
    """Counts of the cases checked, and every disagreement between program and rules."""

    native: int = 0  # syscall numbers of the arch (0-1023 twice: zero args and all-ones args), numbers above
    x32: int = 0  # X32_SYSCALL_BIT numbers on x86_64
    foreign: int = 0  # calls with another arch
    edges: int = 0  # argument vectors of syscalls with argument rules
    syscalls_with_rules: int = 0
    wrong: list[Disagreement] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.native + self.x32 + self.foreign + self.edges

    @property
    def ok(self) -> bool:
        return not self.wrong

    def summary(self) -> str:
        return (f"{self.total} cases: {self.native} syscall numbers, {self.x32} x32 numbers, {self.foreign} "
                f"foreign-arch calls, {self.edges} argument vectors for {self.syscalls_with_rules} syscalls "
                "with argument rules")


NATIVE_RANGE = 1024
ABOVE_TABLE = (1024, 1025, 2047, 4095, 0xFFFF, 0x10000, 0x3FFFFFFF, _M32)
FOREIGN_ARCHES = (X86_64, I386, X32, AARCH64, ARM, 0, _M32)


def edge_values(value: int, mask: int | None = None) -> set[int]:
    """Values at and around `value` that a comparison could get wrong: the value, its bit 0 flipped, +-1,
    high 32 bits set / cleared / bit 32 or 63 flipped, 0 and 2**64-1; for a masked comparison also the
    bits outside the mask set, the mask itself and its complement."""
    seeds = {value}
    if mask is not None:
        seeds |= {value | (~mask & _U64), value ^ mask, mask, ~mask & _U64, value & mask}
    out = {0, _U64}
    for v in seeds:
        for w in (v, v ^ 1, v + 1, v - 1, v | 0xFFFFFFFF00000000, v & _M32, v ^ 1 << 32, v ^ 1 << 63):
            out.add(w & _U64)
    return out


def edge_vectors(rules: Sequence[Rule], limit: int = 4096) -> list[tuple[int, ...]]:
    """Argument vectors for the rules of one syscall: each argument's edge values alone (other args 0, and
    other args 2**64-1), and combinations across the arguments the rules read (at most `limit`)."""
    from .rules import Op

    per_arg: dict[int, set[int]] = {}
    for r in rules:
        for c in r.conditions:
            per_arg.setdefault(c.index, set()).update(
                edge_values(c.value, c.mask if c.op is Op.MASKED_EQ else None))
    zero: tuple[int, ...] = (0,) * 6
    ones: tuple[int, ...] = (_U64,) * 6
    vectors = {zero, ones}
    for idx, vals in per_arg.items():
        for v in vals:
            vectors.add(zero[:idx] + (v,) + zero[idx + 1 :])
            vectors.add(ones[:idx] + (v,) + ones[idx + 1 :])
    if len(per_arg) > 1:
        combos: list[tuple[int, ...]] = [zero]
        for idx, vals in sorted(per_arg.items()):
            combos = [c[:idx] + (v,) + c[idx + 1 :] for c in combos for v in sorted(vals)][:limit]
        vectors.update(combos)
    return sorted(vectors)


def verify(program: bytes | Sequence[Insn], ruleset: RuleSet, arch: int,
           names: Callable[[int, int], str | None] = _native_names,
           bad_arch: int = RET_KILL_PROCESS) -> Verification:
    """Compare the program with `ruleset.decide` for: every number 0-1023 on `arch` (zero args and
    ip, then all-ones args and ip) and numbers above the table; X32_SYSCALL_BIT numbers on x86_64 (must
    get `bad_arch`); every number 0-1023 on foreign arches (must get `bad_arch`); and the edge vectors of
    every syscall with argument rules."""
    from .compiler import encode as _encode
    from .errors import SysfenceError
    from .syscalls import number as _number

    insns = _insns(program)
    res = Verification()
    unknown = _encode(ruleset.unknown_action)
    resolved: dict[int, str | None] = {}

    def name_of(nr: int) -> str | None:
        if nr not in resolved:
            resolved[nr] = names(arch, nr) if nr < X32_SYSCALL_BIT else None
        return resolved[nr]

    def expect(nr: int, args: tuple[int, ...]) -> int:
        name = name_of(nr)
        return _encode(ruleset.decide(name, args)) if name else unknown

    def check(a: int, nr: int, args: tuple[int, ...], ip: int, want: int) -> None:
        got = _execute(insns, seccomp_data(a, nr, args, ip), None)[0]
        if got != want:
            res.wrong.append(Disagreement(a, nr, name_of(nr) if a == arch else None, args, ip, got, want))

    zero, ones = (0,) * 6, (_U64,) * 6
    for nr in (*range(NATIVE_RANGE), *ABOVE_TABLE):
        check(arch, nr, zero, 0, expect(nr, zero))
        res.native += 1
    for nr in range(NATIVE_RANGE):
        check(arch, nr, ones, _U64, expect(nr, ones))
        res.native += 1
    if arch == X86_64:
        for nr in (*range(NATIVE_RANGE), 0x3FFFFFFF, 0x3FFFFFFE):
            check(arch, X32_SYSCALL_BIT | nr, zero, 0, bad_arch)
            res.x32 += 1
    for other in FOREIGN_ARCHES:
        if other == arch:
            continue
        for nr in range(NATIVE_RANGE):
            check(other, nr, zero, 0, bad_arch)
            res.foreign += 1
    by_syscall: dict[str, list[Rule]] = {}
    for r in ruleset.conditional:
        by_syscall.setdefault(r.syscall, []).append(r)
    for sc, rules in sorted(by_syscall.items()):
        try:
            nr_or_none = _number(sc, arch)
        except SysfenceError:  # pragma: no cover - names were validated when the profile loaded
            nr_or_none = None
        if nr_or_none is None:
            continue  # not on this arch: no number to call it with
        res.syscalls_with_rules += 1
        for args in edge_vectors(rules):
            want = _encode(ruleset.decide(sc, args))
            got = _execute(insns, seccomp_data(arch, nr_or_none, args), None)[0]
            res.edges += 1
            if got != want:
                res.wrong.append(Disagreement(arch, nr_or_none, sc, args, 0, got, want))
    return res
