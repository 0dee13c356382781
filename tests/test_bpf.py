"""sysfence.bpf: disassembler and emulator on hand-written programs, verification of every built-in profile's
compiled program against its rules, the emulator against the kernel, and the CLI over them
(show --bpf, explain --path, check --verify)."""

from __future__ import annotations

import errno
import json
import signal
import struct

import pytest
from conftest import run_enforced, run_py, sysfence_cli

from sysfence import bpf, cli, compiler, profile, syscalls

X86_64, I386 = 0xC000003E, 0x40000003
EPERM_RET, ENOSYS_RET, ALLOW, KILL = 0x50001, 0x50026, 0x7FFF0000, 0x80000000
U64 = 2**64 - 1
BUILTINS = ["default", "strict", "net-client", "net-server", "read-only", "no-network", "no-spawn"]


def x86_64_only() -> None:
    if syscalls.native_arch() != X86_64:
        pytest.skip("written for x86_64 syscall numbers")


# ------------------------------------------------------------------ hand-written programs


def stmt(code: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, 0, 0, k)


def jump(code: int, k: int, jt: int, jf: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


LD_W_ABS, JEQ_K, JGT_K, JGE_K, JSET_K, JA, RET_K, RET_A = 0x20, 0x15, 0x25, 0x35, 0x45, 0x05, 0x06, 0x16

# arch check + x32 check + getpid allowed + ioctl: high half set -> EPERM (jset), TIOCSTI -> EPERM,
# other ioctls allowed; everything else EPERM; foreign arch or x32 number -> KILL_PROCESS
SMALL = b"".join([
    stmt(LD_W_ABS, 4),                   # 0
    jump(JEQ_K, X86_64, 0, 12),          # 1 -> 2 / 14
    stmt(LD_W_ABS, 0),                   # 2
    jump(JGE_K, 0x40000000, 10, 0),      # 3 -> 14 / 4
    jump(JEQ_K, 39, 8, 0),               # 4 -> 13 / 5
    jump(JEQ_K, 16, 1, 0),               # 5 -> 7 / 6
    stmt(JA, 5),                         # 6 -> 12
    stmt(LD_W_ABS, 28),                  # 7 args[1] high half
    jump(JSET_K, 0xFFFFFFFF, 3, 0),      # 8 -> 12 / 9
    stmt(LD_W_ABS, 24),                  # 9 args[1] low half
    jump(JEQ_K, 0x5412, 1, 0),           # 10 -> 12 / 11
    stmt(JA, 1),                         # 11 -> 13
    stmt(RET_K, EPERM_RET),              # 12
    stmt(RET_K, ALLOW),                  # 13
    stmt(RET_K, KILL),                   # 14
])

SMALL_TEXT = """\
    0  ld    [4]                             ; A = arch
    1  jeq   #0xc000003e  jt 2     jf 14     ; arch == AUDIT_ARCH_X86_64
    2  ld    [0]                             ; A = nr
    3  jge   #0x40000000  jt 14    jf 4      ; nr >= X32_SYSCALL_BIT
    4  jeq   #0x27        jt 13    jf 5      ; nr == 39 (getpid)
    5  jeq   #0x10        jt 7     jf 6      ; nr == 16 (ioctl)
    6  ja    12
    7  ld    [28]                            ; A = args[1].hi
    8  jset  #0xffffffff  jt 12    jf 9      ; args[1].hi & 0xffffffff
    9  ld    [24]                            ; A = args[1].lo
   10  jeq   #0x5412      jt 12    jf 11     ; args[1].lo == 0x5412
   11  ja    13
   12  ret   #0x50001                        ; ERRNO(EPERM)
   13  ret   #0x7fff0000                     ; ALLOW
   14  ret   #0x80000000                     ; KILL_PROCESS"""


def _names(arch: int, nr: int) -> str | None:
    return {39: "getpid", 16: "ioctl", 20: "writev"}.get(nr) if arch == X86_64 else None


def test_disassembly_of_a_small_program_is_exact():
    assert "\n".join(bpf.disassemble(SMALL, names=_names)) == SMALL_TEXT


def test_disassembly_names_syscalls_through_libseccomp():
    x86_64_only()
    assert bpf.disassemble(SMALL) == SMALL_TEXT.splitlines()


def test_disassembly_without_names_keeps_numbers():
    lines = bpf.disassemble(SMALL, names=None)
    assert lines[4].endswith("; nr == 39") and "KILL_PROCESS" in lines[14]


def test_disassembly_lines_carry_absolute_targets():
    lines = bpf.disassemble_lines(SMALL, names=None)
    assert (lines[1].mnemonic, lines[1].jt, lines[1].jf) == ("jeq", 2, 14)
    assert (lines[6].mnemonic, lines[6].operand) == ("ja", "12")
    assert lines[12].comment == "ERRNO(EPERM)"


def test_syscall_names_follow_the_arch_the_program_checked():
    """nr 20 is getpid on i386 and writev on x86_64: the name depends on the arch branch."""
    prog = b"".join([
        stmt(LD_W_ABS, 4),            # 0
        jump(JEQ_K, I386, 0, 3),      # 1 -> 2 / 5
        stmt(LD_W_ABS, 0),            # 2
        jump(JEQ_K, 20, 6, 7),        # 3 -> 10 / 11
        stmt(JA, 6),                  # 4 (unreachable)
        jump(JEQ_K, X86_64, 0, 5),    # 5 -> 6 / 11
        stmt(LD_W_ABS, 0),            # 6
        jump(JEQ_K, 20, 2, 0),        # 7 -> 10 / 8
        stmt(LD_W_ABS, 0),            # 8
        jump(JGT_K, 20, 0, 0),        # 9 -> 10 / 10: both arches reach 10 and 11
        stmt(RET_K, ALLOW),           # 10
        stmt(RET_K, KILL),            # 11
    ])
    lines = bpf.disassemble(prog)
    assert lines[1].endswith("arch == AUDIT_ARCH_I386")
    assert lines[3].endswith("nr == 20 (getpid)")
    assert lines[5].endswith("arch == AUDIT_ARCH_X86_64")
    assert lines[7].endswith("nr == 20 (writev)")
    assert lines[9].endswith("nr > 20 (writev)")
    assert bpf.disassemble(prog, names=None)[3].endswith("nr == 20")


def test_arch_is_unknown_after_branches_join_unless_given():
    prog = b"".join([
        stmt(LD_W_ABS, 4),            # 0
        jump(JEQ_K, I386, 1, 0),      # 1 -> 3 / 2
        jump(JEQ_K, X86_64, 0, 3),    # 2 -> 3 / 6
        stmt(LD_W_ABS, 0),            # 3: reached with i386 and with x86_64
        jump(JEQ_K, 39, 0, 1),        # 4 -> 5 / 6
        stmt(RET_K, ALLOW),           # 5
        stmt(RET_K, KILL),            # 6
    ])
    assert bpf.disassemble(prog, names=_names)[4].endswith("nr == 39")
    assert bpf.disassemble(prog, X86_64, names=_names)[4].endswith("nr == 39 (getpid)")


def test_disassembly_of_every_instruction_class():
    prog = [
        (0x00, 0, 0, 7), (0x01, 0, 0, 3), (0x80, 0, 0, 0), (0x60, 0, 0, 2), (0x02, 0, 0, 1), (0x03, 0, 0, 1),
        (0x04, 0, 0, 1), (0x0C, 0, 0, 0), (0x54, 0, 0, 0xFF), (0x84, 0, 0, 0), (0x07, 0, 0, 0), (0x87, 0, 0, 0),
        (0x28, 0, 0, 0), (0x30, 0, 0, 1), (0x1D, 1, 0, 0), (0x20, 0, 0, 8), (0x20, 0, 0, 12), (RET_A, 0, 0, 0),
    ]
    lines = bpf.disassemble(bpf.encode(prog))
    got = [(ln.split()[1], " ".join(ln.split(";")[0].split()[2:])) for ln in lines]
    assert got == [
        ("ld", "#0x7"), ("ldx", "#0x3"), ("ld", "#len"), ("ld", "M[2]"), ("st", "M[1]"), ("stx", "M[1]"),
        ("add", "#0x1"), ("add", "x"), ("and", "#0xff"), ("neg", ""), ("tax", ""), ("txa", ""),
        ("ldh", "[0]"), ("ldb", "[1]"), ("jeq", "x jt 16 jf 15"), ("ld", "[8]"), ("ld", "[12]"), ("ret", "a"),
    ]
    assert lines[15].endswith("A = instruction_pointer.lo") and lines[16].endswith("A = instruction_pointer.hi")
    assert lines[2].endswith("A = sizeof(seccomp_data)")


@pytest.mark.parametrize("ret, text, action", [
    (0x7FFF0000, "ALLOW", "allow"),
    (0x50001, "ERRNO(EPERM)", "errno(EPERM)"),
    (0x50026, "ERRNO(ENOSYS)", "errno(ENOSYS)"),
    (0x80000000, "KILL_PROCESS", "kill-process"),
    (0x00000000, "KILL_THREAD", "kill-thread"),
    (0x00030000, "TRAP", "trap"),
    (0x7FFC0000, "LOG", "log"),
    (0x7FC00000, "USER_NOTIF", "user-notif"),
    (0x7FF00000, "TRACE", "trace"),
    (0x7FF00005, "TRACE(5)", "trace"),
    (0x12340000, "0x12340000 (unknown action: KILL_PROCESS)", "kill-process"),
])
def test_return_values_are_decoded(ret, text, action):
    assert bpf.describe_ret(ret) == text and bpf.action_name(ret) == action


# ------------------------------------------------------------------ emulator


@pytest.mark.parametrize("arch, nr, args, want, path", [
    (X86_64, 39, (), ALLOW, (0, 1, 2, 3, 4, 13)),
    (X86_64, 16, (0, 0x5412), EPERM_RET, (0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12)),
    (X86_64, 16, (0, 0x5413), ALLOW, (0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 13)),
    (X86_64, 16, (0, 0x100005413), EPERM_RET, (0, 1, 2, 3, 4, 5, 7, 8, 12)),  # jset on the high half
    (X86_64, 0, (), EPERM_RET, (0, 1, 2, 3, 4, 5, 6, 12)),
    (X86_64, 0x40000027, (), KILL, (0, 1, 2, 3, 14)),
    (I386, 39, (), KILL, (0, 1, 14)),
])
def test_emulator_verdicts_and_paths(arch, nr, args, want, path):
    res = bpf.evaluate(SMALL, arch, nr, args)
    assert (res.ret, res.path) == (want, path)
    data = bpf.seccomp_data(arch, nr, args + (0,) * (6 - len(args)))
    assert bpf.run(SMALL, data) == (want, len(path))  # the old API: (ret, steps)
    assert bpf.trace(bpf.decode(SMALL), data) == (want, list(path))


def test_emulator_alu_scratch_memory_and_instruction_pointer():
    # A = (args[0].lo & 0xff); M[0] = A; X = M[0]; A = X; A += X; if ip.lo == 0x1000: return A else return 1
    prog = bpf.encode([
        (LD_W_ABS, 0, 0, 16), (0x54, 0, 0, 0xFF), (0x02, 0, 0, 0), (0x61, 0, 0, 0), (0x87, 0, 0, 0),
        (0x0C, 0, 0, 0), (0x02, 0, 0, 1), (LD_W_ABS, 0, 0, 8), (JEQ_K, 0, 2, 0x1000), (0x60, 0, 0, 1),
        (RET_A, 0, 0, 0), (RET_K, 0, 0, 1),
    ])
    assert bpf.evaluate(prog, X86_64, 0, (0x1234,), ip=0x1000).ret == 0x68
    assert bpf.evaluate(prog, X86_64, 0, (0x1234,), ip=0x2000).ret == 1
    assert bpf.evaluate(prog, X86_64, 0, (0x1234,), ip=0x1_0000_1000).ret == 0x68  # ip.lo only


def test_emulator_errors_and_division_by_zero():
    with pytest.raises(ValueError, match="fell off"):
        bpf.run(stmt(LD_W_ABS, 0), bpf.seccomp_data(X86_64, 0))
    with pytest.raises(ValueError, match="misaligned"):
        bpf.run(stmt(LD_W_ABS, 2) + stmt(RET_K, 0), bpf.seccomp_data(X86_64, 0))
    with pytest.raises(ValueError, match="out-of-bounds"):
        bpf.run(stmt(LD_W_ABS, 64) + stmt(RET_K, 0), bpf.seccomp_data(X86_64, 0))
    with pytest.raises(ValueError, match="multiple of 8"):
        bpf.decode(b"\0" * 7)
    div_by_x = bpf.encode([(0x01, 0, 0, 0), (0x3C, 0, 0, 0), (RET_K, 0, 0, ALLOW)])  # ldx #0; div x
    assert bpf.run(div_by_x, bpf.seccomp_data(X86_64, 0))[0] == 0  # the kernel kills


def test_seccomp_data_layout():
    data = bpf.seccomp_data(X86_64, 0xFFFFFFFF, (1, 2, 3, 4, 5, U64), ip=0x1122334455667788)
    assert len(data) == 64
    assert struct.unpack("=iIQ6Q", data) == (-1, X86_64, 0x1122334455667788, 1, 2, 3, 4, 5, U64)


# ------------------------------------------------------------------ verify: every built-in profile


@pytest.fixture(scope="module")
def compiled():
    out = {}
    for name in BUILTINS:
        rs = profile.load(name).ruleset()
        out[name] = (rs, compiler.compile_ruleset(rs))
    return out


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_program_decides_like_its_rules(compiled, name):
    rs, comp = compiled[name]
    v = bpf.verify(comp.program, rs, comp.arch)
    assert not v.wrong, f"{name}: {len(v.wrong)} disagreements, first: " + "; ".join(str(w) for w in v.wrong[:5])
    assert v.native == 2 * 1024 + len(bpf.ABOVE_TABLE)
    assert v.foreign == 1024 * (len(bpf.FOREIGN_ARCHES) - 1)
    assert v.syscalls_with_rules >= 5 and v.edges > 400
    if comp.arch == X86_64:
        assert v.x32 == 1026


def test_edge_values_cover_high_bits_and_neighbours():
    vals = bpf.edge_values(0x5412, 0xFFFFFFFF)
    for v in (0x5412, 0x5413, 0x5411, 0x100005412, 0xFFFFFFFF00005412, 0x8000000000005412, 0, U64,
              0xFFFFFFFF, 0xFFFFFFFF00000000):
        assert v in vals, hex(v)


# on x86_64, getpid -> EPERM; everything else continues with the original program
GETPID_EPERM = [(LD_W_ABS, 0, 0, 4), (JEQ_K, 0, 3, X86_64), (LD_W_ABS, 0, 0, 0), (JEQ_K, 0, 1, 39),
                (RET_K, 0, 0, EPERM_RET)]


def _prepend(program: bytes, *insns: tuple[int, int, int, int]) -> bytes:
    return bpf.encode(insns) + program  # jumps are relative: the original program is unchanged


def test_verify_names_the_syscall_a_broken_program_gets_wrong(compiled):
    x86_64_only()
    rs, comp = compiled["default"]
    broken = _prepend(comp.program, *GETPID_EPERM)
    v = bpf.verify(broken, rs, comp.arch)
    assert [w.name for w in v.wrong] == ["getpid", "getpid"]  # zero args, all-ones args
    assert str(v.wrong[0]) == ("getpid(0x0, 0x0, 0x0, 0x0, 0x0, 0x0) [nr 0x27 on AUDIT_ARCH_X86_64]: "
                               "program errno(EPERM), rules allow")


def test_verify_catches_a_guard_that_ignores_high_bits(compiled):
    """A program that lets ioctl through whenever the request's high half is non-zero (the old high-bits
    bypass): only the edge vectors with high bits set can tell."""
    x86_64_only()
    rs, comp = compiled["default"]
    broken = _prepend(comp.program, (LD_W_ABS, 0, 0, 0), (JEQ_K, 0, 3, 16), (LD_W_ABS, 0, 0, 28),
                      (JEQ_K, 1, 0, 0), (RET_K, 0, 0, ALLOW))
    v = bpf.verify(broken, rs, comp.arch)
    assert v.wrong and {w.name for w in v.wrong} == {"ioctl"}
    assert all(w.args[1] >> 32 and w.program == ALLOW and w.rules == EPERM_RET for w in v.wrong)
    assert any(w.args[1] == 0x100005412 for w in v.wrong)


def test_verify_kills_foreign_arches_and_x32_numbers(compiled):
    x86_64_only()
    rs, comp = compiled["default"]
    # a program that forgets the arch check: i386 calls would run with x86_64 rules
    no_arch = comp.program[2 * 8:]  # drop "ld arch; jeq X86_64": starts at "ld nr"
    v = bpf.verify(no_arch, rs, comp.arch)
    assert any(w.arch == I386 and w.program != KILL for w in v.wrong)
    assert "AUDIT_ARCH_I386" in str(next(w for w in v.wrong if w.arch == I386))


# ------------------------------------------------------------------ emulator against the kernel

TIOCSTI, TIOCLINUX, TCGETS, TIOCGWINSZ = 0x5412, 0x541C, 0x5401, 0x5413
NEG1 = U64  # -1 as an unsigned 64-bit argument
# (label, nr, args, errno the kernel gives when the filter lets the call through: 0 = success)
KERNEL_CASES = [
    ("getpid", 39, (), 0),
    ("getppid", 110, (), 0),
    ("close(-1)", 3, (NEG1,), errno.EBADF),
    ("read(-1)", 0, (NEG1, 0, 0), errno.EBADF),
    ("write(-1)", 1, (NEG1, 0, 0), errno.EBADF),
    ("getrandom(len 0)", 318, (0, 0, 0), 0),
    ("ioctl TCGETS", 16, (NEG1, TCGETS, 0), errno.EBADF),
    ("ioctl TIOCGWINSZ", 16, (NEG1, TIOCGWINSZ, 0), errno.EBADF),
    ("ioctl TIOCSTI", 16, (NEG1, TIOCSTI, 0), errno.EBADF),
    ("ioctl TIOCSTI | 1<<32", 16, (NEG1, TIOCSTI | 1 << 32, 0), errno.EBADF),
    ("ioctl TIOCSTI | high half", 16, (NEG1, TIOCSTI | 0xFFFFFFFF00000000, 0), errno.EBADF),
    ("ioctl TIOCLINUX", 16, (NEG1, TIOCLINUX, 0), errno.EBADF),
    ("ioctl TIOCGWINSZ | 1<<32", 16, (NEG1, TIOCGWINSZ | 1 << 32, 0), errno.EBADF),
    ("personality(query)", 135, (0xFFFFFFFF,), 0),
    ("personality(query | 1<<32)", 135, (0x1FFFFFFFF,), 0),
    ("personality(PER_LINUX)", 135, (0,), 0),
    ("personality(READ_IMPLIES_EXEC)", 135, (0x0400000,), 0),
    ("personality(ADDR_NO_RANDOMIZE)", 135, (0x0040000,), 0),
    ("clone3", 435, (0, 0), errno.EINVAL),
    ("clone(CLONE_NEWNS|CLONE_FS)", 56, (0x00020200, 0, 0, 0, 0), errno.EINVAL),
    ("unshare(CLONE_NEWUSER|CLONE_FS)", 272, (0x10000200,), errno.EINVAL),
    ("setns(-1)", 308, (NEG1, 0), errno.EBADF),
    ("mount(NULL)", 165, (0, 0, 0, 0, 0), errno.EFAULT),
    ("mknodat(S_IFCHR)", 259, (NEG1, 0, 0o020000, 0), errno.EFAULT),
    ("mknodat(S_IFIFO)", 259, (NEG1, 0, 0o010000, 0), errno.EFAULT),
    ("ptrace(-1)", 101, (0xFFFF, 0, 0, 0), errno.EIO),
    ("bpf(-1)", 321, (0xFFFF, 0, 0), errno.EINVAL),
    ("reboot(bad magic)", 169, (0, 0, 0, 0), errno.EINVAL),
    ("io_uring_setup", 425, (0, 0), errno.EFAULT),
    ("statmount (newer than the table)", 457, (0, 0, 0, 0), errno.EFAULT),
    ("lsm_set_self_attr (460)", 460, (0, 0, 0, 0), errno.EINVAL),
    ("number 1000", 1000, (), errno.ENOSYS),
]

_KERNEL_CHILD = """
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = []
for nr, args in json.loads({cases!r}):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    out.append([r, ctypes.get_errno() if r == -1 else 0])
print(json.dumps(out))
"""


def test_kernel_agrees_with_the_emulator(compiled):
    """Each call made for real under the default profile: the kernel's errno is exactly what emulating the
    compiled program says (ERRNO(e) -> e; ALLOW -> what the kernel gives an unfiltered call)."""
    x86_64_only()
    _, comp = compiled["default"]
    cases = json.dumps([[nr, list(args)] for _, nr, args, _ in KERNEL_CASES])
    r = run_enforced(_KERNEL_CHILD.format(cases=cases))
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout.strip().splitlines()[-1])
    wrong, denied = [], 0
    for (label, nr, args, unfiltered), (ret, err) in zip(KERNEL_CASES, results, strict=True):
        emu = bpf.evaluate(comp.program, X86_64, nr, args).ret
        if emu & 0xFFFF0000 == 0x50000:
            want, denied = emu & 0xFFFF, denied + 1
        elif emu == ALLOW:
            want = unfiltered
        else:
            wrong.append(f"{label}: emulator says {bpf.describe_ret(emu)}, cannot run that in-process")
            continue
        if (err if ret == -1 else 0) != want:
            wrong.append(f"{label}: kernel ret {ret} errno {errno.errorcode.get(err, err)}, emulator "
                         f"{bpf.describe_ret(emu)} -> want errno {errno.errorcode.get(want, want)}")
    assert not wrong, wrong
    assert 10 <= denied < len(KERNEL_CASES)  # both kinds are covered


