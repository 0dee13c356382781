"""A classic-BPF emulator for seccomp programs: pure Python, no libseccomp.

It runs a program on one `seccomp_data` (arch, nr, instruction pointer, six args) the way the kernel
does, so tests can check that a compiled program decides exactly what the rules intend -- for every
syscall number, foreign arches and the edge values of every argument rule.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_INSN = struct.Struct("=HBBI")
_M32 = 0xFFFFFFFF

# instruction classes and fields (linux/bpf_common.h)
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN = 0x00, 0x20, 0x40, 0x60, 0x80
K, X = 0x00, 0x08


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


def seccomp_data(arch: int, nr: int, args: tuple[int, ...] = (0,) * 6, ip: int = 0) -> bytes:
    """struct seccomp_data in native (little-endian on x86_64) byte order."""
    return struct.pack("=iIQ6Q", nr - (1 << 32) if nr >= 1 << 31 else nr, arch, ip, *args)


def run(program: bytes | list[Insn], data: bytes) -> tuple[int, int]:
    """Execute; returns (SECCOMP_RET_* value, instructions executed). Raises ValueError on invalid programs."""
    insns = decode(program) if isinstance(program, bytes) else program
    a = x = 0
    mem = [0] * 16
    pc = steps = 0
    while True:
        if pc >= len(insns):
            raise ValueError(f"fell off the end of the program at {pc}")
        ins = insns[pc]
        steps += 1
        cls, code, k = ins.code & 7, ins.code, ins.k
        pc += 1
        if cls in (LD, LDX):
            mode, size = code & 0xE0, code & 0x18
            if mode == IMM:
                v = k
            elif mode == MEM:
                v = mem[k & 15]
            elif mode == LEN:
                v = len(data)
            elif mode in (ABS, IND):
                off = k + (x if mode == IND else 0)
                n = {W: 4, H: 2, B: 1}[size]
                if off + n > len(data) or (mode == ABS and size == W and off % 4):
                    raise ValueError(f"out-of-bounds or misaligned load at {off}")
                v = int.from_bytes(data[off : off + n], "little")
            else:
                raise ValueError(f"bad load mode {code:#x}")
            if cls == LD:
                a = v & _M32
            else:
                x = v & _M32
        elif cls == ST:
            mem[k & 15] = a
        elif cls == STX:
            mem[k & 15] = x
        elif cls == ALU:
            op, src = code & 0xF0, (x if code & X else k)
            if op == 0x80:
                a = -a & _M32
            elif op in (0x30, 0x90) and src == 0:
                return 0, steps  # division by zero: the kernel kills
            else:
                a = {
                    0x00: a + src,
                    0x10: a - src,
                    0x20: a * src,
                    0x30: a // (src or 1),
                    0x40: a | src,
                    0x50: a & src,
                    0x60: a << (src & 31),
                    0x70: a >> (src & 31),
                    0x90: a % (src or 1),
                    0xA0: a ^ src,
                }[op] & _M32
        elif cls == JMP:
            op = code & 0xF0
            if op == 0x00:
                pc += k
            else:
                src = x if code & X else k
                cond = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}[op]
                pc += ins.jt if cond else ins.jf
        elif cls == RET:
            return (a if code & 0x18 == 0x10 else k) & _M32, steps
        elif cls == MISC:
            if code & 0xF8 == 0x00:
                x = a
            else:
                a = x
        else:  # pragma: no cover
            raise ValueError(f"bad instruction {code:#x}")