def test_kernel_kills_x32_numbers_as_the_emulator_says(compiled):
    x86_64_only()
    _, comp = compiled["default"]
    assert bpf.evaluate(comp.program, X86_64, 0x40000000 | 39).ret == KILL
    r = run_enforced("""
        import ctypes
        ctypes.CDLL(None).syscall(ctypes.c_long(0x40000000 | 39))
        print("survived")
    """)
    assert r.returncode == -signal.SIGSYS and "survived" not in r.stdout, (r.returncode, r.stderr)


# ------------------------------------------------------------------ CLI


def test_cli_show_bpf():
    x86_64_only()
    r = sysfence_cli("show", "default", "--bpf")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    n = compiler.compile_ruleset(profile.load("default").ruleset()).instructions
    assert lines[0] == f"# profile default (<builtin:default>): x86_64 (AUDIT_ARCH_X86_64), {n} BPF instructions"
    body = lines[2:]
    assert len(body) == n and body[0].split()[:2] == ["0", "ld"]
    text = r.stdout
    for needle in ("ERRNO(EPERM)", "ERRNO(ENOSYS)", "AUDIT_ARCH_X86_64", "KILL_PROCESS", "ALLOW",
                   "X32_SYSCALL_BIT", "(getpid)", "(ioctl)", "args[1].lo == 0x5412", "A = args[1].hi"):
        assert needle in text, needle
    d = json.loads(sysfence_cli("show", "strict", "--bpf", "--json").stdout)
    assert d["schema_version"] == 1 and d["arch"] == "x86_64" and len(d["disassembly"]) == d["instructions"]
    assert bytes.fromhex(d["program"]) == compiler.compile_ruleset(profile.load("strict").ruleset()).program


def test_cli_show_bpf_needs_a_profile():
    r = sysfence_cli("show", "--bpf")
    assert r.returncode == 2 and "show --bpf needs a profile" in r.stderr


def test_cli_explain_shows_the_program_decision_and_path():
    x86_64_only()
    r = sysfence_cli("explain", "ioctl", "--arg", "1=0x100005412", "--profile", "default", "--path")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "  profile default: errno(EPERM) (capability:device-control); compiled program: errno(EPERM) after" in out
    path = [ln for ln in out.splitlines() if ln.startswith("      ")]
    assert path[0].split()[:3] == ["0", "ld", "[4]"] and path[-1].endswith("; ERRNO(EPERM)")
    assert any("(ioctl)" in ln for ln in path) and any("args[1].lo == 0x5412" in ln for ln in path)
    # without --path: one line per profile, no instructions
    r = sysfence_cli("explain", "getpid")
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("  profile ")]
    assert len(rows) == 7 and all("compiled program: allow after" in ln for ln in rows)
    assert not any(ln.startswith("      ") for ln in r.stdout.splitlines())
    d = json.loads(sysfence_cli("explain", "clone3", "--json").stdout)
    for p in d["profiles"]:
        assert p["program"]["decision"] == p["decision"] == "errno(ENOSYS)" and p["program"]["agrees"]
        assert p["program"]["path"][0] == 0 and p["program"]["ret"] == hex(ENOSYS_RET)


def test_cli_check_verify_passes_for_every_builtin():
    code = f"""
        import contextlib, io, json
        from sysfence import cli
        out = {{}}
        for name in {BUILTINS!r}:
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                rc = cli.main(["check", name, "--verify", "--json"])
            out[name] = [rc, json.loads(buf.getvalue())["verification"]]
        print(json.dumps(out))
    """
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    for name, (rc, v) in json.loads(r.stdout).items():
        assert rc == 0 and v["ok"] and v["disagreements"] == [], (name, v)
        assert v["cases"] == v["syscall_numbers"] + v["x32_numbers"] + v["foreign_arch_calls"] + v["argument_vectors"]
        assert v["syscall_numbers"] >= 2048 and v["argument_vectors"] > 400
    r = sysfence_cli("check", "default", "--verify")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("verified: the compiled program decides like the rules in ")


def test_cli_check_verify_fails_naming_the_syscall(monkeypatch, capsys):
    x86_64_only()
    real = compiler.compile_ruleset

    def broken(rs):
        comp = real(rs)
        prog = _prepend(comp.program, *GETPID_EPERM)
        return compiler.Compiled(comp.ruleset, comp.arch, prog, comp.not_on_arch)

    monkeypatch.setattr(compiler, "compile_ruleset", broken)
    assert cli.main(["check", "default", "--verify"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("sysfence: error: <builtin:default>: profile 'default': the compiled program disagrees "
                          "with the rules on getpid(0x0, 0x0, 0x0, 0x0, 0x0, 0x0) [nr 0x27 on AUDIT_ARCH_X86_64]: "
                          "program errno(EPERM), rules allow (2 of ")
    assert cli.main(["check", "default", "--verify", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["verification"]["ok"] is False and "getpid(" in err
    # without --verify the broken program is not looked at
    assert cli.main(["check", "default"]) == 0
