"""Every capability of the catalog, granted alone, against the real kernel.

For each non-dangerous capability one child process loads a profile that grants the *harness* plus the
capability and runs a batch of probes (raw syscalls through ctypes, plus a few Python-level operations); a
second child runs the same probes under the harness alone; a third runs them with no filter at all. The
capability's own operations must succeed (or reach the kernel and get its exact answer) in the first child
and fail with EPERM in the second, and everything the capability's argument rules exclude must fail with
EPERM in the first child too. The unfiltered child proves that each of those EPERMs is the filter's doing
(as root the kernel would have said something else).

The harness is `runtime` + `stdio` (`capabilities = ["runtime", "stdio", CAP]`):
  * runtime: the interpreter cannot even exit without exit_group (glibc's _exit then executes `hlt`, which
    is SIGSEGV), and a handled signal needs rt_sigreturn;
  * stdio: the child reports its results with write() and checks `Seccomp: 2` with pread() on a
    /proc/self/status descriptor it opened before enable(). stdio also allows ioctl for FIONBIO, FIOCLEX,
    FIONCLEX and FIONREAD, so the harness child gets the kernel's answer for those four requests (the terminal
    and device-control specs take that into account) and sockets can be made non-blocking or given a timeout
    under any spec.
Everything else a child needs (files, sockets, mappings, the pre-started thread that warms glibc's stack and
arena caches) is prepared before enable(). Python needs no mmap after enable() for these small probe batches
(pymalloc keeps an empty arena; the heap grows with brk, which runtime grants), so `memory` is NOT part of the
harness and is tested like any other capability.

The two harness members are tested by dropping them: `runtime` with a profile of `stdio` alone (the child
prints its results, then dies with SIGSEGV because exit_group and exit are refused), `stdio` with `runtime`
alone (the child reports through a MAP_SHARED mapping of a result file made before the filter, which needs
no syscall at all).

A few Python-level operations need more than one capability (a new thread allocates with mmap; subprocess
needs pipes, signal masks and a loader that maps libraries): those run as extra *variants* that add the same
companion capabilities to both children, so the difference between the two children is still exactly the
capability under test.

Dangerous capabilities are never in a built-in profile; granting one (TOML `capabilities` or `run --cap`)
makes its syscalls reach the kernel with harmless arguments (invalid flags, NULL pointers, pid 0, invalid
reboot magic) and prints a warning on stderr. No probe here is harmful even where it is allowed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import child_env, run_py, sysfence_cli

from sysfence import capabilities, host, profile, syscalls
from sysfence.rules import Op

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
    reason="these expectations are written for Linux x86_64",
)

HARNESS = ("runtime", "stdio")
VDSO_GETRANDOM = host.getrandom_bypasses_filters()
assert VDSO_GETRANDOM is not None or not sys.platform.startswith("linux"), "the getrandom probe could not run"
IS_ROOT = os.geteuid() == 0
SIGSEGV = int(signal.SIGSEGV)
HIGH1 = 1 << 32
HIGHF = 0xFFFFFFFF00000000
CHILD_TIMEOUT = 30

# ------------------------------------------------------------------------------------------ the child program
# MODE is "filtered" or "unfiltered"; REPORT is "print" (stdout, plus the Seccomp line read with pread) or
# "mmap" (a shared mapping of TMP/result, for the child that has no stdio). Probes store short strings in `out`:
# "rc=N", an errno name, "fd" (a new descriptor, closed again), "ok" (any result >= 0: addresses, ids), "="
# (returned the value known before the filter), "ok:<value>" for Python-level operations.
CHILD = r'''
import ctypes, errno, json, mmap, os, select, signal, socket, stat, struct, sys, threading, time
MODE, PROFILE, TMP, REPORT = __ARGS__
import sysfence
from sysfence import syscalls as _syscalls

NR = dict(_syscalls.table())
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
AT_FDCWD = -100
HIGH1, HIGHF = 1 << 32, 0xFFFFFFFF00000000
PID, TID = os.getpid(), threading.get_native_id()
out = {}


def P(name):
    return os.path.join(TMP, name).encode()


def buf(n=4096, init=b""):
    return ctypes.create_string_buffer(init, n) if init else ctypes.create_string_buffer(n)


def ref(x):
    return ctypes.byref(x)


def _arg(a):
    if isinstance(a, int):
        return ctypes.c_long(a)  # no overflow check: values >= 1 << 63 arrive with all 64 bits as written
    if isinstance(a, bytes):
        return ctypes.c_char_p(a)
    return a


def raw(name, *args):
    ctypes.set_errno(0)
    rc = _libc.syscall(ctypes.c_long(NR[name]), *[_arg(a) for a in args])
    return rc, ctypes.get_errno()


def _res(rc, err):
    return "rc=%d" % rc if rc != -1 else errno.errorcode.get(err, "errno=%d" % err)


def sc(name, *args):
    return _res(*raw(name, *args))


def ok(name, *args):
    rc, err = raw(name, *args)
    return "ok" if rc >= 0 else _res(rc, err)


def fd(name, *args):
    rc, err = raw(name, *args)
    if rc >= 0:
        os.close(rc)
        return "fd"
    return _res(rc, err)


def same(name, want, *args):
    rc, err = raw(name, *args)
    return "=" if rc == want else _res(rc, err)


def forked(name, *args):
    rc, err = raw(name, *args)
    if rc == 0:
        os._exit(0)
    if rc < 0:
        return _res(rc, err)
    try:
        return "forked:exit=%d" % os.waitstatus_to_exitcode(os.waitpid(rc, 0)[1])
    except OSError as exc:
        return "forked:" + errno.errorcode[exc.errno]


def py(fn, *args):
    try:
        r = fn(*args)
    except socket.gaierror as exc:
        return "gaierror:%d" % exc.errno
    except OSError as exc:
        return errno.errorcode.get(exc.errno, type(exc).__name__) if exc.errno else type(exc).__name__
    except Exception as exc:
        return type(exc).__name__
    return "ok" if r is None else "ok:%s" % (r,)


def sin(port=0, host="127.0.0.1"):
    return buf(16, struct.pack("<HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton(host)))


def iov(*pairs):
    arr = (ctypes.c_uint64 * (2 * len(pairs)))()
    for i, (b, n) in enumerate(pairs):
        arr[2 * i], arr[2 * i + 1] = ctypes.addressof(b), n
    return arr


def msghdr(vec, n, name=None, namelen=0):
    return buf(56, struct.pack("<QI4xQQQQi4x", ctypes.addressof(name) if name is not None else 0, namelen,
                                 ctypes.addressof(vec), n, 0, 0, 0))


"localhost".encode("idna")  # socket.getaddrinfo imports this codec (and a C extension) on first use

if REPORT == "mmap":
    with open(os.path.join(TMP, "result"), "r+b") as _f:
        _map = mmap.mmap(_f.fileno(), 0)

__PREP__

_status_fd = os.open("/proc/self/status", os.O_RDONLY)
_warm = [bytes(100 + i % 400) for i in range(20000)]
del _warm
if MODE == "filtered":
    try:
        out["__enable__"] = sysfence.enable(PROFILE, required=True).state.value
    except Exception as _exc:
        out["__enable__"] = type(_exc).__name__
if REPORT == "print":
    _status = dict(l.split(":", 1) for l in os.pread(_status_fd, 8192, 0).decode().splitlines() if ":" in l)
    out["__seccomp__"] = _status["Seccomp"].strip()

__PROBE__

if REPORT == "print":
    print(json.dumps(out), flush=True)
else:
    _data = json.dumps(out).encode()
    _map[: len(_data)] = _data
os._exit(0)
'''


def child_code(prep: str, probe: str, mode: str, profile_path: str, tmp: Path, report: str) -> str:
    args = repr((mode, profile_path, str(tmp), report))
    return CHILD.replace("__ARGS__", args).replace("__PREP__", prep).replace("__PROBE__", probe)


# ------------------------------------------------------------------------------------------------ the specs
@dataclass(frozen=True)
class Spec:
    """Probes for one capability. `expect`: probe id -> result with the capability, or (with, without);
    without defaults to EPERM. Special results: "UNFILTERED" = whatever the unfiltered child got (values that
    depend on the machine), "ROOT:<r>" = r as root (the probe is not asserted unprivileged)."""

    cap: str
    prep: str
    probe: str
    expect: dict[str, str | tuple[str, str]]
    extra: tuple[str, ...] = ()  # companion capabilities granted to both children
    with_caps: tuple[str, ...] | None = None  # override the two profiles (harness members)
    without_caps: tuple[str, ...] | None = None
    report: str = "print"
    exit_with: int = 0
    exit_without: int = 0
    via: dict[str, str] = field(default_factory=dict)  # syscall -> how it is exercised without a raw probe

    def caps(self, granted: bool) -> tuple[str, ...]:
        override = self.with_caps if granted else self.without_caps
        if override is not None:
            return override
        return HARNESS + self.extra + ((self.cap,) if granted else ())


SPECS: dict[str, Spec] = {}


def spec(sid: str, **kw) -> None:
    """prep/probe may be a tuple of code blocks with different indentation: each is dedented on its own."""
    assert sid not in SPECS, sid
    for key in ("prep", "probe"):
        parts = kw.get(key, "")
        parts = parts if isinstance(parts, tuple) else (parts,)
        kw[key] = "\n".join(textwrap.dedent(part) for part in parts)
    SPECS[sid] = Spec(**kw)


def _opens(table: list[tuple[str, str, int, str]], call: str = "openat") -> tuple[str, dict[str, str]]:
    """Probe code and expectations for a table of (path, label, flags, expected) opens."""
    lines, expect = [], {}
    for path, label, flags, want in table:
        pid = f"{call}({path},{label})"
        if call == "openat":
            lines.append(f'out[{pid!r}] = fd("openat", AT_FDCWD, P({path!r}), {flags:#x}, 0o600)')
        else:
            lines.append(f'out[{pid!r}] = fd("open", P({path!r}), {flags:#x}, 0o600)')
        expect[pid] = want
    return "\n".join(lines), expect


O_WRONLY, O_RDWR, O_ACCMODE, O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND = 1, 2, 3, 0x40, 0x80, 0x100, 0x200, 0x400
O_NONBLOCK, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_PATH, O_TMPFILE_BIT = 0x800, 0x10000, 0x20000, 0x80000, 0x200000, 0x400000
O_TMPFILE = O_TMPFILE_BIT | O_DIRECTORY


ST, DG, RAW, SEQ = 1, 2, 3, 5  # socket types


def _sockets(table: list[tuple[str, int, int, int, str]]) -> tuple[str, dict[str, str]]:
    """(label, family, type, protocol, expected) -> probe code and expectations."""
    lines, expect = [], {}
    for label, fam, typ, proto, want in table:
        pid = f"socket({label})"
        lines.append(f'out[{pid!r}] = fd("socket", {fam:#x}, {typ:#x}, {proto:#x})')
        expect[pid] = want
    return "\n".join(lines), expect


# ---------------------------------------------------------------------------------------------------- runtime
PERSONA_OK = [0, 8, 0x20000, 0x20008, 0xFFFFFFFF, HIGH1, HIGHF, HIGHF | 8, HIGH1 | 0x20008, (1 << 64) - 1]
PERSONA_DENIED = [0x0040000, 0x0400000, 0x1, 0x9, 0x20009, 0x0040008, 0xFFFFFFFE, 0x0008000, HIGH1 | 0x0040000,
                  HIGHF | 0x0400000]
spec(
    "runtime", cap="runtime",
    with_caps=("stdio", "runtime"), without_caps=("stdio",),
    exit_without=-SIGSEGV,  # exit_group and exit refused: glibc's _exit falls through to `hlt`
    via={"exit": "the child's own exit (exit status 0 vs SIGSEGV)",
         "exit_group": "the child's own exit (exit status 0 vs SIGSEGV)",
         "rt_sigreturn": "every handled signal returns through it (the signals spec delivers several)"},
    prep="""
        _word, _fs = ctypes.c_int(0), ctypes.c_ulong()
        _head, _len = ctypes.c_void_p(), ctypes.c_size_t()
    """,
    probe=f"""
        out["getpid"] = same("getpid", PID)
        out["gettid"] = same("gettid", TID)
        out["set_tid_address(NULL)"] = same("set_tid_address", TID, 0)
        out["arch_prctl(ARCH_GET_FS)"] = sc("arch_prctl", 0x1003, ref(_fs))
        out["sched_yield"] = sc("sched_yield")
        out["futex(FUTEX_WAKE_PRIVATE)"] = sc("futex", ref(_word), 129, 1, 0, 0, 0)
        out["set_robust_list(NULL,0)"] = sc("set_robust_list", 0, 0)
        out["get_robust_list(self)"] = sc("get_robust_list", 0, ref(_head), ref(_len))
        out["rseq(NULL,0,0)"] = sc("rseq", 0, 0, 0, 0)
        out["restart_syscall"] = sc("restart_syscall")
        out["brk(0)"] = ok("brk", 0)
        for _v in {PERSONA_OK + PERSONA_DENIED!r}:
            raw("personality", 0)
            out["personality(%#x)" % _v] = sc("personality", _v)
        raw("personality", 0)
    """,
    expect={
        "getpid": "=", "gettid": "=", "set_tid_address(NULL)": "=", "arch_prctl(ARCH_GET_FS)": "rc=0",
        "sched_yield": "rc=0", "futex(FUTEX_WAKE_PRIVATE)": "rc=0", "set_robust_list(NULL,0)": "EINVAL",
        "get_robust_list(self)": "rc=0", "rseq(NULL,0,0)": "EINVAL", "restart_syscall": "EINTR", "brk(0)": "ok",
        **{f"personality({v:#x})": "rc=0" for v in PERSONA_OK},
        **{f"personality({v:#x})": "EPERM" for v in PERSONA_DENIED},
    },
)

# ------------------------------------------------------------------------------------------------------ stdio
# stdio allows ioctl for four generic requests only, compared on the low 32 bits (the kernel's `unsigned int
# cmd`): FIONBIO (socket.setblocking/settimeout), FIOCLEX/FIONCLEX (os.set_inheritable) and FIONREAD. Every
# other request, the neighbours of the four included, is EPERM without terminal or device-control (and so here,
# both children).
FIONREAD, FIONBIO, FIONCLEX, FIOCLEX = 0x541B, 0x5421, 0x5450, 0x5451
# (probe id, fd, request, argument, check, expected with stdio): in call order, the flags alternate so that
# every call's effect is visible
_STDIO_IOCTLS = [
    ("ioctl(file,FIONREAD)", "_i16", FIONREAD, "ref(_n)", "_count", "rc=0:n=16"),
    ("ioctl(file,FIONREAD|1<<32)", "_i16", FIONREAD | HIGH1, "ref(_n)", "_count", "rc=0:n=16"),
    ("ioctl(file,FIONREAD|0xffffffff<<32)", "_i16", FIONREAD | HIGHF, "ref(_n)", "_count", "rc=0:n=16"),
    ("ioctl(pipe,FIONREAD)", "_ir", FIONREAD, "ref(_n)", "_count", "rc=0:n=3"),
    ("ioctl(/dev/null,FIONREAD)", "_null", FIONREAD, "ref(_n)", "_count", "ENOTTY"),  # reached the kernel
    ("ioctl(pipe,FIONBIO,1)", "_ir", FIONBIO, "ref(_on)", "_nonblock", "rc=0:nonblock=1"),
    ("ioctl(pipe,FIONBIO|1<<32,0)", "_ir", FIONBIO | HIGH1, "ref(_off)", "_nonblock", "rc=0:nonblock=0"),
    ("ioctl(pipe,FIONBIO|0xffffffff<<32,1)", "_ir", FIONBIO | HIGHF, "ref(_on)", "_nonblock", "rc=0:nonblock=1"),
    ("ioctl(file,FIOCLEX)", "_i16", FIOCLEX, "0", "_cloexec", "rc=0:cloexec=1"),
    ("ioctl(file,FIONCLEX)", "_i16", FIONCLEX, "0", "_cloexec", "rc=0:cloexec=0"),
    ("ioctl(file,FIOCLEX|1<<32)", "_i16", FIOCLEX | HIGH1, "0", "_cloexec", "rc=0:cloexec=1"),
    ("ioctl(file,FIONCLEX|0xffffffff<<32)", "_i16", FIONCLEX | HIGHF, "0", "_cloexec", "rc=0:cloexec=0"),
    ("ioctl(pipe,FIOCLEX|0xffffffff<<32)", "_ir", FIOCLEX | HIGHF, "0", "_cloexec", "rc=0:cloexec=1"),
    ("ioctl(pipe,FIONCLEX|1<<32)", "_ir", FIONCLEX | HIGH1, "0", "_cloexec", "rc=0:cloexec=0"),
]
# neighbours of the four (numbers one off, bits above 16 and at 31 set, a foreign high half on a neighbour)
# and the usual terminal requests: EPERM in both children; unfiltered the kernel answers ENOTTY or (for
# FIOASYNC and FIOQSIZE, generic requests of their own) succeeds
_STDIO_IOCTL_DENIED = [
    ("/dev/null", "_null", r) for r in (
        FIONREAD - 1, FIONREAD + 1, FIONREAD | 0x10000, FIONREAD | 0x80000000, (FIONREAD + 1) | HIGH1,
        FIONBIO - 1, FIONBIO + 1, FIONBIO | 0x10000, FIONBIO | 0x80000000, (FIONBIO + 1) | HIGHF,
        FIONCLEX - 1, FIOCLEX + 1, FIOCLEX | 0x10000, FIONCLEX | 0x80000000, (FIONCLEX - 1) | HIGH1,
        0x5401, 0x5412, 0x5413,  # TCGETS (isatty), TIOCSTI, TIOCGWINSZ
    )
] + [("file", "_i16", 0x5460)]  # FIOQSIZE: answers for a regular file unfiltered
_STDIO_IOCTL_CODE = "\n".join(
    [f"out[{pid!r}] = _ioc({fd}, {req:#x}, {arg}, {then})" for pid, fd, req, arg, then, _ in _STDIO_IOCTLS]
    + [f"out['ioctl({label},{req:#x})'] = sc('ioctl', {fd}, {req:#x}, ref(_n))" for label, fd, req in _STDIO_IOCTL_DENIED]
    + ['out["python socket.setblocking(False)"] = py(_blocking)',
       'out["python socket.settimeout(2.5)"] = py(_timeout)',
       'out["python os.set_inheritable"] = py(_inheritable)']
)
_STDIO_IOCTL_EXPECT = {
    **{pid: want for pid, _, _, _, _, want in _STDIO_IOCTLS},
    **{f"ioctl({label},{req:#x})": "EPERM" for label, _, req in _STDIO_IOCTL_DENIED},
    "python socket.setblocking(False)": "ok:False", "python socket.settimeout(2.5)": "ok:2.5,False",
    "python os.set_inheritable": "ok:True,False",
}
spec(
    "stdio", cap="stdio",
    with_caps=("runtime", "stdio"), without_caps=("runtime",), report="mmap",
    prep="""
        with open(P("data"), "wb") as _f:
            _f.write(b"0123456789")
        _f = os.open(P("data"), os.O_RDWR | os.O_CLOEXEC)
        _spare = os.dup(_f)
        _r, _w = os.pipe()
        _b, _st = buf(64), buf(256)
        _vec = iov((_b, 4))
        # ioctl: descriptors of their own, so the flags the probes flip touch nothing else
        with open(P("sixteen"), "wb") as _f16:
            _f16.write(b"0123456789abcdef")
        _i16 = os.open(P("sixteen"), os.O_RDONLY)
        _ir, _iw = os.pipe()
        os.write(_iw, b"abc")
        _null = os.open("/dev/null", os.O_RDWR)
        _sk, _sk2 = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
        _n, _on, _off = ctypes.c_int(-1), ctypes.c_int(1), ctypes.c_int(0)

        def _ioc(f, req, arg, then):
            # the ioctl, then (only if it succeeded) what the kernel did: FIONREAD's count, or the flag as
            # fcntl reads it back
            _n.value = -1
            rc, err = raw("ioctl", f, req, arg)
            return "rc=0:" + then(f) if rc == 0 else _res(rc, err)

        def _count(f):
            return "n=%d" % _n.value

        def _nonblock(f):
            return "nonblock=%d" % bool(raw("fcntl", f, 3)[0] & os.O_NONBLOCK)  # F_GETFL

        def _cloexec(f):
            return "cloexec=%d" % raw("fcntl", f, 1)[0]  # F_GETFD

        def _blocking():
            _sk.setblocking(False)
            return os.get_blocking(_sk.fileno())

        def _timeout():
            _sk2.settimeout(2.5)
            return "%s,%s" % (_sk2.gettimeout(), os.get_blocking(_sk2.fileno()))

        def _inheritable():
            os.set_inheritable(_i16, True)
            a = os.get_inheritable(_i16)
            os.set_inheritable(_i16, False)
            return "%s,%s" % (a, os.get_inheritable(_i16))
    """,
    probe=(_STDIO_IOCTL_CODE, """
        out["read(-1)"] = sc("read", -1, _b, 4)
        out["read"] = sc("read", _f, _b, 4)
        out["lseek(0,SEEK_SET)"] = sc("lseek", _f, 0, 0)
        out["write"] = sc("write", _f, b"ab", 2)
        out["readv"] = sc("readv", _f, _vec, 1)
        out["writev"] = sc("writev", _f, _vec, 1)
        out["pread64"] = sc("pread64", _f, _b, 4, 0)
        out["pwrite64"] = sc("pwrite64", _f, b"xy", 2, 0)
        out["preadv"] = sc("preadv", _f, _vec, 1, 0, 0)
        out["pwritev"] = sc("pwritev", _f, _vec, 1, 0, 0)
        out["preadv2"] = sc("preadv2", _f, _vec, 1, 0, 0, 0)
        out["pwritev2"] = sc("pwritev2", _f, _vec, 1, 0, 0, 0)
        out["dup"] = fd("dup", _f)
        out["dup2(fd,200)"] = sc("dup2", _f, 200)
        out["close(200)"] = sc("close", 200)
        out["dup3(fd,201,O_CLOEXEC)"] = sc("dup3", _f, 201, os.O_CLOEXEC)
        out["close_range(201,201)"] = sc("close_range", 201, 201, 0)
        out["close(spare)"] = sc("close", _spare)
        out["fcntl(F_GETFD)"] = sc("fcntl", _f, 1)
        out["fstat"] = sc("fstat", _f, _st)
        out["newfstatat(AT_EMPTY_PATH)"] = sc("newfstatat", _f, b"", _st, 0x1000)
        out["statx(AT_EMPTY_PATH)"] = sc("statx", _f, b"", 0x1000, 0x7FF, _st)
        out["fsync"] = sc("fsync", _f)
        out["fdatasync"] = sc("fdatasync", _f)
        out["flock(LOCK_SH|LOCK_NB)"] = sc("flock", _f, 5)
        out["python os.write+os.read(pipe)"] = py(lambda: os.write(_w, b"hi") and os.read(_r, 2))
    """),
    expect={
        **_STDIO_IOCTL_EXPECT,
        "read(-1)": "EBADF", "read": "rc=4", "lseek(0,SEEK_SET)": "rc=0", "write": "rc=2", "readv": "rc=4",
        "writev": "rc=4", "pread64": "rc=4", "pwrite64": "rc=2", "preadv": "rc=4", "pwritev": "rc=4",
        "preadv2": "rc=4", "pwritev2": "rc=4", "dup": "fd", "dup2(fd,200)": "rc=200", "close(200)": "rc=0",
        "dup3(fd,201,O_CLOEXEC)": "rc=201", "close_range(201,201)": "rc=0", "close(spare)": "rc=0",
        "fcntl(F_GETFD)": "rc=1", "fstat": "rc=0", "newfstatat(AT_EMPTY_PATH)": "rc=0",
        "statx(AT_EMPTY_PATH)": "rc=0", "fsync": "rc=0", "fdatasync": "rc=0", "flock(LOCK_SH|LOCK_NB)": "rc=0",
        "python os.write+os.read(pipe)": "ok:b'hi'",
    },
)

# -------------------------------------------------------------------------------------------------- file-read
_FILE_PREP = """
    with open(P("data"), "wb") as _f:
        _f.write(b"hello")
    for _n in ("victim", "trunc", "scratch"):
        with open(P(_n), "wb") as _f:
            _f.write(b"hello world")
    os.mkdir(P("d"))
    for _n in ("a", "b"):
        open(os.path.join(P("d"), _n.encode()), "wb").close()
    os.symlink("data", P("link"))
"""
_OPENS_READ = [
    ("data", "O_RDONLY", 0, "fd"),
    ("data", "O_RDONLY|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY", O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, "fd"),
    ("data", "O_RDONLY|O_EXCL", O_EXCL, "fd"),
    ("data", "O_RDONLY|O_APPEND", O_APPEND, "fd"),
    ("d", "O_RDONLY|O_DIRECTORY", O_DIRECTORY, "fd"),
    ("data", "O_PATH", O_PATH, "fd"),
    ("data", "O_RDONLY|1<<32", HIGH1, "fd"),
    ("data", "O_RDONLY|0xffffffff<<32", HIGHF, "fd"),
    ("victim", "O_WRONLY", O_WRONLY, "EPERM"),
    ("victim", "O_RDWR", O_RDWR, "EPERM"),
    ("victim", "O_ACCMODE", O_ACCMODE, "EPERM"),
    ("victim", "O_CREAT", O_CREAT, "EPERM"),
    ("new1", "O_CREAT|O_EXCL", O_CREAT | O_EXCL, "EPERM"),
    ("victim", "O_TRUNC", O_TRUNC, "EPERM"),
    ("d", "O_TMPFILE|O_RDWR", O_TMPFILE | O_RDWR, "EPERM"),
    ("d", "O_TMPFILE", O_TMPFILE, "EPERM"),
    ("victim", "__O_TMPFILE", O_TMPFILE_BIT, "EPERM"),
    ("victim", "O_WRONLY|1<<32", O_WRONLY | HIGH1, "EPERM"),
    ("victim", "O_WRONLY|0xffffffff<<32", O_WRONLY | HIGHF, "EPERM"),
    ("victim", "O_RDWR|0xffffffff<<32", O_RDWR | HIGHF, "EPERM"),
    ("victim", "O_CREAT|1<<32", O_CREAT | HIGH1, "EPERM"),
    ("victim", "O_TRUNC|0xffffffff<<32", O_TRUNC | HIGHF, "EPERM"),
    ("d", "O_TMPFILE|O_RDWR|1<<32", O_TMPFILE | O_RDWR | HIGH1, "EPERM"),
]
_OPENS_READ_LEGACY = [
    ("data", "O_RDONLY", 0, "fd"),
    ("data", "O_RDONLY|0xffffffff<<32", HIGHF, "fd"),
    ("victim", "O_WRONLY", O_WRONLY, "EPERM"),
    ("victim", "O_RDWR|1<<32", O_RDWR | HIGH1, "EPERM"),
    ("victim", "O_CREAT", O_CREAT, "EPERM"),
    ("victim", "O_TRUNC", O_TRUNC, "EPERM"),
    ("d", "O_TMPFILE|O_RDWR", O_TMPFILE | O_RDWR, "EPERM"),
]
_code1, _exp1 = _opens(_OPENS_READ)
_code2, _exp2 = _opens(_OPENS_READ_LEGACY, "open")
spec(
    "file-read", cap="file-read",
    prep=(_FILE_PREP, """
        os.setxattr(P("data"), b"user.sysfence", b"42")
        _f = os.open(P("data"), os.O_RDONLY)
        _r, _w = os.pipe()
        _b, _st, _range = buf(256), buf(256), buf(16)
        _how = buf(24, struct.pack("<QQQ", 0, 0, 0))
    """),
    probe=(_code1, _code2, """
        out["openat2(data,O_RDONLY)"] = fd("openat2", AT_FDCWD, P("data"), _how, 24)
        out["creat(new2)"] = fd("creat", P("new2"), 0o600)
        out["stat"] = sc("stat", P("data"), _st)
        out["lstat(link)"] = sc("lstat", P("link"), _st)
        out["access(R_OK)"] = sc("access", P("data"), 4)
        out["faccessat(R_OK)"] = sc("faccessat", AT_FDCWD, P("data"), 4)
        out["faccessat2(R_OK)"] = sc("faccessat2", AT_FDCWD, P("data"), 4, 0)
        out["readlink"] = sc("readlink", P("link"), _b, 256)
        out["readlinkat"] = sc("readlinkat", AT_FDCWD, P("link"), _b, 256)
        out["statfs"] = sc("statfs", P("data"), _st)
        out["fstatfs"] = sc("fstatfs", _f, _st)
        out["getxattr"] = sc("getxattr", P("data"), b"user.sysfence", _b, 64)
        out["lgetxattr"] = sc("lgetxattr", P("data"), b"user.sysfence", _b, 64)
        out["fgetxattr"] = sc("fgetxattr", _f, b"user.sysfence", _b, 64)
        out["listxattr"] = sc("listxattr", P("data"), _b, 256)
        out["llistxattr"] = sc("llistxattr", P("data"), _b, 256)
        out["flistxattr"] = sc("flistxattr", _f, _b, 256)
        out["fadvise64(NORMAL)"] = sc("fadvise64", _f, 0, 0, 0)
        out["readahead"] = sc("readahead", _f, 0, 4096)
        out["cachestat"] = sc("cachestat", _f, _range, _st, 0)
        out["sendfile(file->pipe)"] = sc("sendfile", _w, _f, 0, 5)
        out["python open(data).read()"] = py(lambda: open(P("data")).read())
        out["python open(new,'w')"] = py(lambda: open(P("new3"), "w"))
        out["python os.listdir"] = py(os.listdir, P("d"))
    """),
    expect={
        **_exp1, **_exp2,
        "openat2(data,O_RDONLY)": "EPERM", "creat(new2)": "EPERM",
        "stat": "rc=0", "lstat(link)": "rc=0", "access(R_OK)": "rc=0", "faccessat(R_OK)": "rc=0",
        "faccessat2(R_OK)": "rc=0", "readlink": "rc=4", "readlinkat": "rc=4", "statfs": "rc=0", "fstatfs": "rc=0",
        "getxattr": "rc=2", "lgetxattr": "rc=2", "fgetxattr": "rc=2", "listxattr": "UNFILTERED",
        "llistxattr": "UNFILTERED", "flistxattr": "UNFILTERED", "fadvise64(NORMAL)": "rc=0", "readahead": "rc=0",
        "cachestat": "rc=0", "sendfile(file->pipe)": "rc=5",
        "python open(data).read()": "ok:hello", "python open(new,'w')": "EPERM",
        # file-read opens directories but does not list them: getdents belongs to dir-walk
        "python os.listdir": ("EPERM", "EPERM"),
    },
)

# ------------------------------------------------------------------------------------------------- file-write
_OPENS_WRITE = [
    ("data", "O_RDONLY", 0, "fd"),
    ("victim", "O_WRONLY", O_WRONLY, "fd"),
    ("victim", "O_RDWR", O_RDWR, "fd"),
    ("victim", "O_ACCMODE", O_ACCMODE, "fd"),
    ("victim", "O_WRONLY|O_TRUNC", O_WRONLY | O_TRUNC, "fd"),
    ("victim", "O_WRONLY|O_APPEND", O_WRONLY | O_APPEND, "fd"),
    ("victim", "O_RDWR|O_TRUNC|O_CLOEXEC", O_RDWR | O_TRUNC | O_CLOEXEC, "fd"),
    ("victim", "O_WRONLY|1<<32", O_WRONLY | HIGH1, "fd"),
    ("victim", "O_RDWR|0xffffffff<<32", O_RDWR | HIGHF, "fd"),
    ("victim", "O_WRONLY|O_CREAT", O_WRONLY | O_CREAT, "EPERM"),
    ("new1", "O_WRONLY|O_CREAT|O_EXCL", O_WRONLY | O_CREAT | O_EXCL, "EPERM"),
    ("victim", "O_CREAT|1<<32", O_CREAT | HIGH1, "EPERM"),
    ("victim", "O_WRONLY|O_CREAT|0xffffffff<<32", O_WRONLY | O_CREAT | HIGHF, "EPERM"),
    ("d", "O_TMPFILE|O_RDWR", O_TMPFILE | O_RDWR, "EPERM"),
    ("d", "O_TMPFILE|O_WRONLY|1<<32", O_TMPFILE | O_WRONLY | HIGH1, "EPERM"),
    ("victim", "__O_TMPFILE", O_TMPFILE_BIT, "EPERM"),
]
_OPENS_WRITE_LEGACY = [
    ("victim", "O_WRONLY", O_WRONLY, "fd"),
    ("victim", "O_RDWR|O_TRUNC", O_RDWR | O_TRUNC, "fd"),
    ("victim", "O_RDWR|0xffffffff<<32", O_RDWR | HIGHF, "fd"),
    ("victim", "O_WRONLY|O_CREAT", O_WRONLY | O_CREAT, "EPERM"),
    ("new4", "O_CREAT", O_CREAT, "EPERM"),
    ("d", "O_TMPFILE|O_RDWR", O_TMPFILE | O_RDWR, "EPERM"),
]
_code1, _exp1 = _opens(_OPENS_WRITE)
_code2, _exp2 = _opens(_OPENS_WRITE_LEGACY, "open")
spec(
    "file-write", cap="file-write",
    prep=(_FILE_PREP, """
        _src = os.open(P("data"), os.O_RDONLY)
        _rw = os.open(P("scratch"), os.O_RDWR)
        _r, _w = os.pipe()
        os.write(_w, b"abcdefgh")
        _r2, _w2 = os.pipe()
        _r3, _w3 = os.pipe()
        _how = buf(24, struct.pack("<QQQ", 1, 0, 0))
        _b = buf(8, b"abcd")
        _vec = iov((_b, 4))
    """),
    probe=(_code1, _code2, """
        out["creat(new2)"] = fd("creat", P("new2"), 0o600)
        out["openat2(victim,O_WRONLY)"] = fd("openat2", AT_FDCWD, P("victim"), _how, 24)
        out["truncate"] = sc("truncate", P("trunc"), 3)
        out["ftruncate"] = sc("ftruncate", _rw, 3)
        out["fallocate"] = sc("fallocate", _rw, 0, 0, 4096)
        out["sync"] = sc("sync")
        out["syncfs"] = sc("syncfs", _rw)
        out["sync_file_range"] = sc("sync_file_range", _rw, 0, 0, 0)
        out["copy_file_range"] = sc("copy_file_range", _src, 0, _rw, 0, 5, 0)
        out["tee(pipe->pipe)"] = sc("tee", _r, _w2, 4, 0)
        out["splice(pipe->file)"] = sc("splice", _r, 0, _rw, 0, 4, 0)
        out["vmsplice"] = sc("vmsplice", _w3, _vec, 1, 0)
        out["python open(data,'r+').write"] = py(lambda: open(P("data"), "r+").write("x"))
        out["python open(data,'w')"] = py(lambda: open(P("data"), "w"))
        out["python open(data,'a')"] = py(lambda: open(P("data"), "a"))
        out["python open(new,'w')"] = py(lambda: open(P("new3"), "w"))
    """),
    expect={
        **_exp1, **_exp2,
        "creat(new2)": "EPERM", "openat2(victim,O_WRONLY)": "EPERM",
        "truncate": "rc=0", "ftruncate": "rc=0", "fallocate": "rc=0", "sync": "rc=0", "syncfs": "rc=0",
        "sync_file_range": "rc=0", "copy_file_range": "rc=5", "tee(pipe->pipe)": "rc=4",
        "splice(pipe->file)": "rc=4", "vmsplice": "rc=4",
        "python open(data,'r+').write": "ok:1",
        # Python's "w" and "a" modes always pass O_CREAT: creating is file-create, even for an existing file
        "python open(data,'w')": "EPERM", "python open(data,'a')": "EPERM", "python open(new,'w')": "EPERM",
    },
)

# ------------------------------------------------------------------------------------------------ file-create
MKNOD_MODES = {
    "S_IFIFO": 0o010000, "S_IFREG": 0o100000, "S_IFSOCK": 0o140000, "0": 0,
    "S_IFCHR": 0o020000, "S_IFBLK": 0o060000, "S_IFCHR|1<<32": 0o020000 | HIGH1,
    "S_IFBLK|0xffffffff<<32": 0o060000 | HIGHF, "S_IFCHR|0x10000": 0o020000 | 0x10000,
    "S_IFBLK|0x10000": 0o060000 | 0x10000, "S_IFIFO|1<<32": 0o010000 | HIGH1,
}
_MKNOD_KIND = {0o010000: "fifo", 0o100000: "reg", 0o140000: "sock", 0: "reg"}


def _mknod_expect(mode: int) -> str:
    low = mode & 0o170000
    return "EPERM" if low in (0o020000, 0o060000) else f"created:{_MKNOD_KIND[low]}"


_OPENS_CREATE = [
    ("data", "O_RDONLY", 0, "fd"),
    ("data", "O_RDWR|O_TRUNC", O_RDWR | O_TRUNC, "fd"),
    ("new1", "O_WRONLY|O_CREAT|O_EXCL", O_WRONLY | O_CREAT | O_EXCL, "fd"),
    ("new2", "O_WRONLY|O_CREAT|0xffffffff<<32", O_WRONLY | O_CREAT | HIGHF, "fd"),
    ("d", "O_TMPFILE|O_RDWR", O_TMPFILE | O_RDWR, "fd"),
]
_code1, _exp1 = _opens(_OPENS_CREATE)
_code2, _exp2 = _opens([("new3", "O_WRONLY|O_CREAT", O_WRONLY | O_CREAT, "fd")], "open")
spec(
    "file-create", cap="file-create",
    prep=(_FILE_PREP, """
        open(P("f1"), "wb").close()
        _how = buf(24, struct.pack("<QQQ", 0x41, 0o600, 0))
        _KIND = {stat.S_IFIFO: "fifo", stat.S_IFREG: "reg", stat.S_IFSOCK: "sock", stat.S_IFCHR: "chr",
                 stat.S_IFBLK: "blk"}
        _DEV = os.makedev(1, 3)

        def _mknod(call, i, mode):
            path = P("node%d" % i)
            rc, err = raw(call, path, mode, _DEV) if call == "mknod" else raw(call, AT_FDCWD, path, mode, _DEV)
            if rc != 0:
                return _res(rc, err)
            kind = _KIND.get(stat.S_IFMT(os.lstat(path).st_mode), "?")
            os.unlink(path)
            return "created:" + kind
    """),
    probe=(_code1, _code2, f"""
        out["openat2(new5,O_CREAT|O_WRONLY)"] = fd("openat2", AT_FDCWD, P("new5"), _how, 24)
        out["creat(new6)"] = fd("creat", P("new6"), 0o600)
        out["mkdir"] = sc("mkdir", P("m1"), 0o700)
        out["mkdirat"] = sc("mkdirat", AT_FDCWD, P("m2"), 0o700)
        out["rmdir"] = sc("rmdir", P("m1"))
        out["unlinkat(AT_REMOVEDIR)"] = sc("unlinkat", AT_FDCWD, P("m2"), 0x200)
        out["rename"] = sc("rename", P("f1"), P("f2"))
        out["renameat"] = sc("renameat", AT_FDCWD, P("f2"), AT_FDCWD, P("f3"))
        out["renameat2"] = sc("renameat2", AT_FDCWD, P("f3"), AT_FDCWD, P("f4"), 0)
        out["link"] = sc("link", P("data"), P("h1"))
        out["linkat"] = sc("linkat", AT_FDCWD, P("data"), AT_FDCWD, P("h2"), 0)
        out["symlink"] = sc("symlink", b"data", P("s1"))
        out["symlinkat"] = sc("symlinkat", b"data", AT_FDCWD, P("s2"))
        out["unlink"] = sc("unlink", P("h1"))
        out["unlinkat"] = sc("unlinkat", AT_FDCWD, P("h2"), 0)
        _i = 0
        for _label, _mode in {list(MKNOD_MODES.items())!r}:
            for _call in ("mknod", "mknodat"):
                _i += 1
                out["%s(%s)" % (_call, _label)] = _mknod(_call, _i, _mode | 0o600)
        out["python open(new,'w').write"] = py(lambda: open(P("new7"), "w").write("x"))
        out["python os.mkfifo"] = py(os.mkfifo, P("fifo"))
        out["python os.mknod(S_IFCHR)"] = py(os.mknod, P("chr"), stat.S_IFCHR | 0o600, _DEV)
    """),
    expect={
        **_exp1, **_exp2,
        "openat2(new5,O_CREAT|O_WRONLY)": "fd", "creat(new6)": "fd", "mkdir": "rc=0", "mkdirat": "rc=0",
        "rmdir": "rc=0", "unlinkat(AT_REMOVEDIR)": "rc=0", "rename": "rc=0", "renameat": "rc=0",
        "renameat2": "rc=0", "link": "rc=0", "linkat": "rc=0", "symlink": "rc=0", "symlinkat": "rc=0",
        "unlink": "rc=0", "unlinkat": "rc=0",
        **{f"{c}({label})": _mknod_expect(m) for label, m in MKNOD_MODES.items() for c in ("mknod", "mknodat")},
        "python open(new,'w').write": "ok:1", "python os.mkfifo": "ok", "python os.mknod(S_IFCHR)": "EPERM",
    },
)

# ------------------------------------------------------------------------------------------------- file-attrs
NOID = 0xFFFFFFFF  # uid/gid -1: "leave unchanged"
spec(
    "file-attrs", cap="file-attrs",
    prep=(_FILE_PREP, """
        os.umask(0o022)
        _f = os.open(P("data"), os.O_RDONLY)
    """),
    probe=f"""
        out["chmod"] = sc("chmod", P("data"), 0o640)
        out["fchmod"] = sc("fchmod", _f, 0o600)
        out["fchmodat"] = sc("fchmodat", AT_FDCWD, P("data"), 0o640)
        out["fchmodat2"] = sc("fchmodat2", AT_FDCWD, P("data"), 0o600, 0)
        out["chown(-1,-1)"] = sc("chown", P("data"), {NOID}, {NOID})
        out["fchown(-1,-1)"] = sc("fchown", _f, {NOID}, {NOID})
        out["lchown(-1,-1)"] = sc("lchown", P("link"), {NOID}, {NOID})
        out["fchownat(-1,-1)"] = sc("fchownat", AT_FDCWD, P("data"), {NOID}, {NOID}, 0)
        out["umask(022)"] = sc("umask", 0o022)
        out["utime(NULL)"] = sc("utime", P("data"), 0)
        out["utimes(NULL)"] = sc("utimes", P("data"), 0)
        out["utimensat(NULL)"] = sc("utimensat", AT_FDCWD, P("data"), 0, 0)
        out["futimesat(NULL)"] = sc("futimesat", AT_FDCWD, P("data"), 0)
        out["setxattr"] = sc("setxattr", P("data"), b"user.a", b"1", 1, 0)
        out["lsetxattr"] = sc("lsetxattr", P("data"), b"user.b", b"1", 1, 0)
        out["fsetxattr"] = sc("fsetxattr", _f, b"user.c", b"1", 1, 0)
        out["removexattr"] = sc("removexattr", P("data"), b"user.a")
        out["lremovexattr"] = sc("lremovexattr", P("data"), b"user.b")
        out["fremovexattr"] = sc("fremovexattr", _f, b"user.c")
        out["python os.chmod"] = py(os.chmod, P("data"), 0o644)
        out["python os.utime"] = py(os.utime, P("data"))
    """,
    expect={
        "chmod": "rc=0", "fchmod": "rc=0", "fchmodat": "rc=0", "fchmodat2": "rc=0", "chown(-1,-1)": "rc=0",
        "fchown(-1,-1)": "rc=0", "lchown(-1,-1)": "rc=0", "fchownat(-1,-1)": "rc=0", "umask(022)": "rc=18",
        "utime(NULL)": "rc=0", "utimes(NULL)": "rc=0", "utimensat(NULL)": "rc=0", "futimesat(NULL)": "rc=0",
        "setxattr": "rc=0", "lsetxattr": "rc=0", "fsetxattr": "rc=0", "removexattr": "rc=0",
        "lremovexattr": "rc=0", "fremovexattr": "rc=0", "python os.chmod": "ok", "python os.utime": "ok",
    },
)

# --------------------------------------------------------------------------------------------------- dir-walk
_OPENS_DIR = [
    ("d", "O_RDONLY|O_DIRECTORY", O_DIRECTORY, "fd"),
    ("d", "O_DIRECTORY|O_CLOEXEC|O_NONBLOCK", O_DIRECTORY | O_CLOEXEC | O_NONBLOCK, "fd"),
    ("d", "O_DIRECTORY|O_NOFOLLOW", O_DIRECTORY | O_NOFOLLOW, "fd"),
    ("d", "O_DIRECTORY|O_PATH", O_DIRECTORY | O_PATH, "fd"),
    ("d", "O_DIRECTORY|1<<32", O_DIRECTORY | HIGH1, "fd"),
    ("d", "O_DIRECTORY|0xffffffff<<32", O_DIRECTORY | HIGHF, "fd"),
    # O_DIRECTORY on a regular file reaches the kernel, which refuses it: file contents stay closed
    ("data", "O_RDONLY|O_DIRECTORY", O_DIRECTORY, "ENOTDIR"),
    ("data", "O_RDONLY", 0, "EPERM"),
    ("d", "O_RDONLY", 0, "EPERM"),
    ("data", "O_RDONLY|1<<32", HIGH1, "EPERM"),
    ("d", "O_DIRECTORY|O_WRONLY", O_DIRECTORY | O_WRONLY, "EPERM"),
    ("d", "O_DIRECTORY|O_RDWR", O_DIRECTORY | O_RDWR, "EPERM"),
    ("d", "O_DIRECTORY|O_CREAT", O_DIRECTORY | O_CREAT, "EPERM"),
    ("d", "O_DIRECTORY|O_TRUNC", O_DIRECTORY | O_TRUNC, "EPERM"),
    ("d", "O_TMPFILE", O_TMPFILE, "EPERM"),
    ("d", "O_TMPFILE|O_RDWR", O_TMPFILE | O_RDWR, "EPERM"),
    ("d", "O_DIRECTORY|O_WRONLY|1<<32", O_DIRECTORY | O_WRONLY | HIGH1, "EPERM"),
    ("d", "O_DIRECTORY|O_CREAT|0xffffffff<<32", O_DIRECTORY | O_CREAT | HIGHF, "EPERM"),
]
_code1, _exp1 = _opens(_OPENS_DIR)
_code2, _exp2 = _opens([("d", "O_RDONLY|O_DIRECTORY", O_DIRECTORY, "EPERM")], "open")
spec(
    "dir-walk", cap="dir-walk",
    prep=(_FILE_PREP, """
        _d = os.open(P("d"), os.O_RDONLY | os.O_DIRECTORY)
        _d2 = os.open(P("d"), os.O_RDONLY | os.O_DIRECTORY)
        _b, _st = buf(4096), buf(256)
    """),
    probe=(_code1, _code2, """
        out["getdents64"] = ok("getdents64", _d, _b, 4096)
        out["getdents"] = ok("getdents", _d2, _b, 4096)
        out["getcwd"] = ok("getcwd", _b, 4096)
        out["chdir"] = sc("chdir", P("d"))
        out["fchdir"] = sc("fchdir", _d)
        out["stat"] = sc("stat", P("data"), _st)
        out["lstat"] = sc("lstat", P("link"), _st)
        out["access(R_OK|X_OK)"] = sc("access", P("d"), 5)
        out["faccessat"] = sc("faccessat", AT_FDCWD, P("d"), 5)
        out["faccessat2"] = sc("faccessat2", AT_FDCWD, P("d"), 5, 0)
        out["python os.listdir"] = py(lambda: sorted(os.listdir(P("d"))))
        out["python os.walk"] = py(lambda: sorted(n for _, _, fs in os.walk(P("d")) for n in fs))
        out["python open(data).read()"] = py(lambda: open(P("data")).read())
    """),
    expect={
        **_exp1, **_exp2,
        "getdents64": "ok", "getdents": "ok", "getcwd": "ok", "chdir": "rc=0", "fchdir": "rc=0", "stat": "rc=0",
        "lstat": "rc=0", "access(R_OK|X_OK)": "rc=0", "faccessat": "rc=0", "faccessat2": "rc=0",
        "python os.listdir": "ok:[b'a', b'b']",
        # os.walk swallows the error (onerror=None) and yields nothing
        "python os.walk": ("ok:[b'a', b'b']", "ok:[]"),
        "python open(data).read()": ("EPERM", "EPERM"),
    },
)

# ------------------------------------------------------------------------------------------------- file-watch
spec(
    "file-watch", cap="file-watch",
    prep=(_FILE_PREP, """
        _ifd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        _ifd2 = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert _ifd >= 0 and _ifd2 >= 0
        _wfd = os.open(P("data"), os.O_WRONLY)

        def _watch():
            wd, err = raw("inotify_add_watch", _ifd2, P("data"), 2)
            if wd < 0:
                raise OSError(err, "inotify_add_watch")
            os.write(_wfd, b"x")
            return struct.unpack_from("<iI", os.read(_ifd2, 4096)) == (wd, 2)  # IN_MODIFY
    """),
    probe="""
        out["inotify_init"] = fd("inotify_init")
        out["inotify_init1(IN_CLOEXEC)"] = fd("inotify_init1", os.O_CLOEXEC)
        out["inotify_add_watch(IN_MODIFY)"] = sc("inotify_add_watch", _ifd, P("data"), 2)
        out["inotify_rm_watch"] = sc("inotify_rm_watch", _ifd, 1)
        out["python watch, write, read the event"] = py(_watch)
    """,
    expect={
        "inotify_init": "fd", "inotify_init1(IN_CLOEXEC)": "fd", "inotify_add_watch(IN_MODIFY)": "rc=1",
        "inotify_rm_watch": "rc=0", "python watch, write, read the event": "ok:True",
    },
)

# --------------------------------------------------------------------------------------------------- async-io
spec(
    "async-io", cap="async-io",
    prep=(_FILE_PREP, """
        _f = os.open(P("data"), os.O_RDONLY)
        _ctx = ctypes.c_ulong(0)
        _dst, _ev, _ts0 = buf(16), buf(32 * 4), buf(16)
        _iocb = buf(64, struct.pack("<QIiHhIQQqQII", 7, 0, 0, 0, 0, _f, ctypes.addressof(_dst), 5, 0, 0, 0, 0))
        _iocbs = (ctypes.c_uint64 * 1)(ctypes.addressof(_iocb))
    """),
    probe="""
        out["io_setup"] = sc("io_setup", 8, ref(_ctx))
        out["io_submit(0)"] = sc("io_submit", _ctx.value, 0, 0)
        out["io_submit(PREAD)"] = sc("io_submit", _ctx.value, 1, _iocbs)
        out["io_getevents"] = sc("io_getevents", _ctx.value, 1, 4, _ev, 0)
        _n = struct.unpack_from("<QQqq", _ev.raw)[2]
        out["aio read result"] = "%d:%s" % (_n, _dst.raw[: max(_n, 0)].decode())
        out["io_pgetevents"] = sc("io_pgetevents", _ctx.value, 0, 1, _ev, _ts0, 0)
        out["io_cancel(done)"] = sc("io_cancel", _ctx.value, _iocb, _ev)
        out["io_destroy"] = sc("io_destroy", _ctx.value)
    """,
    expect={
        "io_setup": "rc=0", "io_submit(0)": "rc=0", "io_submit(PREAD)": "rc=1", "io_getevents": "rc=1",
        "aio read result": ("5:hello", "0:"), "io_pgetevents": "rc=0", "io_cancel(done)": "EINVAL",
        "io_destroy": "rc=0",
    },
)

# ----------------------------------------------------------------------------------------------------- memory
_ANON = 0x22  # MAP_PRIVATE | MAP_ANONYMOUS
_MEM_PREP = textwrap.dedent(_FILE_PREP) + textwrap.dedent("""
    _pg = raw("mmap", 0, 8 * 4096, 3, 0x22, -1, 0)[0]
    assert _pg > 0
    _f = os.open(P("data"), os.O_RDONLY)
    _vec, _mode = buf(8), ctypes.c_int()
""")
MMAP_PROTS = {
    "PROT_READ": (1, "ok"), "PROT_READ|PROT_WRITE": (3, "ok"), "PROT_NONE": (0, "ok"),
    "PROT_READ|PROT_SEM": (9, "ok"), "PROT_READ|1<<32": (1 | HIGH1, "ok"),
    "PROT_WRITE|0xffffffff<<32": (2 | HIGHF, "ok"),
    "PROT_EXEC": (4, "EPERM"), "PROT_READ|PROT_EXEC": (5, "EPERM"), "PROT_READ|PROT_WRITE|PROT_EXEC": (7, "EPERM"),
    "PROT_EXEC|PROT_SEM": (0xC, "EPERM"), "PROT_EXEC|1<<32": (4 | HIGH1, "EPERM"),
    "PROT_EXEC|0xffffffff<<32": (4 | HIGHF, "EPERM"),
}
MPROTECT_PROTS = {
    "PROT_READ": (1, "rc=0"), "PROT_READ|PROT_WRITE": (3, "rc=0"), "PROT_NONE": (0, "rc=0"),
    "PROT_READ|1<<32": (1 | HIGH1, "EINVAL"),  # allowed by the filter; mprotect itself refuses unknown bits
    "PROT_EXEC": (4, "EPERM"), "PROT_READ|PROT_EXEC": (5, "EPERM"), "PROT_READ|PROT_WRITE|PROT_EXEC": (7, "EPERM"),
    "PROT_EXEC|1<<32": (4 | HIGH1, "EPERM"), "PROT_EXEC|0xffffffff<<32": (4 | HIGHF, "EPERM"),
}
PKEY_PROTS = {"PROT_READ": (1, "rc=0"), "PROT_EXEC": (4, "EPERM"),
              "PROT_READ|PROT_EXEC|0xffffffff<<32": (5 | HIGHF, "EPERM")}


def _prot_probes(exec_ok: bool) -> tuple[str, dict[str, str]]:
    lines, expect = [], {}

    def want(w: str, exec_result: str) -> str:
        return exec_result if (exec_ok and w == "EPERM") else w

    for label, (prot, w) in MMAP_PROTS.items():
        lines.append(f'out["mmap(anon,{label})"] = ok("mmap", 0, 4096, {prot:#x}, {_ANON:#x}, -1, 0)')
        expect[f"mmap(anon,{label})"] = want(w, "ok")
    for label, prot, w in (("PROT_READ", 1, "ok"), ("PROT_READ|PROT_EXEC", 5, "EPERM")):
        lines.append(f'out["mmap(file,{label})"] = ok("mmap", 0, 4096, {prot}, 2, _f, 0)')
        expect[f"mmap(file,{label})"] = want(w, "ok")
    for label, (prot, w) in MPROTECT_PROTS.items():
        lines.append(f'out["mprotect({label})"] = sc("mprotect", _pg, 4096, {prot:#x})')
        expect[f"mprotect({label})"] = "EINVAL" if (exec_ok and "<<32" in label) else want(w, "rc=0")
    for label, (prot, w) in PKEY_PROTS.items():
        lines.append(f'out["pkey_mprotect({label},-1)"] = sc("pkey_mprotect", _pg, 4096, {prot:#x}, -1)')
        expect[f"pkey_mprotect({label},-1)"] = (
            "EINVAL" if (exec_ok and "<<32" in label) else want(w, "rc=0"))
    return "\n".join(lines), expect


_code1, _exp1 = _prot_probes(exec_ok=False)
spec(
    "memory", cap="memory",
    prep=_MEM_PREP,
    probe=(_code1, """
        out["munmap"] = sc("munmap", _pg + 2 * 4096, 4096)
        out["mremap(MAYMOVE)"] = ok("mremap", _pg + 3 * 4096, 4096, 8192, 1)
        out["madvise(NORMAL)"] = sc("madvise", _pg + 4096, 4096, 0)
        out["msync(MS_ASYNC)"] = sc("msync", _pg + 4096, 4096, 1)
        out["mincore"] = sc("mincore", _pg + 4096, 4096, _vec)
        out["mlock"] = sc("mlock", _pg + 4096, 4096)
        out["munlock"] = sc("munlock", _pg + 4096, 4096)
        out["mlock2"] = sc("mlock2", _pg + 4096, 4096, 0)
        out["mlockall(0)"] = sc("mlockall", 0)
        out["munlockall"] = sc("munlockall")
        out["membarrier(QUERY)"] = ok("membarrier", 0, 0, 0)
        out["remap_file_pages(anon)"] = sc("remap_file_pages", _pg + 4096, 4096, 0, 0, 0)
        out["pkey_alloc(flags=1)"] = sc("pkey_alloc", 1, 0)
        out["pkey_free(15)"] = sc("pkey_free", 15)
        out["map_shadow_stack(bad flags)"] = sc("map_shadow_stack", 0, 4096, 0xFFFFFFFF)
        out["memfd_create"] = fd("memfd_create", b"sysfence", 1)
        out["memfd_secret"] = fd("memfd_secret", 0)
        out["mbind(MPOL_DEFAULT)"] = sc("mbind", _pg + 4096, 4096, 0, 0, 0, 0)
        out["get_mempolicy"] = sc("get_mempolicy", ref(_mode), 0, 0, 0, 0)
        out["set_mempolicy(MPOL_DEFAULT)"] = sc("set_mempolicy", 0, 0, 0)
        out["set_mempolicy_home_node"] = sc("set_mempolicy_home_node", _pg + 4096, 4096, 0, 0)
        out["python mmap.mmap(-1,4096)"] = py(lambda: len(mmap.mmap(-1, 4096)))
    """),
    expect={
        **{k: v for k, v in _exp1.items()},
        "munmap": "rc=0", "mremap(MAYMOVE)": "ok", "madvise(NORMAL)": "rc=0",
        "msync(MS_ASYNC)": "rc=0", "mincore": "rc=0", "mlock": "rc=0", "munlock": "rc=0", "mlock2": "rc=0",
        "mlockall(0)": "EINVAL", "munlockall": "rc=0", "membarrier(QUERY)": "ok",
        "remap_file_pages(anon)": "EINVAL", "pkey_alloc(flags=1)": "EINVAL", "pkey_free(15)": "EINVAL",
        "map_shadow_stack(bad flags)": "UNFILTERED", "memfd_create": "fd", "memfd_secret": "UNFILTERED",
        "mbind(MPOL_DEFAULT)": "rc=0", "get_mempolicy": "rc=0", "set_mempolicy(MPOL_DEFAULT)": "rc=0",
        "set_mempolicy_home_node": "UNFILTERED",
        "python mmap.mmap(-1,4096)": "ok:4096",
    },
)

# ------------------------------------------------------------------------------------------------ exec-memory
_MAPS_DIFF = """
import ctypes
def execs():
    with open("/proc/self/maps") as f:
        return {tuple(line.split()[:2]) for line in f if "x" in line.split()[1]}
before = execs()
ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 42)()
print(bool(execs() - before))
"""


def _callback_maps_code() -> bool:
    """Whether a ctypes callback makes the process map new executable memory, asked of the platform (no filter):
    libffi without static trampolines maps a writable+executable page for its closures (Debian 12's 3.4);
    with them (Debian sid's 3.5+) the closure code was mapped with the library and no mapping is needed."""
    r = subprocess.run([sys.executable, "-S", "-c", _MAPS_DIFF], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() in ("True", "False"), r
    return r.stdout.strip() == "True"


CALLBACK_MAPS_CODE = _callback_maps_code()
_code1, _exp1 = _prot_probes(exec_ok=True)
spec(
    "exec-memory", cap="exec-memory",
    prep=(_MEM_PREP, """
        # a segment made before the filter (exec-memory has shmat but not shmget), attached once and marked
        # for removal, so it goes away with the process; Linux still lets a marked segment be attached
        _shm = raw("shmget", 0, 4096, 0o1700)[0]
        assert raw("shmat", _shm, 0, 0)[0] > 0 and raw("shmctl", _shm, 0, 0)[0] == 0
    """),
    probe=(_code1, """
        out["shmat(SHM_EXEC)"] = ok("shmat", _shm, 0, 0o100000)
        out["shmat(SHM_EXEC|SHM_RDONLY|1<<32)"] = ok("shmat", _shm, 0, 0o110000 | HIGH1)
        out["python ctypes callback"] = py(lambda: ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 42)())
    """),
    expect={**_exp1, "shmat(SHM_EXEC)": "ok", "shmat(SHM_EXEC|SHM_RDONLY|1<<32)": "ok",
            # without exec-memory (and without memory: no mmap at all) the callback fails only where libffi
            # must map its code
            "python ctypes callback": ("ok:42", "MemoryError" if CALLBACK_MAPS_CODE else "ok:42")},
)

# ---------------------------------------------------------------------------------------------------- threads
CLONE_THREAD, CLONE_SIGHAND, SIGCHLD = 0x10000, 0x800, 17
CLONE_NS = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
            "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
            "CLONE_NEWNET": 0x40000000}
_CLONES_THREADS = {
    # allowed by the rule; the kernel refuses CLONE_THREAD without CLONE_SIGHAND|CLONE_VM (harmless probes)
    "CLONE_THREAD": (CLONE_THREAD, "EINVAL"),
    "CLONE_THREAD|CLONE_SIGHAND": (CLONE_THREAD | CLONE_SIGHAND, "EINVAL"),
    "CLONE_THREAD|SIGCHLD": (CLONE_THREAD | SIGCHLD, "EINVAL"),
    "CLONE_THREAD|1<<32": (CLONE_THREAD | HIGH1, "EINVAL"),
    "CLONE_THREAD|0xffffffff<<32": (CLONE_THREAD | HIGHF, "EINVAL"),
    **{f"CLONE_THREAD|{n}": (CLONE_THREAD | f, "EPERM") for n, f in CLONE_NS.items()},
    "SIGCHLD": (SIGCHLD, "EPERM"),  # a fork
    "SIGCHLD|1<<32": (SIGCHLD | HIGH1, "EPERM"),
    "CLONE_SIGHAND": (CLONE_SIGHAND, "EPERM"),
}
_THREADS_PREP = """
    _t = threading.Thread(target=lambda: None)  # warms glibc's stack cache and frees an arena for reuse
    _t.start()
    _t.join()
    _word, _cpu = ctypes.c_int(0), ctypes.c_uint()
    _cpus, _param, _ts, _attr = buf(128), buf(8), buf(16), buf(56)
    raw("sched_getaffinity", 0, 128, _cpus)

    def _thread():
        seen = []
        t = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
        t.start()
        t.join()
        return len(seen) == 1 and seen[0] != TID

    def _fork():
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
"""
spec(
    "threads", cap="threads",
    prep=_THREADS_PREP,
    probe=f"""
        for _label, _flags in {[(k, v[0]) for k, v in _CLONES_THREADS.items()]!r}:
            out["clone(%s)" % _label] = forked("clone", _flags, 0, 0, 0, 0)
        out["futex_waitv(NULL,0)"] = sc("futex_waitv", 0, 0, 0, 0, 0)
        out["futex_wake(bad flags)"] = sc("futex_wake", ref(_word), 1, 1, 0xFFFFFFFF)
        out["futex_wait(bad flags)"] = sc("futex_wait", ref(_word), 1, 1, 0xFFFFFFFF, 0, 0)
        out["futex_requeue(NULL)"] = sc("futex_requeue", 0, 0, 1, 0)
        out["set_thread_area(NULL)"] = sc("set_thread_area", 0)
        out["get_thread_area(NULL)"] = sc("get_thread_area", 0)
        out["sched_getaffinity"] = ok("sched_getaffinity", 0, 128, _cpus)
        out["sched_setaffinity(same)"] = sc("sched_setaffinity", 0, 128, _cpus)
        out["sched_getparam"] = sc("sched_getparam", 0, _param)
        out["sched_setparam(0)"] = sc("sched_setparam", 0, _param)
        out["sched_getscheduler"] = sc("sched_getscheduler", 0)
        out["sched_setscheduler(SCHED_OTHER)"] = sc("sched_setscheduler", 0, 0, _param)
        out["sched_get_priority_max(OTHER)"] = sc("sched_get_priority_max", 0)
        out["sched_get_priority_min(OTHER)"] = sc("sched_get_priority_min", 0)
        out["sched_rr_get_interval"] = sc("sched_rr_get_interval", 0, _ts)
        out["sched_getattr"] = sc("sched_getattr", 0, _attr, 56, 0)
        out["sched_setattr(NULL)"] = sc("sched_setattr", 0, 0, 0)
        out["getcpu"] = sc("getcpu", ref(_cpu), 0, 0)
        out["tgkill(self,0)"] = sc("tgkill", PID, TID, 0)
        out["python os.fork"] = py(_fork)
    """,
    expect={
        **{f"clone({k})": v[1] for k, v in _CLONES_THREADS.items()},
        "futex_waitv(NULL,0)": "EINVAL", "futex_wake(bad flags)": "EINVAL", "futex_wait(bad flags)": "EINVAL",
        "futex_requeue(NULL)": "EINVAL",
        # the kernel's own ENOSYS (x86_64 has these numbers but no implementation); EPERM without threads
        "set_thread_area(NULL)": "ENOSYS", "get_thread_area(NULL)": "ENOSYS",
        "sched_getaffinity": "ok", "sched_setaffinity(same)": "rc=0", "sched_getparam": "rc=0",
        "sched_setparam(0)": "rc=0", "sched_getscheduler": "rc=0", "sched_setscheduler(SCHED_OTHER)": "rc=0",
        "sched_get_priority_max(OTHER)": "rc=0", "sched_get_priority_min(OTHER)": "rc=0",
        "sched_rr_get_interval": "rc=0", "sched_getattr": "rc=0", "sched_setattr(NULL)": "EINVAL",
        "getcpu": "rc=0", "tgkill(self,0)": "rc=0",
        "python os.fork": "EPERM",  # threads only: a fork is a clone without CLONE_THREAD
    },
)
# a new Python thread allocates its first memory with mmap: memory is granted to both children
spec(
    "threads+memory", cap="threads", extra=("memory",),
    prep=_THREADS_PREP,
    probe="""
        out["python threading.Thread"] = py(_thread)
        out["python os.fork"] = py(_fork)
    """,
    expect={"python threading.Thread": ("ok:True", "RuntimeError"), "python os.fork": ("EPERM", "EPERM")},
)

# ---------------------------------------------------------------------------------------------- process-spawn
_CLONES_SPAWN = {
    "SIGCHLD": (SIGCHLD, "forked:exit=0"),
    "SIGCHLD|1<<32": (SIGCHLD | HIGH1, "forked:exit=0"),
    # no namespace flag: allowed; the kernel refuses a thread without CLONE_SIGHAND|CLONE_VM
    "CLONE_THREAD": (CLONE_THREAD, "EINVAL"),
    # CLONE_SIGHAND without CLONE_VM is invalid: harmless even unfiltered
    **{f"{n}|CLONE_SIGHAND": (f | CLONE_SIGHAND, "EPERM") for n, f in CLONE_NS.items()},
    "CLONE_NEWUSER|CLONE_SIGHAND|1<<32": (CLONE_NS["CLONE_NEWUSER"] | CLONE_SIGHAND | HIGH1, "EPERM"),
    "all namespaces|CLONE_SIGHAND": (0x7E020000 | CLONE_SIGHAND, "EPERM"),
}
_SPAWN_PREP = """
    _info = buf(128)
    PGID, SID = os.getpgid(0), os.getsid(0)

    def _fork():
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    # (whether execv succeeded, the exit status): a failed execv reports its errno through a close-on-exec pipe
    # made before the filter, which a successful exec closes (so does dying: SIGSYS is checked separately)
    _exec_r, _exec_w = os.pipe()

    def _fork_exec():
        pid = os.fork()
        if pid == 0:
            try:
                os.execv("/bin/true", ["true"])
            except OSError as exc:
                os.write(_exec_w, b"%d" % exc.errno)
            os._exit(0)
        os.close(_exec_w)
        failed = os.read(_exec_r, 16)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return (False, int(failed)) if failed else (True, status)

    import subprocess

    def _subprocess():
        return subprocess.run(["/bin/true"]).returncode
"""
spec(
    "process-spawn", cap="process-spawn",
    via={"vfork": "python subprocess.run in the process-spawn+companions variant (_posixsubprocess uses vfork)"},
    prep=_SPAWN_PREP,
    probe=f"""
        for _label, _flags in {[(k, v[0]) for k, v in _CLONES_SPAWN.items()]!r}:
            out["clone(%s)" % _label] = forked("clone", _flags, 0, 0, 0, 0)
        out["fork"] = forked("fork")
        out["wait4(-1,WNOHANG)"] = sc("wait4", -1, 0, 1, 0)
        out["waitid(P_ALL,WEXITED|WNOHANG)"] = sc("waitid", 0, 0, _info, 5, 0)
        out["execve(NULL)"] = sc("execve", 0, 0, 0)
        out["execveat(-1,'',AT_EMPTY_PATH)"] = sc("execveat", -1, b"", 0, 0, 0x1000)
        out["pidfd_open(self)"] = fd("pidfd_open", PID, 0)
        out["getpgid(0)"] = same("getpgid", PGID, 0)
        out["getpgrp"] = same("getpgrp", PGID)
        out["getsid(0)"] = same("getsid", SID, 0)
        out["setpgid(0,-1)"] = sc("setpgid", 0, -1)
        out["python os.fork+waitpid"] = py(_fork)
        # the program is executed; the inherited filter then refuses its loader's mmap and it fails (how is
        # the loader's choice: glibc 2.36's crashes with SIGSEGV, 2.41's exits 127)
        out["python fork+execv(/bin/true)"] = py(_fork_exec)
        # subprocess needs pipes (ipc) and a signal mask (signals) too: see the variant below
        out["python subprocess.run"] = py(_subprocess)
        out["setsid"] = same("setsid", PID)
    """,
    expect={
        **{f"clone({k})": v[1] for k, v in _CLONES_SPAWN.items()},
        "fork": "forked:exit=0", "wait4(-1,WNOHANG)": "ECHILD", "waitid(P_ALL,WEXITED|WNOHANG)": "ECHILD",
        "execve(NULL)": "EFAULT", "execveat(-1,'',AT_EMPTY_PATH)": "EBADF", "pidfd_open(self)": "fd",
        "getpgid(0)": "=", "getpgrp": "=", "getsid(0)": "=", "setpgid(0,-1)": "EINVAL",
        "python os.fork+waitpid": "ok:7", "python fork+execv(/bin/true)": "EXECUTED-BUT-FAILED",
        "python subprocess.run": ("EPERM", "EPERM"), "setsid": "=",
    },
)
spec(
    "process-spawn+companions", cap="process-spawn", extra=("ipc", "signals", "memory", "exec-memory", "file-read"),
    prep=_SPAWN_PREP,
    probe="""
        out["python subprocess.run(/bin/true)"] = py(_subprocess)
        out["python fork+execv(/bin/true)"] = py(_fork_exec)
    """,
    expect={"python subprocess.run(/bin/true)": "ok:0", "python fork+execv(/bin/true)": "ok:(True, 0)"},
)

# ---------------------------------------------------------------------------------------------------- signals
spec(
    "signals", cap="signals",
    prep="""
        _hits = []
        signal.signal(signal.SIGUSR1, lambda *a: _hits.append(1))
        signal.signal(signal.SIGALRM, lambda *a: None)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        os.kill(PID, signal.SIGUSR1)  # stays pending until rt_sigsuspend unblocks it
        _pidfd = os.pidfd_open(PID)
        _act, _old, _set, _empty, _ts0, _ss = buf(64), buf(8), buf(8), buf(8), buf(16), buf(24)
        _usr2 = buf(8, struct.pack("<Q", 1 << (signal.SIGUSR2 - 1)))
        _info = buf(128, struct.pack("<iii", 0, 0, -1))  # si_code SI_QUEUE

        def _handler():
            signal.signal(signal.SIGUSR2, lambda *a: _hits.append(2))
            os.kill(PID, signal.SIGUSR2)
            for _ in range(100000):
                if 2 in _hits:
                    return True
            return False

        signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)  # pause() returns at the next SIGALRM
    """,
    probe="""
        out["rt_sigaction(SIGUSR2,query)"] = sc("rt_sigaction", signal.SIGUSR2, 0, _act, 8)
        out["rt_sigprocmask(query)"] = sc("rt_sigprocmask", 0, 0, _old, 8)
        out["rt_sigpending"] = sc("rt_sigpending", _set, 8)
        out["rt_sigtimedwait(SIGUSR2,0s)"] = sc("rt_sigtimedwait", _usr2, 0, _ts0, 8)
        out["rt_sigqueueinfo(self,0)"] = sc("rt_sigqueueinfo", PID, 0, _info)
        out["rt_tgsigqueueinfo(self,0)"] = sc("rt_tgsigqueueinfo", PID, TID, 0, _info)
        out["sigaltstack(query)"] = sc("sigaltstack", 0, _ss)
        out["kill(self,0)"] = sc("kill", PID, 0)
        out["tkill(self,0)"] = sc("tkill", TID, 0)
        out["tgkill(self,0)"] = sc("tgkill", PID, TID, 0)
        out["signalfd"] = fd("signalfd", -1, _usr2, 8)
        out["signalfd4"] = fd("signalfd4", -1, _usr2, 8, os.O_CLOEXEC)
        out["pidfd_send_signal(self,0)"] = sc("pidfd_send_signal", _pidfd, 0, 0, 0)
        out["rt_sigsuspend(pending SIGUSR1)"] = sc("rt_sigsuspend", _empty, 8)
        out["pause(periodic SIGALRM)"] = sc("pause")
        out["python signal handler"] = py(_handler)
    """,
    expect={
        "rt_sigaction(SIGUSR2,query)": "rc=0", "rt_sigprocmask(query)": "rc=0", "rt_sigpending": "rc=0",
        "rt_sigtimedwait(SIGUSR2,0s)": "EAGAIN", "rt_sigqueueinfo(self,0)": "rc=0",
        "rt_tgsigqueueinfo(self,0)": "rc=0", "sigaltstack(query)": "rc=0", "kill(self,0)": "rc=0",
        "tkill(self,0)": "rc=0", "tgkill(self,0)": "rc=0", "signalfd": "fd", "signalfd4": "fd",
        "pidfd_send_signal(self,0)": "rc=0", "rt_sigsuspend(pending SIGUSR1)": "EINTR",
        "pause(periodic SIGALRM)": "EINTR", "python signal handler": "ok:True",
    },
)

# ----------------------------------------------------------------------------------------------- process-info
spec(
    "process-info", cap="process-info",
    prep="""
        PPID, UID, EUID, GID, EGID = os.getppid(), os.getuid(), os.geteuid(), os.getgid(), os.getegid()
        NGROUPS, PGID, SID = len(os.getgroups()), os.getpgid(0), os.getsid(0)
        _a, _b, _c, _cpu = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
        _uts, _si, _ru, _tms = buf(390), buf(112), buf(144), buf(32)
        _hdr, _data = buf(8, struct.pack("<Ii", 0x20080522, 0)), buf(24)
    """,
    probe="""
        out["getppid"] = same("getppid", PPID)
        out["getuid"] = same("getuid", UID)
        out["geteuid"] = same("geteuid", EUID)
        out["getgid"] = same("getgid", GID)
        out["getegid"] = same("getegid", EGID)
        out["getgroups(0,NULL)"] = same("getgroups", NGROUPS, 0, 0)
        out["getresuid"] = sc("getresuid", ref(_a), ref(_b), ref(_c))
        out["getresgid"] = sc("getresgid", ref(_a), ref(_b), ref(_c))
        out["getpgid(0)"] = same("getpgid", PGID, 0)
        out["getpgrp"] = same("getpgrp", PGID)
        out["getsid(0)"] = same("getsid", SID, 0)
        out["uname"] = sc("uname", _uts)
        out["sysinfo"] = sc("sysinfo", _si)
        out["capget"] = sc("capget", _hdr, _data)
        out["prctl(PR_GET_DUMPABLE)"] = sc("prctl", 3, 0, 0, 0, 0)
        out["prctl(PR_GET_SECCOMP)"] = sc("prctl", 21, 0, 0, 0, 0)
        out["getcpu"] = sc("getcpu", ref(_cpu), 0, 0)
        out["getrusage(SELF)"] = sc("getrusage", 0, _ru)
        out["times"] = ok("times", _tms)
        out["python os.uname().sysname"] = py(lambda: os.uname().sysname)
        # glibc's getppid() cannot fail, so a refused call surfaces as -1 (-EPERM), not as an exception
        out["python os.getppid()==ppid"] = py(lambda: os.getppid() == PPID)
    """,
    expect={
        "getppid": "=", "getuid": "=", "geteuid": "=", "getgid": "=", "getegid": "=", "getgroups(0,NULL)": "=",
        "getresuid": "rc=0", "getresgid": "rc=0", "getpgid(0)": "=", "getpgrp": "=", "getsid(0)": "=",
        "uname": "rc=0", "sysinfo": "rc=0", "capget": "rc=0", "prctl(PR_GET_DUMPABLE)": "rc=1",
        "prctl(PR_GET_SECCOMP)": "rc=2", "getcpu": "rc=0", "getrusage(SELF)": "rc=0", "times": "ok",
        "python os.uname().sysname": "ok:Linux", "python os.getppid()==ppid": ("ok:True", "ok:False"),
    },
)

# --------------------------------------------------------------------------------------------------- identity
spec(
    "identity", cap="identity",
    prep="""
        UID, GID = os.getuid(), os.getgid()
        _groups = os.getgroups()
        _garr = (ctypes.c_uint * max(len(_groups), 1))(*_groups)
        _hdr, _data = buf(8, struct.pack("<Ii", 0x20080522, 0)), buf(24)
        assert raw("capget", _hdr, _data)[0] == 0
    """,
    probe=f"""
        out["setuid(self)"] = sc("setuid", UID)
        out["setgid(self)"] = sc("setgid", GID)
        out["setreuid(-1,-1)"] = sc("setreuid", {NOID}, {NOID})
        out["setregid(-1,-1)"] = sc("setregid", {NOID}, {NOID})
        out["setresuid(-1,-1,-1)"] = sc("setresuid", {NOID}, {NOID}, {NOID})
        out["setresgid(-1,-1,-1)"] = sc("setresgid", {NOID}, {NOID}, {NOID})
        out["setfsuid(-1)"] = same("setfsuid", UID, {NOID})
        out["setfsgid(-1)"] = same("setfsgid", GID, {NOID})
        out["setgroups(same)"] = sc("setgroups", len(_groups), _garr)
        out["capset(same)"] = sc("capset", _hdr, _data)
        out["python os.setuid(self)"] = py(os.setuid, UID)
    """,
    expect={
        "setuid(self)": "rc=0", "setgid(self)": "rc=0", "setreuid(-1,-1)": "rc=0", "setregid(-1,-1)": "rc=0",
        "setresuid(-1,-1,-1)": "rc=0", "setresgid(-1,-1,-1)": "rc=0", "setfsuid(-1)": "=", "setfsgid(-1)": "=",
        "setgroups(same)": "ROOT:rc=0", "capset(same)": "rc=0", "python os.setuid(self)": "ok",
    },
)

# ---------------------------------------------------------------------------------------------------- rlimits
spec(
    "rlimits", cap="rlimits",
    prep="""
        import resource
        _rl, _rl2, _ru = buf(16), buf(16), buf(144)
        assert raw("getrlimit", 7, _rl)[0] == 0
        NICE = os.getpriority(os.PRIO_PROCESS, 0)
        IOPRIO = raw("ioprio_get", 1, 0)[0]
    """,
    probe="""
        out["getrlimit(NOFILE)"] = sc("getrlimit", 7, _rl2)
        out["setrlimit(NOFILE,same)"] = sc("setrlimit", 7, _rl)
        out["prlimit64(self,NOFILE,query)"] = sc("prlimit64", 0, 7, 0, _rl2)
        out["getrusage(SELF)"] = sc("getrusage", 0, _ru)
        out["getpriority(self)"] = same("getpriority", 20 - NICE, 0, 0)
        out["setpriority(self,same)"] = sc("setpriority", 0, 0, NICE)
        out["ioprio_get(self)"] = same("ioprio_get", IOPRIO, 1, 0)
        out["ioprio_set(self,same)"] = sc("ioprio_set", 1, 0, IOPRIO)
        out["python resource.getrlimit"] = py(lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 0)
    """,
    expect={
        "getrlimit(NOFILE)": "rc=0", "setrlimit(NOFILE,same)": "rc=0", "prlimit64(self,NOFILE,query)": "rc=0",
        "getrusage(SELF)": "rc=0", "getpriority(self)": "=", "setpriority(self,same)": "rc=0",
        "ioprio_get(self)": "=", "ioprio_set(self,same)": "rc=0", "python resource.getrlimit": "ok:True",
    },
)

# ------------------------------------------------------------------------------------------------- sandboxing
spec(
    "sandboxing", cap="sandboxing",
    prep="""
        _allow, _sizes = buf(4, struct.pack("<I", 0x7FFF0000)), buf(8)
        _insn = buf(8, struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000))  # BPF_RET|BPF_K SECCOMP_RET_ALLOW
        _prog = buf(16, struct.pack("<H6xQ", 1, ctypes.addressof(_insn)))
        _llattr = buf(8, struct.pack("<Q", 1 << 6))  # handled_access_fs = LANDLOCK_ACCESS_FS_MAKE_CHAR

        def _filters():
            st = dict(l.split(":", 1) for l in os.pread(_status_fd, 8192, 0).decode().splitlines() if ":" in l)
            return st["Seccomp_filters"].strip()
    """,
    probe="""
        _before = _filters()
        out["seccomp(GET_ACTION_AVAIL,ALLOW)"] = sc("seccomp", 2, 0, _allow)
        out["seccomp(GET_NOTIF_SIZES)"] = sc("seccomp", 3, 0, _sizes)
        out["seccomp(SET_MODE_FILTER,allow-all)"] = sc("seccomp", 1, 0, _prog)
        out["Seccomp_filters before,after"] = "%s,%s" % (_before, _filters())
        out["landlock_create_ruleset(VERSION)"] = ok("landlock_create_ruleset", 0, 0, 1)
        _rs = raw("landlock_create_ruleset", _llattr, 8, 0)[0]
        out["landlock_add_rule(-1)"] = sc("landlock_add_rule", -1, 1, 0, 0)
        out["landlock_restrict_self"] = sc("landlock_restrict_self", _rs, 0)
        out["prctl(PR_GET_NO_NEW_PRIVS)"] = sc("prctl", 39, 0, 0, 0, 0)
        out["prctl(PR_SET_NO_NEW_PRIVS)"] = sc("prctl", 38, 1, 0, 0, 0)
    """,
    expect={
        "seccomp(GET_ACTION_AVAIL,ALLOW)": "rc=0", "seccomp(GET_NOTIF_SIZES)": "rc=0",
        "seccomp(SET_MODE_FILTER,allow-all)": "rc=0", "Seccomp_filters before,after": ("1,2", "1,1"),
        "landlock_create_ruleset(VERSION)": "ok", "landlock_add_rule(-1)": "EBADF",
        "landlock_restrict_self": "rc=0", "prctl(PR_GET_NO_NEW_PRIVS)": "rc=1", "prctl(PR_SET_NO_NEW_PRIVS)": "rc=0",
    },
)

# ------------------------------------------------------------------------------------------------------- time
spec(
    "time", cap="time",
    prep="""
        _ts, _tv, _tms = buf(16), buf(16), buf(32)
        _short = buf(16, struct.pack("<qq", 0, 1000))
    """,
    probe="""
        out["clock_gettime(MONOTONIC)"] = sc("clock_gettime", 1, _ts)
        out["clock_getres(MONOTONIC)"] = sc("clock_getres", 1, _ts)
        out["gettimeofday"] = sc("gettimeofday", _tv, 0)
        out["time(NULL)"] = ok("time", 0)
        out["nanosleep(1us)"] = sc("nanosleep", _short, 0)
        out["clock_nanosleep(MONOTONIC,1us)"] = sc("clock_nanosleep", 1, 0, _short, 0)
        out["times"] = ok("times", _tms)
        out["python time.sleep(0.001)"] = py(time.sleep, 0.001)
        # the vDSO answers clock reads in user space: no syscall, so no filter can refuse them
        out["python time.monotonic() (vDSO)"] = py(lambda: time.monotonic() > 0)
    """,
    expect={
        "clock_gettime(MONOTONIC)": "rc=0", "clock_getres(MONOTONIC)": "rc=0", "gettimeofday": "rc=0",
        "time(NULL)": "ok", "nanosleep(1us)": "rc=0", "clock_nanosleep(MONOTONIC,1us)": "rc=0", "times": "ok",
        "python time.sleep(0.001)": "ok", "python time.monotonic() (vDSO)": ("ok:True", "ok:True"),
    },
)

# ----------------------------------------------------------------------------------------------------- timers
spec(
    "timers", cap="timers",
    prep="""
        _tfd = _libc.timerfd_create(1, os.O_CLOEXEC)
        assert _tfd >= 0
        _its0, _its = buf(32), buf(32)
        _tid = ctypes.c_int(-1)
        _sev = buf(64, struct.pack("<Qii", 0, 0, 1))  # SIGEV_NONE
    """,
    probe="""
        out["alarm(0)"] = sc("alarm", 0)
        out["getitimer(REAL)"] = sc("getitimer", 0, _its)
        out["setitimer(REAL,0)"] = sc("setitimer", 0, _its0, 0)
        out["timer_create(MONOTONIC,SIGEV_NONE)"] = sc("timer_create", 1, _sev, ref(_tid))
        out["timer_settime"] = sc("timer_settime", _tid.value, 0, _its0, 0)
        out["timer_gettime"] = sc("timer_gettime", _tid.value, _its)
        out["timer_getoverrun"] = sc("timer_getoverrun", _tid.value)
        out["timer_delete"] = sc("timer_delete", _tid.value)
        out["timerfd_create"] = fd("timerfd_create", 1, 0)
        out["timerfd_settime"] = sc("timerfd_settime", _tfd, 0, _its0, 0)
        out["timerfd_gettime"] = sc("timerfd_gettime", _tfd, _its)
        out["python signal.setitimer(REAL,0)"] = py(signal.setitimer, signal.ITIMER_REAL, 0)
    """,
    expect={
        "alarm(0)": "rc=0", "getitimer(REAL)": "rc=0", "setitimer(REAL,0)": "rc=0",
        "timer_create(MONOTONIC,SIGEV_NONE)": "rc=0", "timer_settime": "rc=0", "timer_gettime": "rc=0",
        "timer_getoverrun": "rc=0", "timer_delete": "rc=0", "timerfd_create": "fd", "timerfd_settime": "rc=0",
        "timerfd_gettime": "rc=0", "python signal.setitimer(REAL,0)": "ok:(0.0, 0.0)",
    },
)

# ---------------------------------------------------------------------------------------------------- polling
# socketpair only for AF_UNIX (asyncio's self-pipe), the family compared on its low 32 bits; unfiltered the
# kernel refuses socketpair for the other families itself (EOPNOTSUPP, EAFNOSUPPORT), never with EPERM
_POLLING_PAIRS = [
    ("AF_UNIX,SOCK_STREAM", 1, ST, "rc=0"), ("AF_UNIX,SOCK_DGRAM", 1, DG, "rc=0"),
    ("AF_UNIX,SOCK_SEQPACKET|SOCK_CLOEXEC", 1, SEQ | 0x80000, "rc=0"), ("AF_UNIX|1<<32,SOCK_STREAM", 1 | HIGH1, ST, "rc=0"),
    ("AF_UNIX|0xffffffff<<32,SOCK_DGRAM", 1 | HIGHF, DG, "rc=0"),
    ("AF_UNSPEC,SOCK_STREAM", 0, ST, "EPERM"), ("AF_INET,SOCK_STREAM", 2, ST, "EPERM"),
    ("AF_INET6,SOCK_DGRAM", 10, DG, "EPERM"), ("AF_NETLINK,SOCK_RAW", 16, RAW, "EPERM"),
    ("0x101,SOCK_STREAM", 0x101, ST, "EPERM"), ("AF_UNIX|0x10000,SOCK_STREAM", 1 | 0x10000, ST, "EPERM"),
    ("AF_UNIX|0x80000000,SOCK_STREAM", 1 | 0x80000000, ST, "EPERM"),
]
_POLLING_PAIRS_CODE = "\n".join(f"out['socketpair({label})'] = _pair({fam:#x}, {typ:#x})" for label, fam, typ, _ in _POLLING_PAIRS)
_POLLING_PAIRS_EXPECT = {f"socketpair({label})": want for label, _, _, want in _POLLING_PAIRS}
spec(
    "polling", cap="polling",
    prep="""
        import selectors
        _r, _w = os.pipe()
        os.write(_w, b"x")
        _ep = select.epoll()
        _pfd = buf(8, struct.pack("<ihh", _r, 1, 0))
        _set = bytearray(128)
        _set[_r // 8] |= 1 << (_r % 8)
        _fds1, _fds2 = buf(128, bytes(_set)), buf(128, bytes(_set))
        _tv0, _ts0 = buf(16), buf(16)
        _ev, _evs = buf(12, struct.pack("<IQ", 1, 0)), buf(12 * 8)

        def _selector():
            with selectors.DefaultSelector() as sel:
                sel.register(_r, selectors.EVENT_READ)
                return len(sel.select(0))

        import asyncio
        _sv = (ctypes.c_int * 2)()

        def _pair(fam, typ):
            rc, err = raw("socketpair", fam, typ, 0, _sv)
            if rc == 0:
                os.close(_sv[0])
                os.close(_sv[1])
            return _res(rc, err)

        def _py_pair():
            a, b = socket.socketpair()
            with a, b:
                os.write(a.fileno(), b"x")
                return os.read(b.fileno(), 1)

        def _event_loop():
            # the self-pipe is socket.socketpair() made non-blocking with FIONBIO (stdio); asyncio.run would
            # also install a SIGINT handler (signals)
            loop = asyncio.new_event_loop()
            try:
                return loop.run_until_complete(asyncio.sleep(0, "ran"))
            finally:
                loop.close()
    """,
    probe=("""
        out["poll"] = sc("poll", _pfd, 1, 0)
        out["ppoll"] = sc("ppoll", _pfd, 1, _ts0, 0, 8)
        out["select"] = sc("select", _r + 1, _fds1, 0, 0, _tv0)
        out["pselect6"] = sc("pselect6", _r + 1, _fds2, 0, 0, _ts0, 0)
        out["epoll_create"] = fd("epoll_create", 1)
        out["epoll_create1(CLOEXEC)"] = fd("epoll_create1", os.O_CLOEXEC)
        out["epoll_ctl(ADD)"] = sc("epoll_ctl", _ep.fileno(), 1, _r, _ev)
        out["epoll_wait"] = sc("epoll_wait", _ep.fileno(), _evs, 8, 0)
        out["epoll_pwait"] = sc("epoll_pwait", _ep.fileno(), _evs, 8, 0, 0, 8)
        out["epoll_pwait2"] = sc("epoll_pwait2", _ep.fileno(), _evs, 8, _ts0, 0, 8)
        out["eventfd"] = fd("eventfd", 0)
        out["eventfd2(CLOEXEC)"] = fd("eventfd2", 0, os.O_CLOEXEC)
        out["python select.select"] = py(lambda: len(select.select([_r], [], [], 0)[0]))
        out["python selectors.DefaultSelector"] = py(_selector)
    """, _POLLING_PAIRS_CODE, """
        out["python socket.socketpair"] = py(_py_pair)
        out["python asyncio event loop"] = py(_event_loop)
    """),
    expect={
        **_POLLING_PAIRS_EXPECT, "python socket.socketpair": "ok:b'x'", "python asyncio event loop": "ok:ran",
        "poll": "rc=1", "ppoll": "rc=1", "select": "rc=1", "pselect6": "rc=1", "epoll_create": "fd",
        "epoll_create1(CLOEXEC)": "fd", "epoll_ctl(ADD)": "rc=0", "epoll_wait": "rc=1", "epoll_pwait": "rc=1",
        "epoll_pwait2": "rc=1", "eventfd": "fd", "eventfd2(CLOEXEC)": "fd", "python select.select": "ok:1",
        "python selectors.DefaultSelector": "ok:1",
    },
)

# -------------------------------------------------------------------------------------------------------- ipc
# shmflg is an int: the kernel ignores the high half. SHM_EXEC (an executable mapping) is exec-memory's.
SHM_EXEC, SHM_RDONLY, SHM_RND = 0o100000, 0o10000, 0o20000
SHMAT_FLAGS = {
    "SHM_RDONLY": SHM_RDONLY, "SHM_RND": SHM_RND, "SHM_RDONLY|1<<32": SHM_RDONLY | HIGH1,
    "SHM_RDONLY|0xffffffff<<32": SHM_RDONLY | HIGHF, "SHM_EXEC": SHM_EXEC, "SHM_EXEC|SHM_RDONLY": SHM_EXEC | SHM_RDONLY,
    "SHM_EXEC|1<<32": SHM_EXEC | HIGH1, "SHM_EXEC|0xffffffff<<32": SHM_EXEC | HIGHF,
}
_SHMAT_CODE = (f"for _label, _flags in {list(SHMAT_FLAGS.items())!r}:\n"
               "    out['shmat(%s)' % _label] = ok('shmat', _shm, 0, _flags)\n")
spec(
    "ipc", cap="ipc",
    prep="""
        _pfds = (ctypes.c_int * 2)()
        _MQ = b"sysfence-cap-%d" % PID  # the raw syscall takes the name without glibc's leading slash
        _sb1 = buf(6, struct.pack("<HhH", 0, 1, 0o4000))
        _sb2 = buf(6, struct.pack("<HhH", 0, -1, 0o4000))
        _msg, _rmsg, _mqbuf, _attr = buf(16, struct.pack("<q", 1) + b"x"), buf(64), buf(8192), buf(64)
        _r, _w = os.pipe()
        os.write(_w, b"abcdefgh")
        _r2, _w2 = os.pipe()
        _r3, _w3 = os.pipe()
        _b = buf(8, b"abcd")
        _vec = iov((_b, 4))

        def _pipe(call, *extra):
            rc, err = raw(call, _pfds, *extra)
            if rc == 0:
                os.close(_pfds[0])
                os.close(_pfds[1])
            return _res(rc, err)
    """,
    probe=("""
        out["pipe"] = _pipe("pipe")
        out["pipe2(O_CLOEXEC)"] = _pipe("pipe2", os.O_CLOEXEC)
        _shm = raw("shmget", 0, 4096, 0o1600)[0]
        out["shmget(IPC_PRIVATE)"] = "ok" if _shm >= 0 else "EPERM"
        _addr, _err = raw("shmat", _shm, 0, 0)
        out["shmat"] = "ok" if _addr > 0 else _res(_addr, _err)
        out["shmdt"] = sc("shmdt", _addr)
    """, _SHMAT_CODE, """
        out["shmctl(IPC_RMID)"] = sc("shmctl", _shm, 0, 0)
        _sem = raw("semget", 0, 1, 0o1600)[0]
        out["semget(IPC_PRIVATE)"] = "ok" if _sem >= 0 else "EPERM"
        out["semop(+1,NOWAIT)"] = sc("semop", _sem, _sb1, 1)
        out["semtimedop(-1,NOWAIT)"] = sc("semtimedop", _sem, _sb2, 1, 0)
        out["semctl(IPC_RMID)"] = sc("semctl", _sem, 0, 0)
        _q = raw("msgget", 0, 0o1600)[0]
        out["msgget(IPC_PRIVATE)"] = "ok" if _q >= 0 else "EPERM"
        out["msgsnd(NOWAIT)"] = sc("msgsnd", _q, _msg, 1, 0o4000)
        out["msgrcv(NOWAIT)"] = sc("msgrcv", _q, _rmsg, 8, 0, 0o4000)
        out["msgctl(IPC_RMID)"] = sc("msgctl", _q, 0, 0)
        _mq = raw("mq_open", _MQ, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600, 0)[0]
        out["mq_open(O_CREAT)"] = "ok" if _mq >= 0 else "EPERM"
        out["mq_timedsend"] = sc("mq_timedsend", _mq, b"x", 1, 0, 0)
        out["mq_timedreceive"] = sc("mq_timedreceive", _mq, _mqbuf, 8192, 0, 0)
        out["mq_getsetattr(query)"] = sc("mq_getsetattr", _mq, 0, _attr)
        out["mq_notify(NULL)"] = sc("mq_notify", _mq, 0)
        out["mq_unlink"] = sc("mq_unlink", _MQ)
        out["memfd_create"] = fd("memfd_create", b"sysfence", 1)
        out["tee(pipe->pipe)"] = sc("tee", _r, _w2, 4, 0)
        out["splice(pipe->pipe)"] = sc("splice", _r, 0, _w3, 0, 4, 0)
        out["vmsplice"] = sc("vmsplice", _w3, _vec, 1, 0)
        out["python os.pipe"] = py(lambda: all(os.close(x) is None for x in os.pipe()))
    """),
    expect={
        "pipe": "rc=0", "pipe2(O_CLOEXEC)": "rc=0", "shmget(IPC_PRIVATE)": "ok", "shmat": "ok", "shmdt": "rc=0",
        **{f"shmat({k})": ("EPERM" if v & SHM_EXEC else "ok") for k, v in SHMAT_FLAGS.items()},
        "shmctl(IPC_RMID)": "rc=0", "semget(IPC_PRIVATE)": "ok",
        "semop(+1,NOWAIT)": "rc=0", "semtimedop(-1,NOWAIT)": "rc=0", "semctl(IPC_RMID)": "rc=0",
        "msgget(IPC_PRIVATE)": "ok", "msgsnd(NOWAIT)": "rc=0", "msgrcv(NOWAIT)": "rc=1", "msgctl(IPC_RMID)": "rc=0",
        "mq_open(O_CREAT)": "ok", "mq_timedsend": "rc=0", "mq_timedreceive": "rc=1", "mq_getsetattr(query)": "rc=0",
        "mq_notify(NULL)": "rc=0", "mq_unlink": "rc=0", "memfd_create": "fd", "tee(pipe->pipe)": "rc=4",
        "splice(pipe->pipe)": "rc=4", "vmsplice": "rc=4", "python os.pipe": "ok:True",
    },
)

# ------------------------------------------------------------------------------------------------ net-client
_SOCKINFO = """
    def _seen(fam, typ, proto):
        # what the kernel made of the arguments: SO_DOMAIN and SO_PROTOCOL of the new socket
        s, err = raw("socket", fam, typ, proto)
        if s < 0:
            return _res(s, err)
        v, n = ctypes.c_int(), ctypes.c_uint(4)
        seen = []
        for opt in (39, 38):
            rc, err = raw("getsockopt", s, 1, opt, ref(v), ref(n))
            seen.append(str(v.value) if rc == 0 else _res(rc, err))
        os.close(s)
        return "domain=%s,protocol=%s" % tuple(seen)
"""
AF = {"AF_UNSPEC": 0, "AF_UNIX": 1, "AF_INET": 2, "AF_AX25": 3, "AF_X25": 9, "AF_INET6": 10, "AF_ROSE": 11,
      "AF_NETLINK": 16, "AF_PACKET": 17, "AF_ALG": 38, "AF_VSOCK": 40}
_NET_PREP = """
    _L = socket.socket()
    _L.bind(("127.0.0.1", 0))
    _L.listen(8)
    _L.setblocking(False)
    PORT = _L.getsockname()[1]
    _U = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _U.bind(("127.0.0.1", 0))
    _U.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("<qq", 20, 0))
    UPORT = _U.getsockname()[1]
    _C, _S2 = socket.socket(), socket.socket()
    _dst, _udst = sin(PORT), sin(UPORT)
    _b, _rb, _sa = buf(64, b"ping"), buf(64), buf(128)
    _one, _val, _len, _salen = ctypes.c_int(1), ctypes.c_int(), ctypes.c_uint(4), ctypes.c_uint(128)
    _vec, _rvec = iov((_b, 4)), iov((_rb, 64))
    _msg, _rmsg = msghdr(_vec, 1, _udst, 16), msghdr(_rvec, 1)
    _mmsg, _rmmsg = buf(64, _msg.raw), buf(64, _rmsg.raw)
    _sv = (ctypes.c_int * 2)()

    def _pair(fam, typ):
        rc, err = raw("socketpair", fam, typ, 0, _sv)
        if rc == 0:
            os.close(_sv[0])
            os.close(_sv[1])
        return _res(rc, err)

    def _nonblocking_client():
        with socket.create_connection(("127.0.0.1", PORT)) as c:
            c.setblocking(False)
            return os.get_blocking(c.fileno())

    def _settimeout():
        with socket.socket() as s:
            s.settimeout(5)
            return s.gettimeout()

    def _udp_timeout_self():
        # with a timeout CPython waits in poll() before every send and receive
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(b"", ("127.0.0.1", UPORT))  # binds the socket to a port of its own
            s.sendto(b"ping", ("127.0.0.1", s.getsockname()[1]))
            return s.recv(4)
""" + _SOCKINFO

_code1, _exp1 = _sockets([
    ("AF_INET,SOCK_STREAM", 2, ST, 0, "fd"), ("AF_INET,SOCK_DGRAM", 2, DG, 0, "fd"),
    ("AF_INET6,SOCK_STREAM", 10, ST, 0, "fd"), ("AF_INET6,SOCK_DGRAM", 10, DG, 0, "fd"),
    ("AF_INET,SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC", 2, ST | 0x800 | 0x80000, 0, "fd"),
    ("AF_INET|1<<32,SOCK_STREAM", 2 | HIGH1, ST, 0, "fd"), ("AF_INET|0xffffffff<<32,SOCK_STREAM", 2 | HIGHF, ST, 0, "fd"),
    ("AF_INET6|1<<32,SOCK_DGRAM", 10 | HIGH1, DG, 0, "fd"),
    ("AF_UNIX,SOCK_STREAM", 1, ST, 0, "EPERM"), ("AF_UNIX|1<<32,SOCK_STREAM", 1 | HIGH1, ST, 0, "EPERM"),
    ("AF_UNSPEC,SOCK_STREAM", 0, ST, 0, "EPERM"), ("AF_AX25,SOCK_DGRAM", 3, DG, 0, "EPERM"),
    ("AF_X25,SOCK_SEQPACKET", 9, SEQ, 0, "EPERM"), ("AF_ROSE,SOCK_SEQPACKET", 11, SEQ, 0, "EPERM"),
    ("AF_NETLINK,SOCK_RAW", 16, RAW, 0, "EPERM"), ("AF_PACKET,SOCK_DGRAM", 17, DG, 0, "EPERM"),
    ("AF_VSOCK,SOCK_STREAM", 40, ST, 0, "EPERM"), ("0x102,SOCK_STREAM", 0x102, ST, 0, "EPERM"),
    ("AF_INET6|0x10000,SOCK_STREAM", 10 | 0x10000, ST, 0, "EPERM"),
])
spec(
    "net-client", cap="net-client",
    prep=_NET_PREP,
    probe=(_code1, """
        out["socketpair(AF_UNIX)"] = _pair(1, 1)
        out["socketpair(AF_INET)"] = _pair(2, 1)
        out["kernel sees socket(AF_INET|1<<32,SOCK_DGRAM)"] = _seen(2 | HIGH1, 2, 0)
        out["kernel sees socket(AF_INET6|0xffffffff<<32,SOCK_STREAM)"] = _seen(10 | HIGHF, 1, 0)
        out["connect(tcp,loopback)"] = sc("connect", _C.fileno(), _dst, 16)
        out["getsockname"] = sc("getsockname", _C.fileno(), _sa, ref(_salen))
        out["getpeername"] = sc("getpeername", _C.fileno(), _sa, ref(_salen))
        out["setsockopt(TCP_NODELAY)"] = sc("setsockopt", _C.fileno(), 6, 1, ref(_one), 4)
        out["getsockopt(SO_TYPE)"] = sc("getsockopt", _C.fileno(), 1, 3, ref(_val), ref(_len))
        out["sendto(tcp)"] = sc("sendto", _C.fileno(), _b, 4, 0, 0, 0)
        out["shutdown(SHUT_RDWR)"] = sc("shutdown", _C.fileno(), 2)
        out["sendto(udp,self)"] = sc("sendto", _U.fileno(), _b, 4, 0, _udst, 16)
        out["recvfrom(udp)"] = sc("recvfrom", _U.fileno(), _rb, 64, 0, 0, 0)
        out["sendmsg(udp,self)"] = sc("sendmsg", _U.fileno(), _msg, 0)
        out["recvmsg(udp)"] = sc("recvmsg", _U.fileno(), _rmsg, 0)
        out["sendmmsg(udp,self)"] = sc("sendmmsg", _U.fileno(), _mmsg, 1, 0)
        out["recvmmsg(udp)"] = sc("recvmmsg", _U.fileno(), _rmmsg, 1, 0, 0)
        out["bind(127.0.0.1:0)"] = sc("bind", _S2.fileno(), sin(0), 16)
        out["listen"] = sc("listen", _S2.fileno(), 1)
        out["accept4"] = fd("accept4", _L.fileno(), 0, 0, 0)
        out["accept"] = fd("accept", _L.fileno(), 0, 0)
        out["python socket.create_connection"] = py(lambda: socket.create_connection(("127.0.0.1", PORT)).close())
        out["python socket(AF_UNIX)"] = py(lambda: socket.socket(socket.AF_UNIX).close())
        out["python create_connection(timeout=5)"] = py(
            lambda: socket.create_connection(("127.0.0.1", PORT), timeout=5).close())
        out["python connected socket.setblocking(False)"] = py(_nonblocking_client)
        out["python socket.settimeout(5)"] = py(_settimeout)
        out["python udp settimeout(5) sendto/recv self"] = py(_udp_timeout_self)
        out["python socket(AF_PACKET)"] = py(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM).close())
    """),
    expect={
        **_exp1,
        # net-client includes polling (socket timeouts wait in poll()), and with it AF_UNIX socketpair
        "socketpair(AF_UNIX)": "rc=0", "socketpair(AF_INET)": "EPERM", "connect(tcp,loopback)": "rc=0",
        "kernel sees socket(AF_INET|1<<32,SOCK_DGRAM)": "domain=2,protocol=17",
        "kernel sees socket(AF_INET6|0xffffffff<<32,SOCK_STREAM)": "domain=10,protocol=6",
        "getsockname": "rc=0", "getpeername": "rc=0", "setsockopt(TCP_NODELAY)": "rc=0",
        "getsockopt(SO_TYPE)": "rc=0", "sendto(tcp)": "rc=4", "shutdown(SHUT_RDWR)": "rc=0",
        "sendto(udp,self)": "rc=4", "recvfrom(udp)": "rc=4", "sendmsg(udp,self)": "rc=4", "recvmsg(udp)": "rc=4",
        "sendmmsg(udp,self)": "rc=1", "recvmmsg(udp)": "rc=1",
        "bind(127.0.0.1:0)": "EPERM", "listen": "EPERM", "accept4": "EPERM", "accept": "EPERM",
        "python socket.create_connection": "ok", "python socket(AF_UNIX)": "EPERM",
        "python create_connection(timeout=5)": "ok", "python udp settimeout(5) sendto/recv self": "ok:b'ping'",
        # FIONBIO is stdio's (the harness): non-blocking sockets and timeouts can be set
        "python connected socket.setblocking(False)": "ok:False", "python socket.settimeout(5)": "ok:5.0",
        "python socket(AF_PACKET)": "EPERM",
    },
)

# ------------------------------------------------------------------------------------------------ net-server
_code1, _exp1 = _sockets([
    ("AF_INET,SOCK_STREAM", 2, ST, 0, "fd"), ("AF_INET6,SOCK_STREAM", 10, ST, 0, "fd"),
    ("AF_UNIX,SOCK_STREAM", 1, ST, 0, "EPERM"), ("AF_NETLINK,SOCK_RAW", 16, RAW, 0, "EPERM"),
    ("AF_PACKET,SOCK_DGRAM", 17, DG, 0, "EPERM"),
])
spec(
    "net-server", cap="net-server",
    prep="""
        _S, _C1, _C2 = socket.socket(), socket.socket(), socket.socket()
        _sa, _salen = buf(16), ctypes.c_uint(16)

        def _server():
            with socket.create_server(("127.0.0.1", 0)) as srv:
                with socket.create_connection(srv.getsockname()) as c:
                    conn, _ = srv.accept()
                    with conn:
                        c.sendall(b"hi")
                        return conn.recv(2)
    """,
    probe=(_code1, """
        out["bind(127.0.0.1:0)"] = sc("bind", _S.fileno(), sin(0), 16)
        out["listen"] = sc("listen", _S.fileno(), 4)
        out["getsockname"] = sc("getsockname", _S.fileno(), _sa, ref(_salen))
        _port = struct.unpack_from("!H", _sa.raw, 2)[0]
        out["connect"] = sc("connect", _C1.fileno(), sin(_port), 16)
        out["accept4"] = fd("accept4", _S.fileno(), 0, 0, os.O_CLOEXEC)
        raw("connect", _C2.fileno(), sin(_port), 16)
        out["accept"] = fd("accept", _S.fileno(), 0, 0)
        out["python create_server/accept/recv"] = py(_server)
    """),
    expect={
        **_exp1, "bind(127.0.0.1:0)": "rc=0", "listen": "rc=0", "getsockname": "rc=0", "connect": "rc=0",
        "accept4": "fd", "accept": "fd", "python create_server/accept/recv": "ok:b'hi'",
    },
)

# ---------------------------------------------------------------------------------------------- unix-sockets
_UNIX_TIMEOUT_PREP = """
    def _timeout_recv():
        a, b = socket.socketpair()
        with a, b:
            b.settimeout(5)
            a.send(b"x")
            return b.recv(1)
"""
_code1, _exp1 = _sockets([
    ("AF_UNIX,SOCK_STREAM", 1, ST, 0, "fd"), ("AF_UNIX,SOCK_DGRAM", 1, DG, 0, "fd"),
    ("AF_UNIX,SOCK_SEQPACKET", 1, SEQ, 0, "fd"), ("AF_UNIX|1<<32,SOCK_STREAM", 1 | HIGH1, ST, 0, "fd"),
    ("AF_UNIX|0xffffffff<<32,SOCK_DGRAM", 1 | HIGHF, DG, 0, "fd"),
    ("AF_INET,SOCK_STREAM", 2, ST, 0, "EPERM"), ("AF_INET6,SOCK_DGRAM", 10, DG, 0, "EPERM"),
    ("AF_NETLINK,SOCK_RAW", 16, RAW, 0, "EPERM"), ("AF_PACKET,SOCK_DGRAM", 17, DG, 0, "EPERM"),
    ("AF_UNSPEC,SOCK_STREAM", 0, ST, 0, "EPERM"), ("0x101,SOCK_STREAM", 0x101, ST, 0, "EPERM"),
])
spec(
    "unix-sockets", cap="unix-sockets",
    prep=(_SOCKINFO, """
        import multiprocessing.connection
        _S, _C, _C2 = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
        _P1, _P2 = socket.socketpair()
        _D1, _D2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        _path = P("sock")
        _sun, _sunlen = buf(110, struct.pack("<H", 1) + _path), 2 + len(_path) + 1
        _b, _rb, _sa, _cred = buf(64, b"ping"), buf(64), buf(128), buf(12)
        _one, _salen, _credlen = ctypes.c_int(1), ctypes.c_uint(128), ctypes.c_uint(12)
        _vec, _rvec = iov((_b, 4)), iov((_rb, 64))
        _msg, _rmsg = msghdr(_vec, 1), msghdr(_rvec, 1)
        _mmsg, _rmmsg = buf(64, _msg.raw), buf(64, _rmsg.raw)
        _sv = (ctypes.c_int * 2)()

        def _pair(fam, typ):
            rc, err = raw("socketpair", fam, typ, 0, _sv)
            if rc == 0:
                os.close(_sv[0])
                os.close(_sv[1])
            return _res(rc, err)

        def _py_pair():
            a, b = socket.socketpair()
            with a, b:
                a.send(b"x")
                return b.recv(1)

        def _mp_pipe():
            a, b = multiprocessing.connection.Pipe()
            a.send({"k": 1})
            return b.recv()

        def _mp_poll():
            a, b = multiprocessing.connection.Pipe()
            a.send(1)
            return b.poll(0)
    """, _UNIX_TIMEOUT_PREP),
    probe=(_code1, f"""
        out["socketpair(AF_UNIX,SOCK_STREAM)"] = _pair(1, 1)
        out["socketpair(AF_UNIX|1<<32,SOCK_DGRAM)"] = _pair(1 | {HIGH1}, 2)
        out["socketpair(AF_INET)"] = _pair(2, 1)
        out["socketpair(AF_NETLINK)"] = _pair(16, 3)
        out["kernel sees socket(AF_UNIX|1<<32,SOCK_DGRAM)"] = _seen(1 | HIGH1, 2, 0)
        out["bind(path)"] = sc("bind", _S.fileno(), _sun, _sunlen)
        out["listen"] = sc("listen", _S.fileno(), 4)
        out["connect(path)"] = sc("connect", _C.fileno(), _sun, _sunlen)
        out["accept4"] = fd("accept4", _S.fileno(), 0, 0, 0)
        raw("connect", _C2.fileno(), _sun, _sunlen)
        out["accept"] = fd("accept", _S.fileno(), 0, 0)
        out["getsockname"] = sc("getsockname", _S.fileno(), _sa, ref(_salen))
        out["getpeername"] = sc("getpeername", _P1.fileno(), _sa, ref(_salen))
        out["setsockopt(SO_PASSCRED)"] = sc("setsockopt", _P1.fileno(), 1, 16, ref(_one), 4)
        out["getsockopt(SO_PEERCRED)"] = sc("getsockopt", _P1.fileno(), 1, 17, _cred, ref(_credlen))
        out["sendto"] = sc("sendto", _P1.fileno(), _b, 4, 0, 0, 0)
        out["recvfrom"] = sc("recvfrom", _P2.fileno(), _rb, 64, 0, 0, 0)
        out["sendmsg"] = sc("sendmsg", _P1.fileno(), _msg, 0)
        out["recvmsg"] = sc("recvmsg", _P2.fileno(), _rmsg, 0)
        out["sendmmsg"] = sc("sendmmsg", _D1.fileno(), _mmsg, 1, 0)
        out["recvmmsg"] = sc("recvmmsg", _D2.fileno(), _rmmsg, 1, 0, 0)
        out["shutdown(SHUT_WR)"] = sc("shutdown", _P1.fileno(), 1)
        out["python socket.socketpair"] = py(_py_pair)
        out["python multiprocessing Pipe"] = py(_mp_pipe)
        out["python socketpair()[0].setblocking(False)"] = py(lambda: socket.socketpair()[0].setblocking(False))
        out["python multiprocessing Connection.poll(0)"] = py(_mp_poll)
        out["python socketpair settimeout(5) recv"] = py(_timeout_recv)
    """),
    expect={
        **_exp1,
        "socketpair(AF_UNIX,SOCK_STREAM)": "rc=0", "socketpair(AF_UNIX|1<<32,SOCK_DGRAM)": "rc=0",
        "socketpair(AF_INET)": "EPERM", "socketpair(AF_NETLINK)": "EPERM", "bind(path)": "rc=0", "listen": "rc=0",
        "kernel sees socket(AF_UNIX|1<<32,SOCK_DGRAM)": "domain=1,protocol=0",
        "connect(path)": "rc=0", "accept4": "fd", "accept": "fd", "getsockname": "rc=0", "getpeername": "rc=0",
        "setsockopt(SO_PASSCRED)": "rc=0", "getsockopt(SO_PEERCRED)": "rc=0", "sendto": "rc=4", "recvfrom": "rc=4",
        "sendmsg": "rc=4", "recvmsg": "rc=4", "sendmmsg": "rc=1", "recvmmsg": "rc=1", "shutdown(SHUT_WR)": "rc=0",
        "python socket.socketpair": "ok:b'x'", "python multiprocessing Pipe": "ok:{'k': 1}",
        "python socketpair()[0].setblocking(False)": "ok",
        "python multiprocessing Connection.poll(0)": "ok:True", "python socketpair settimeout(5) recv": "ok:b'x'",
    },
)

# ----------------------------------------------------------------------------------------------------- netlink
_code1, _exp1 = _sockets([
    ("AF_NETLINK,SOCK_RAW,ROUTE", 16, RAW, 0, "fd"), ("AF_NETLINK,SOCK_DGRAM,ROUTE", 16, DG, 0, "fd"),
    ("AF_NETLINK,SOCK_RAW|SOCK_CLOEXEC,ROUTE", 16, RAW | 0x80000, 0, "fd"),
    ("AF_NETLINK|1<<32,SOCK_RAW,ROUTE", 16 | HIGH1, RAW, 0, "fd"),
    ("AF_NETLINK,SOCK_RAW,ROUTE|1<<32", 16, RAW, HIGH1, "fd"),
    ("AF_NETLINK|0xffffffff<<32,SOCK_RAW,ROUTE|0xffffffff<<32", 16 | HIGHF, RAW, HIGHF, "fd"),
    ("AF_NETLINK,SOCK_RAW,AUDIT", 16, RAW, 9, "EPERM"), ("AF_NETLINK,SOCK_RAW,AUDIT|1<<32", 16, RAW, 9 | HIGH1, "EPERM"),
    ("AF_NETLINK,SOCK_RAW,SOCK_DIAG", 16, RAW, 4, "EPERM"),
    ("AF_NETLINK,SOCK_RAW,KOBJECT_UEVENT", 16, RAW, 15, "EPERM"),
    ("AF_NETLINK,SOCK_RAW,NETFILTER", 16, RAW, 12, "EPERM"), ("AF_NETLINK,SOCK_RAW,1", 16, RAW, 1, "EPERM"),
    ("AF_PACKET,SOCK_RAW,0", 17, RAW, 0, "EPERM"), ("AF_INET,SOCK_STREAM", 2, ST, 0, "EPERM"),
    ("AF_UNIX,SOCK_DGRAM", 1, DG, 0, "EPERM"),
])
spec(
    "netlink", cap="netlink",
    prep=(_SOCKINFO, """
        _N = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        _snl = buf(12, struct.pack("<HHII", 16, 0, 0, 0))
        # RTM_GETLINK for ifindex 1 (lo): one reply, no dump
        _req = buf(32, struct.pack("<IHHII", 32, 18, 1, 1, 0) + struct.pack("<BxHiII", 0, 0, 1, 0, 0))
        _big, _sa, _salen = buf(65536), buf(12), ctypes.c_uint(12)
        _vec, _rvec = iov((_req, 32)), iov((_big, 65536))
        _msg, _rmsg = msghdr(_vec, 1, _snl, 12), msghdr(_rvec, 1)

        def _route_reply(fam, typ, proto):
            # a NETLINK_ROUTE socket answers RTM_GETLINK with RTM_NEWLINK (16): the kernel saw ROUTE
            s, err = raw("socket", fam, typ, proto)
            if s < 0:
                return _res(s, err)
            raw("sendto", s, _req, 32, 0, _snl, 12)
            n, err = raw("recvfrom", s, _big, 65536, 0, 0, 0)
            os.close(s)
            return "reply type %d" % struct.unpack_from("<IH", _big.raw)[1] if n > 0 else _res(n, err)
    """),
    probe=(_code1, """
        out["kernel sees socket(AF_NETLINK|1<<32,SOCK_RAW,ROUTE|1<<32)"] = _route_reply(16 | HIGH1, 3, HIGH1)
        out["bind(sockaddr_nl)"] = sc("bind", _N.fileno(), _snl, 12)
        out["getsockname"] = sc("getsockname", _N.fileno(), _sa, ref(_salen))
        out["sendto(RTM_GETLINK lo)"] = sc("sendto", _N.fileno(), _req, 32, 0, _snl, 12)
        out["recvfrom"] = ok("recvfrom", _N.fileno(), _big, 65536, 0, 0, 0)
        out["sendmsg(RTM_GETLINK lo)"] = sc("sendmsg", _N.fileno(), _msg, 0)
        out["recvmsg"] = ok("recvmsg", _N.fileno(), _rmsg, 0)
        out["python socket.if_nameindex"] = py(lambda: (1, "lo") in socket.if_nameindex())
    """),
    expect={
        **_exp1, "kernel sees socket(AF_NETLINK|1<<32,SOCK_RAW,ROUTE|1<<32)": "reply type 16",
        "bind(sockaddr_nl)": "rc=0", "getsockname": "rc=0", "sendto(RTM_GETLINK lo)": "rc=32",
        "recvfrom": "ok", "sendmsg(RTM_GETLINK lo)": "rc=32", "recvmsg": "ok", "python socket.if_nameindex": "ok:True",
    },
)

# ----------------------------------------------------------------------------------------------------- sockets
_code1, _exp1 = _sockets([
    ("AF_INET,SOCK_STREAM", 2, ST, 0, "fd"), ("AF_INET6,SOCK_DGRAM", 10, DG, 0, "fd"),
    ("AF_UNIX,SOCK_STREAM", 1, ST, 0, "fd"), ("AF_NETLINK,SOCK_RAW,AUDIT", 16, RAW, 9, "fd"),
    ("AF_NETLINK,SOCK_RAW,KOBJECT_UEVENT", 16, RAW, 15, "fd"),
    ("AF_PACKET,SOCK_DGRAM", 17, DG, 0, "ROOT:fd"), ("AF_VSOCK,SOCK_STREAM", 40, ST, 0, "UNFILTERED"),
    ("AF_ALG,SOCK_SEQPACKET", 38, SEQ, 0, "UNFILTERED"), ("AF_UNSPEC,SOCK_STREAM", 0, ST, 0, "EAFNOSUPPORT"),
    ("0x102,SOCK_STREAM", 0x102, ST, 0, "EAFNOSUPPORT"),
])
spec(
    "sockets", cap="sockets",
    prep=_NET_PREP,
    probe=(_code1, """
        out["socketpair(AF_UNIX)"] = _pair(1, 1)
        out["socketpair(AF_INET)"] = _pair(2, 1)
        out["bind(tcp,127.0.0.1:0)"] = sc("bind", _S2.fileno(), sin(0), 16)
        out["listen(tcp)"] = sc("listen", _S2.fileno(), 1)
        out["connect(tcp,loopback)"] = sc("connect", _C.fileno(), _dst, 16)
        out["accept4"] = fd("accept4", _L.fileno(), 0, 0, 0)
    """),
    expect={
        **_exp1, "socketpair(AF_UNIX)": "rc=0", "socketpair(AF_INET)": errno.errorcode[errno.EOPNOTSUPP], "bind(tcp,127.0.0.1:0)": "rc=0",
        "listen(tcp)": "rc=0", "connect(tcp,loopback)": "rc=0", "accept4": "fd",
    },
)

# --------------------------------------------------------------------------------------------------------- dns
spec(
    "dns", cap="dns",
    prep="""
        _b = buf(16)
        _short = buf(16, struct.pack("<qq", 0, 1000))

        def _gai():
            return sorted({ai[4][0] for ai in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)})
    """,
    probe="""
        out["python getaddrinfo(localhost)"] = py(_gai)
        out["python gethostbyname(localhost)"] = py(socket.gethostbyname, "localhost")
        out["openat(/etc/hosts,O_RDONLY)"] = fd("openat", AT_FDCWD, b"/etc/hosts", 0, 0)
        out["openat(/etc/hosts,O_RDWR)"] = fd("openat", AT_FDCWD, b"/etc/hosts", 2, 0)
        out["socket(AF_INET,SOCK_DGRAM)"] = fd("socket", 2, 2, 0)
        out["socket(AF_UNIX,SOCK_STREAM)"] = fd("socket", 1, 1, 0)
        out["getrandom(16)"] = sc("getrandom", _b, 16, 0)
        out["clock_nanosleep(1us)"] = sc("clock_nanosleep", 1, 0, _short, 0)
        out["poll(none,0)"] = sc("poll", 0, 0, 0)
    """,
    expect={
        # without dns glibc can read neither nsswitch.conf nor /etc/hosts: EAI_AGAIN / EAI_NONAME
        "python getaddrinfo(localhost)": ("UNFILTERED", "gaierror:-3"),
        "python gethostbyname(localhost)": ("UNFILTERED", "gaierror:-2"),
        "openat(/etc/hosts,O_RDONLY)": "fd", "openat(/etc/hosts,O_RDWR)": "EPERM",
        "socket(AF_INET,SOCK_DGRAM)": "fd", "socket(AF_UNIX,SOCK_STREAM)": "EPERM", "getrandom(16)": "rc=16",
        "clock_nanosleep(1us)": "rc=0", "poll(none,0)": "rc=0",
    },
)

# ---------------------------------------------------------------------------------------------------- terminal
# terminal is an allowlist: ioctl only for these 29 requests, compared on the low 32 bits (the kernel's
# `unsigned int cmd`). Every other request is EPERM unless stdio allows it (FIONBIO, FIOCLEX, FIONCLEX,
# FIONREAD): input injection (TIOCSTI, TIOCLINUX), console redirection (TIOCCONS), the other tty requests (line
# discipline, modem lines, breaks), file-system and driver ioctls. device-control (below) grants those.
TIOCSTI, TIOCLINUX, TIOCCONS, TIOCGETD = 0x5412, 0x541C, 0x541D, 0x5424
TERMINAL_REQUESTS = {
    "TCGETS": 0x5401, "TCSETS": 0x5402, "TCSETSW": 0x5403, "TCSETSF": 0x5404, "TCGETA": 0x5405, "TCSETA": 0x5406,
    "TCSETAW": 0x5407, "TCSETAF": 0x5408, "TCSBRK": 0x5409, "TCXONC": 0x540A, "TCFLSH": 0x540B,
    "TIOCEXCL": 0x540C, "TIOCNXCL": 0x540D, "TIOCSCTTY": 0x540E, "TIOCGPGRP": 0x540F, "TIOCSPGRP": 0x5410,
    "TIOCOUTQ": 0x5411, "TIOCGWINSZ": 0x5413, "TIOCSWINSZ": 0x5414, "TIOCNOTTY": 0x5422, "TCSBRKP": 0x5425,
    "TIOCGSID": 0x5429, "TIOCGPTN": 0x80045430, "TIOCSPTLCK": 0x40045431, "TIOCGPTPEER": 0x5441,
    # struct termios2: what glibc 2.42+ uses for tcgetattr/tcsetattr (and so isatty)
    "TCGETS2": 0x802C542A, "TCSETS2": 0x402C542B, "TCSETSW2": 0x402C542C, "TCSETSF2": 0x402C542D,
}
# file-system requests: generic ones the VFS answers for any regular file (no driver involved)
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IOC_FSGETXATTR, FS_IOC_GETVERSION = 0x80086601, 0x40086602, 0x801C581F, 0x80087601
FIOASYNC, FIOQSIZE = 0x5452, 0x5460


def _ioctl_table(rows: list[tuple[str, str, int, str, str | tuple[str, str]]]) -> tuple[str, dict]:
    """(descriptor label, descriptor variable, request, request label, expected) -> probe code, expectations."""
    lines, expect = [], {}
    for label, var, req, rlabel, want in rows:
        pid = f"ioctl({label},{rlabel})"
        assert pid not in expect, pid
        lines.append(f"out[{pid!r}] = sc('ioctl', {var}, {req:#x}, _iob)")
        expect[pid] = want
    return "\n".join(lines), expect


# every request of the allowlist on /dev/null: the kernel's ENOTTY (no tty there, so none of them does
# anything), also with either high half; without terminal the filter's EPERM
_TERM_NULL_ALLOWED = [
    row for i, (name, req) in enumerate(TERMINAL_REQUESTS.items()) for row in (
        ("/dev/null", "_null", req, name, "ENOTTY"),
        ("/dev/null", "_null", req | (HIGH1 if i % 2 else HIGHF), name + ("|1<<32" if i % 2 else "|0xffffffff<<32"),
         "ENOTTY"),
    )
]
# outside the allowlist: EPERM with terminal too (unfiltered: ENOTTY on /dev/null, FIOASYNC succeeds, and the
# file-system requests answer for a regular file)
_TERM_DENIED = [
    ("/dev/null", "_null", TIOCSTI, "TIOCSTI", "EPERM"), ("/dev/null", "_null", TIOCSTI | HIGH1, "TIOCSTI|1<<32", "EPERM"),
    ("/dev/null", "_null", TIOCLINUX, "TIOCLINUX", "EPERM"),
    ("/dev/null", "_null", TIOCLINUX | HIGHF, "TIOCLINUX|0xffffffff<<32", "EPERM"),
    ("/dev/null", "_null", TIOCCONS, "TIOCCONS", "EPERM"), ("/dev/null", "_null", TIOCCONS | HIGH1, "TIOCCONS|1<<32", "EPERM"),
    # the allowlist's neighbours: numbers between and around its entries, its entries with bits 16 or 31 set
    # or the other direction bits, and a foreign high half on a neighbour
    *[("/dev/null", "_null", r, f"{r:#x}", "EPERM") for r in (
        0x5400, 0x5415, 0x5421 + 0x10000, 0x5423, TIOCGETD, 0x5426, 0x5427, 0x5428, 0x542A, 0x5430, 0x5440,
        0x5442, 0x15401, 0x80005413, 0x10000 | 0x5441, 0x40045430, 0x80045431, 0x80045432, 0x5415 | HIGH1,
        TIOCGETD | HIGHF, FIOASYNC, 0x402C542A, 0x802C542B, 0x802C5429, 0x402C542E, 0x402C542B | 0x10000000)],
    ("file", "_f", FS_IOC_GETFLAGS, "FS_IOC_GETFLAGS", "EPERM"),
    ("file", "_f", FS_IOC_FSGETXATTR, "FS_IOC_FSGETXATTR", "EPERM"),
    ("file", "_f", FS_IOC_GETVERSION, "FS_IOC_GETVERSION", "EPERM"),
    ("file", "_f", FS_IOC_GETVERSION | HIGH1, "FS_IOC_GETVERSION|1<<32", "EPERM"),
    ("file", "_f", FIOQSIZE, "FIOQSIZE", "EPERM"),
    # stdio's: the kernel's answer in both children
    ("file", "_f", FIONREAD, "FIONREAD", ("rc=0", "rc=0")), ("/dev/null", "_null", FIONREAD, "FIONREAD", ("ENOTTY", "ENOTTY")),
    ("/dev/null", "_null", FIONREAD | HIGHF, "FIONREAD|0xffffffff<<32", ("ENOTTY", "ENOTTY")),
]
_TERM_TABLE_CODE, _TERM_TABLE_EXPECT = _ioctl_table(_TERM_NULL_ALLOWED + _TERM_DENIED)
# the pty the child opened before the filter (_s the terminal, _m its master): in call order, so that TCSETS and
# TIOCSWINSZ set what TCGETS and TIOCGWINSZ read. The pty is not the child's controlling terminal: TIOCGPGRP
# and TIOCGSID reach the kernel and get its ENOTTY
_TERM_PTY = [
    ("pty", "_s", 0x5401, "TCGETS", "_tio", "rc=0"), ("pty", "_s", 0x5402, "TCSETS", "_tio", "rc=0"),
    ("pty", "_s", 0x802C542A, "TCGETS2", "_tio", "rc=0"), ("pty", "_s", 0x402C542B, "TCSETS2", "_tio", "rc=0"),
    ("pty", "_s", 0x5413, "TIOCGWINSZ", "_ws", "rc=0"), ("pty", "_s", 0x5414, "TIOCSWINSZ", "_ws", "rc=0"),
    ("pty", "_s", 0x5413 | HIGHF, "TIOCGWINSZ|0xffffffff<<32", "_ws", "rc=0"),
    ("pty", "_s", 0x5411, "TIOCOUTQ", "ref(_n)", "rc=0"), ("pty", "_s", FIONREAD, "FIONREAD", "ref(_n)", ("rc=0", "rc=0")),
    ("pty", "_s", 0x540F, "TIOCGPGRP", "ref(_n)", "ENOTTY"), ("pty", "_s", 0x5429, "TIOCGSID", "ref(_n)", "ENOTTY"),
    ("ptmx", "_m", 0x80045430, "TIOCGPTN", "ref(_n)", "rc=0"),
    ("ptmx", "_m", 0x40045431 | HIGH1, "TIOCSPTLCK|1<<32", "ref(_zero)", "rc=0"),
    ("pty", "_s", TIOCSTI, "TIOCSTI", "_ch", "EPERM"), ("pty", "_s", TIOCSTI | HIGH1, "TIOCSTI|1<<32", "_ch", "EPERM"),
    ("pty", "_s", TIOCSTI | HIGHF, "TIOCSTI|0xffffffff<<32", "_ch", "EPERM"),
    ("pty", "_s", TIOCLINUX, "TIOCLINUX", "_ch", "EPERM"),
    ("pty", "_s", TIOCGETD, "TIOCGETD", "ref(_n)", "EPERM"),  # a tty request, but device-control's
]
_TERM_PTY_CODE = "\n".join(f"out['ioctl({lab},{rlab})'] = sc('ioctl', {var}, {req:#x}, {arg})"
                           for lab, var, req, rlab, arg, _ in _TERM_PTY)
_TERM_PTY_EXPECT = {f"ioctl({lab},{rlab})": want for lab, _, _, rlab, _, want in _TERM_PTY}
_TTY_PREP = """
    import fcntl, termios
    _m, _s = os.openpty()
    _null = os.open("/dev/null", os.O_RDWR)
    with open(P("data"), "wb") as _fw:
        _fw.write(b"0123456789")
    _f = os.open(P("data"), os.O_RDONLY)
    _ws, _tio, _ch, _iob = buf(8), buf(64), buf(1, b"x"), buf(64)
    _n, _zero = ctypes.c_int(), ctypes.c_int(0)
"""
spec(
    "terminal", cap="terminal",
    prep=_TTY_PREP,
    probe=(_TERM_TABLE_CODE, _TERM_PTY_CODE, """
        out["ioctl(ptmx,TIOCGPTPEER)"] = fd("ioctl", _m, 0x5441, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        out["python os.isatty(pty)"] = py(os.isatty, _s)
        out["python termios.tcgetattr(pty)"] = py(lambda: len(termios.tcgetattr(_s)))
        out["python termios.tcsetattr(pty,TCSANOW)"] = py(lambda: termios.tcsetattr(_s, termios.TCSANOW, termios.tcgetattr(_s)))
        out["python os.get_terminal_size(pty)"] = py(lambda: tuple(os.get_terminal_size(_s)))
        out["python fcntl.ioctl(file,FS_IOC_GETFLAGS)"] = py(fcntl.ioctl, _f, 0x80086601, bytes(4))
    """),
    expect={
        **_TERM_TABLE_EXPECT, **_TERM_PTY_EXPECT, "ioctl(ptmx,TIOCGPTPEER)": "fd",
        "python os.isatty(pty)": ("ok:True", "ok:False"), "python termios.tcgetattr(pty)": ("ok:7", "error"),
        "python termios.tcsetattr(pty,TCSANOW)": ("ok", "error"), "python os.get_terminal_size(pty)": "ok:(0, 0)",
        "python fcntl.ioctl(file,FS_IOC_GETFLAGS)": ("EPERM", "EPERM"),
    },
)

# ---------------------------------------------------------------------------------------------- device-control
# device-control: ioctl with any request (terminal included) except TIOCSTI and TIOCLINUX, compared on the
# low 32 bits. File-system, driver and the other tty requests reach the kernel; without device-control they
# are EPERM (the harness's stdio allows its four, so FIONREAD gets the kernel's answer in both children)
_DEVCTL_NEIGHBOURS = [0x5411, 0x5413, 0x541B, 0x541D, 0x15412, 0x80005412, 0x5413 | HIGH1, 0x541B | HIGHF, 0x1541C,
                      0x1541C | HIGHF, 0x541C - 0x10, 0x5415, 0x5424 | HIGH1]
_STDIO_GRANTS = {FIONREAD, FIONBIO, FIONCLEX, FIOCLEX}
_DEVCTL = [
    *[("/dev/null", "_null", r, f"{r:#x}", ("ENOTTY", "ENOTTY") if (r & 0xFFFFFFFF) in _STDIO_GRANTS else "ENOTTY")
      for r in _DEVCTL_NEIGHBOURS],
    ("/dev/null", "_null", TIOCCONS, "TIOCCONS", "ENOTTY"), ("/dev/null", "_null", FIOASYNC, "FIOASYNC", "rc=0"),
    # the guards, also with a foreign high half
    ("/dev/null", "_null", TIOCSTI, "TIOCSTI", "EPERM"), ("/dev/null", "_null", TIOCLINUX | HIGH1, "TIOCLINUX|1<<32", "EPERM"),
    ("/dev/null", "_null", TIOCLINUX | HIGHF, "TIOCLINUX|0xffffffff<<32", "EPERM"),
    # file-system requests on a regular file: whatever the file system answers (flags, struct fsxattr,
    # generation, size), the setter passes back the flags the getter just read
    ("file", "_f", FS_IOC_GETFLAGS, "FS_IOC_GETFLAGS", "UNFILTERED"),
    ("file", "_f", FS_IOC_SETFLAGS, "FS_IOC_SETFLAGS(unchanged)", "UNFILTERED"),
    ("file", "_f", FS_IOC_FSGETXATTR | HIGH1, "FS_IOC_FSGETXATTR|1<<32", "UNFILTERED"),
    ("file", "_f", FS_IOC_GETVERSION | HIGHF, "FS_IOC_GETVERSION|0xffffffff<<32", "UNFILTERED"),
    ("file", "_f", FIOQSIZE, "FIOQSIZE", "UNFILTERED"), ("file", "_f", FIONREAD, "FIONREAD", ("rc=0", "rc=0")),
]
_DEVCTL_CODE, _DEVCTL_EXPECT = _ioctl_table(_DEVCTL)
spec(
    "device-control", cap="device-control",
    prep=_TTY_PREP,
    probe=(_DEVCTL_CODE, """
        out["ioctl(pty,TCGETS)"] = sc("ioctl", _s, 0x5401, _tio)
        out["ioctl(pty,TIOCGWINSZ)"] = sc("ioctl", _s, 0x5413, _ws)
        out["ioctl(pty,TIOCGETD)"] = sc("ioctl", _s, 0x5424, ref(_n))
        out["ioctl(pty,TIOCSTI)"] = sc("ioctl", _s, 0x5412, _ch)
        out["ioctl(pty,TIOCSTI|1<<32)"] = sc("ioctl", _s, 0x5412 | HIGH1, _ch)
        out["ioctl(pty,TIOCSTI|0xffffffff<<32)"] = sc("ioctl", _s, 0x5412 | HIGHF, _ch)
        out["ioctl(pty,TIOCLINUX)"] = sc("ioctl", _s, 0x541C, _ch)
        out["ioctl(pty,TIOCLINUX|0x80000000)"] = sc("ioctl", _s, 0x8000541C, _ch)
        out["python fcntl.ioctl(file,FS_IOC_GETFLAGS)"] = py(fcntl.ioctl, _f, 0x80086601, bytes(4))
        out["python os.get_terminal_size(pty)"] = py(lambda: tuple(os.get_terminal_size(_s)))
    """),
    expect={
        **_DEVCTL_EXPECT,
        "ioctl(pty,TCGETS)": "rc=0", "ioctl(pty,TIOCGWINSZ)": "rc=0", "ioctl(pty,TIOCGETD)": "rc=0",
        "ioctl(pty,TIOCSTI)": "EPERM", "ioctl(pty,TIOCSTI|1<<32)": "EPERM", "ioctl(pty,TIOCSTI|0xffffffff<<32)": "EPERM",
        "ioctl(pty,TIOCLINUX)": "EPERM",
        # bit 31 set: not TIOCLINUX for the kernel either (a neighbour, the tty layer's ENOTTY)
        "ioctl(pty,TIOCLINUX|0x80000000)": "ENOTTY",
        "python fcntl.ioctl(file,FS_IOC_GETFLAGS)": "UNFILTERED", "python os.get_terminal_size(pty)": "ok:(0, 0)",
    },
)

# ------------------------------------------------------------------------------------------------------ random
spec(
    "random", cap="random",
    prep="""
        import secrets
        _b = buf(16)
    """,
    probe="""
        out["getrandom(16,0)"] = sc("getrandom", _b, 16, 0)
        out["getrandom(16,GRND_NONBLOCK)"] = sc("getrandom", _b, 16, 1)
        out["getrandom(16,GRND_INSECURE)"] = sc("getrandom", _b, 16, 4)
        out["getrandom(16,bad flags)"] = sc("getrandom", _b, 16, 0xFFFF)
        # CPython falls back to /dev/urandom when getrandom says EPERM; the harness cannot open it either
        out["python os.urandom(16)"] = py(lambda: len(os.urandom(16)))
        out["python secrets.token_bytes(8)"] = py(lambda: len(secrets.token_bytes(8)))
    """,
    expect={
        "getrandom(16,0)": "rc=16", "getrandom(16,GRND_NONBLOCK)": "rc=16", "getrandom(16,GRND_INSECURE)": "rc=16",
        "getrandom(16,bad flags)": "EINVAL",
        # Where the C library answers getrandom() from the vDSO once used (glibc 2.41+ on Linux 6.11+; the
        # interpreter used it at start-up), a filter loaded later sees these calls only once the kernel has
        # reseeded (the vDSO then re-keys with the syscall): either answer, by timing. Asked of the platform.
        # The raw syscalls above are refused either way.
        "python os.urandom(16)": ("ok:16", "ANY:ok:16|EPERM" if VDSO_GETRANDOM else "EPERM"),
        "python secrets.token_bytes(8)": ("ok:8", "ANY:ok:8|EPERM" if VDSO_GETRANDOM else "EPERM"),
    },
)

# ---------------------------------------------------------------------------------- the dangerous capabilities
INVAL, BADFD = 0xFFFFFFFF, -1
# cap -> syscall -> (arguments, what the kernel answers when the call reaches it); all harmless if allowed
DANGEROUS: dict[str, dict[str, tuple[tuple[object, ...], str]]] = {
    "debugging": {
        "ptrace": ((2, 0, 0, 0), "ESRCH"),  # PTRACE_PEEKDATA of pid 0
        "process_vm_readv": (("PID", 0, 0, 0, 0, INVAL), "EINVAL"),
        "process_vm_writev": (("PID", 0, 0, 0, 0, INVAL), "EINVAL"),
        "kcmp": (("PID", "PID", 0xDEAD, 0, 0), "EINVAL"),
        "pidfd_getfd": ((BADFD, 0, 0), "EBADF"),
        "process_madvise": ((BADFD, 0, 0, 0, INVAL), "EINVAL"),
        "process_mrelease": ((BADFD, INVAL), "EINVAL"),
        "migrate_pages": ((BADFD, 0, 0, 0), "ESRCH"),
        "move_pages": ((0, 0, 0, 0, 0, INVAL), "EINVAL"),
    },
    "namespaces": {
        "unshare": ((0,), "rc=0"),  # no flags: a no-op
        "setns": ((BADFD, 0), "EBADF"),
        "clone": ((0x10000000 | 0x800, 0, 0, 0, 0), "EINVAL"),  # CLONE_NEWUSER|CLONE_SIGHAND without CLONE_VM
    },
    "mount": {
        "mount": ((0, 0, 0, 0, 0), "EFAULT"),
        "umount2": ((0, INVAL), "EINVAL"),
        "pivot_root": ((0, 0), "EFAULT"),
        "chroot": ((0,), "EFAULT"),
        "open_tree": ((BADFD, 0, INVAL), "EINVAL"),
        "move_mount": ((BADFD, 0, BADFD, 0, INVAL), "EINVAL"),
        "fsopen": ((0, INVAL), "EINVAL"),
        "fsconfig": ((BADFD, 0xDEAD, 0, 0, 0), "EINVAL"),
        "fsmount": ((BADFD, INVAL, 0), "EINVAL"),
        "fspick": ((BADFD, 0, INVAL), "EINVAL"),
        "mount_setattr": ((BADFD, 0, INVAL, 0, 0), "EINVAL"),
    },
    "io_uring": {
        "io_uring_setup": ((0, 0), "EFAULT"),
        "io_uring_enter": ((BADFD, 0, 0, 0, 0, 0), "EBADF"),
        "io_uring_register": ((BADFD, 0, 0, 0), "EINVAL"),
    },
    "bpf": {
        "bpf": ((0xDEAD, 0, 0), "EINVAL"),
        "userfaultfd": ((INVAL,), "EINVAL"),
    },
    "perf": {
        "perf_event_open": ((0, 0, BADFD, BADFD, INVAL), "EINVAL"),
        "fanotify_init": ((INVAL, INVAL), "EINVAL"),
        "fanotify_mark": ((BADFD, INVAL, 0, BADFD, 0), "EINVAL"),
    },
    "keyring": {
        "keyctl": ((0xDEAD, 0, 0, 0, 0), errno.errorcode[errno.EOPNOTSUPP]),
        "add_key": ((0, 0, 0, 0, 0), "EFAULT"),
        "request_key": ((0, 0, 0, 0), "EFAULT"),
    },
    "kernel-modules": {  # this kernel is built without modules and kexec: the kernel's own ENOSYS
        "init_module": ((0, 0, 0), "ENOSYS"),
        "finit_module": ((BADFD, 0, INVAL), "ENOSYS"),
        "delete_module": ((0, 0), "ENOSYS"),
        "create_module": ((0, 0), "ENOSYS"),
        "get_kernel_syms": ((0,), "ENOSYS"),
        "query_module": ((0, 0, 0, 0, 0), "ENOSYS"),
        "kexec_load": ((0, 0, 0, INVAL), "ENOSYS"),
        "kexec_file_load": ((BADFD, BADFD, 0, 0, INVAL), "ENOSYS"),
    },
    "clock-setting": {
        "settimeofday": ((1, 1), "EFAULT"),
        "clock_settime": ((0xDEAD, 0), "EINVAL"),
        "adjtimex": ((0,), "EFAULT"),
        "clock_adjtime": ((0, 0), "EFAULT"),
    },
    "raw-io": {  # CONFIG_X86_IOPL_IOPERM is off here; with it the arguments are invalid anyway
        "iopl": ((4,), "ENOSYS"),
        "ioperm": ((0x100000, 1, 0), "ENOSYS"),
    },
    "reboot": {
        "reboot": ((0, 0, 0, 0), "EINVAL"),  # invalid magic
    },
    "system-admin": {
        "swapon": ((0, 0), "EFAULT"),
        "swapoff": ((0,), "EFAULT"),
        "acct": ((1,), "EFAULT"),  # not NULL: acct(NULL) would switch accounting off
        "quotactl": ((0xDEAD, 0, 0, 0), "EINVAL"),
        "quotactl_fd": ((BADFD, 0, 0, 0), "EBADF"),
        "syslog": ((0xDEAD, 0, 0), "EINVAL"),
        "sethostname": ((0, BADFD), "EINVAL"),
        "setdomainname": ((0, BADFD), "EINVAL"),
        "vhangup": ((), "rc=0"),  # the child runs in its own session without a controlling terminal
        "open_by_handle_at": ((BADFD, 0, INVAL), "EFAULT"),
        "name_to_handle_at": ((BADFD, 0, 0, 0, INVAL), "EINVAL"),
        "lookup_dcookie": ((0, 0, 0), "ENOSYS"),
    },
    "obsolete": {
        "uselib": ((0,), "ENOSYS"),
        "sysfs": ((0xDEAD, 0, 0), "EINVAL"),
        "_sysctl": ((0,), "ENOSYS"),
        "nfsservctl": ((0, 0, 0), "ENOSYS"),
        "ustat": ((0, 0), "EINVAL"),
        # modify_ldt returns an int the kernel does not sign-extend: -EINVAL arrives as 0xffffffea
        "modify_ldt": ((1, 0, 0), f"rc={-errno.EINVAL & 0xFFFFFFFF}"),
        "getpmsg": ((), "ENOSYS"),
        "putpmsg": ((), "ENOSYS"),
        "afs_syscall": ((), "ENOSYS"),
        "tuxcall": ((), "ENOSYS"),
        "security": ((), "ENOSYS"),
        "vserver": ((), "ENOSYS"),
        "epoll_ctl_old": ((), "ENOSYS"),
        "epoll_wait_old": ((), "ENOSYS"),
    },
}


def _danger_probe(caps: list[str]) -> str:
    lines = []
    for cap in caps:
        for name, (args, _) in DANGEROUS[cap].items():
            a = ", ".join("PID" if x == "PID" else str(x) for x in args)
            lines.append(f'out[{name!r}] = sc({name!r}{", " if a else ""}{a})')
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- running children
@dataclass
class Run:
    returncode: int
    out: dict[str, str]
    stderr: str
    stdout_first: str = ""


def write_profile(directory: Path, name: str, caps: tuple[str, ...] | list[str]) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(f"capabilities = {json.dumps(list(caps))}\n")
    return path


def run_child(base: Path, key: str, caps: tuple[str, ...] | list[str] | None, prep: str, probe: str,
              report: str = "print", new_session: bool = False) -> Run:
    """caps None: unfiltered. Each child gets its own directory (files, sockets) and profile."""
    work = base / re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    work.mkdir()
    if report == "mmap":
        (work / "result").write_bytes(b"\0" * 65536)
    prof = str(write_profile(work, "cap-" + work.name, caps)) if caps is not None else ""
    code = child_code(prep, probe, "filtered" if caps is not None else "unfiltered", prof, work, report)
    p = run_py(code, env=child_env(), timeout=CHILD_TIMEOUT, start_new_session=new_session)
    if report == "mmap":
        raw_out = (work / "result").read_bytes().rstrip(b"\0").decode()
    else:
        lines = p.stdout.strip().splitlines()
        raw_out = lines[-1] if lines else ""
    try:
        out = json.loads(raw_out)
    except ValueError:
        out = {"__error__": f"rc={p.returncode} stdout={p.stdout[-1500:]!r} stderr={p.stderr[-3000:]!r}"}
    return Run(p.returncode, out, p.stderr, (p.stdout.splitlines() or [""])[0])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[tuple[str, str], Run]:
    """Every child of this module, run concurrently: (spec id, "with"/"without"/"unfiltered") -> Run, and
    ("danger:NAME", "with") / ("danger", "without") for the dangerous capabilities."""
    base = tmp_path_factory.mktemp("caps")
    jobs = {}
    for sid, s in SPECS.items():
        for mode in ("with", "without", "unfiltered"):
            caps = None if mode == "unfiltered" else s.caps(mode == "with")
            jobs[(sid, mode)] = (f"{sid}-{mode}", caps, s.prep, s.probe, s.report, False)
    for cap in DANGEROUS:
        jobs[(f"danger:{cap}", "with")] = (f"danger-{cap}", HARNESS + (cap,), "", _danger_probe([cap]), "print", True)
    jobs[("danger", "without")] = ("danger-without", HARNESS, "", _danger_probe(list(DANGEROUS)), "print", True)
    with ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 1))) as pool:
        futures = {k: pool.submit(run_child, base, *args) for k, args in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


# ------------------------------------------------------------------------------------------------------ tests
NON_DANGEROUS = sorted(n for n, c in capabilities.catalog().items() if not c.dangerous)
DANGEROUS_NAMES = sorted(n for n, c in capabilities.catalog().items() if c.dangerous)


def test_every_capability_of_the_catalog_has_a_test():
    alone = {s.cap for s in SPECS.values() if not s.extra}
    assert sorted(alone) == NON_DANGEROUS, "every non-dangerous capability needs a spec that grants it alone"
    assert sorted(DANGEROUS) == DANGEROUS_NAMES, "every dangerous capability needs probes"
    assert set(HARNESS) <= set(NON_DANGEROUS)


def _direct(cap: str) -> tuple[set[str], set[str]]:
    """Syscalls a capability grants itself (not through `includes`), and the syscalls of its own rules."""
    c = capabilities.catalog()[cap]
    inherited = set().union(*(set(capabilities.catalog()[i].syscalls) for i in c.includes)) if c.includes else set()
    inherited_rules = {r for i in c.includes for r in capabilities.catalog()[i].rules}
    own = {s for s in c.syscalls if s not in inherited}
    rules = {r.syscall for r in c.rules if r not in inherited_rules}
    return own, rules


_CALL_RE = re.compile(r"""\b(?:sc|ok|fd|same|forked|raw|_pipe)\(\s*["']([a-z0-9_]+)["']""")


def _probed(cap: str) -> set[str]:
    names: set[str] = set()
    for s in SPECS.values():
        if s.cap == cap:
            names |= set(_CALL_RE.findall(s.probe))
            names |= set(s.via)
    code = "".join(s.probe for s in SPECS.values() if s.cap == cap)
    if "_mknod(_call" in code:
        names |= {"mknod", "mknodat"}  # _call loops over both
    if "_pair(" in code:
        names.add("socketpair")
    return names


@pytest.mark.parametrize("cap", NON_DANGEROUS)
def test_every_syscall_of_a_capability_is_probed(cap):
    """A syscall added to a capability without a probe here fails this test. Syscalls the harness grants are
    probed by the runtime and stdio specs; names that do not exist on x86_64 cannot be probed."""
    own, rules = _direct(cap)
    harness = set(capabilities.catalog()["runtime"].syscalls) | set(capabilities.catalog()["stdio"].syscalls)
    if cap in HARNESS:
        harness = set()
    missing = sorted(s for s in (own | rules) - harness - _probed(cap) if syscalls.number(s) is not None)
    assert not missing, f"{cap}: no probe for {missing}"


def _ioctl_requests(rules: tuple) -> set[int]:
    """The requests of ioctl rules that each compare the low 32 bits of the request and nothing else."""
    requests = set()
    for r in rules:
        assert r.syscall == "ioctl" and len(r.conditions) == 1, r
        (c,) = r.conditions
        assert (c.index, c.op, c.mask) == (1, Op.MASKED_EQ, 0xFFFFFFFF), r
        requests.add(c.value)
    return requests


def test_every_request_of_the_terminal_allowlist_is_probed():
    """terminal is an allowlist of ioctl requests (argument rules): a request added to or dropped from the
    catalog without the same change to TERMINAL_REQUESTS fails here, and each one is probed plain and with a
    high half, reaching the kernel (ENOTTY on /dev/null) with terminal and refused without."""
    term = capabilities.catalog()["terminal"]
    assert term.syscalls == () and term.includes == () and not term.guards
    assert len(term.permits) == len(TERMINAL_REQUESTS)
    assert _ioctl_requests(term.permits) == set(TERMINAL_REQUESTS.values())
    expect = SPECS["terminal"].expect
    for name in TERMINAL_REQUESTS:
        high = [pid for pid in expect if pid.startswith(f"ioctl(/dev/null,{name}|")]
        assert len(high) == 1, (name, high)
        assert expect[f"ioctl(/dev/null,{name})"] == expect[high[0]] == "ENOTTY", name
    # what it does not grant: the injection and console requests, the other tty requests, file-system requests
    for pid in ("ioctl(/dev/null,TIOCSTI)", "ioctl(/dev/null,TIOCLINUX)", "ioctl(/dev/null,TIOCCONS)",
                "ioctl(pty,TIOCSTI)", "ioctl(pty,TIOCLINUX)", "ioctl(pty,TIOCGETD)", "ioctl(file,FS_IOC_GETFLAGS)"):
        assert expect[pid] == "EPERM", pid


def test_device_control_grants_ioctl_except_its_two_guards():
    dc = capabilities.catalog()["device-control"]
    assert dc.syscalls == ("ioctl",) and dc.includes == ("terminal",)
    assert not dc.permits  # terminal's allow rules are moot where ioctl is granted outright
    assert _ioctl_requests(dc.guards) == {TIOCSTI, TIOCLINUX}
    assert all(r.action.errno == errno.EPERM for r in dc.guards)
    expect = SPECS["device-control"].expect
    for pid in ("ioctl(/dev/null,TIOCSTI)", "ioctl(/dev/null,TIOCLINUX|1<<32)", "ioctl(/dev/null,TIOCLINUX|0xffffffff<<32)",
                "ioctl(pty,TIOCSTI)", "ioctl(pty,TIOCSTI|1<<32)", "ioctl(pty,TIOCSTI|0xffffffff<<32)", "ioctl(pty,TIOCLINUX)"):
        assert expect[pid] == "EPERM", pid
    assert expect["ioctl(/dev/null,TIOCCONS)"] == "ENOTTY" and expect["ioctl(file,FS_IOC_GETFLAGS)"] == "UNFILTERED"


@pytest.mark.parametrize("cap", DANGEROUS_NAMES)
def test_every_syscall_of_a_dangerous_capability_is_probed(cap):
    names = set(capabilities.catalog()[cap].syscalls)
    missing = sorted(s for s in names - set(DANGEROUS[cap]) if syscalls.number(s) is not None)
    assert not missing, f"{cap}: no probe for {missing}"


def _check_run(r: Run, sid: str, mode: str, spec_: Spec) -> None:
    assert "__error__" not in r.out, f"{sid} ({mode}): child failed: {r.out['__error__']}"
    want_rc = {"with": spec_.exit_with, "without": spec_.exit_without, "unfiltered": 0}[mode]
    assert r.returncode == want_rc, f"{sid} ({mode}): exit status {r.returncode}, want {want_rc}: {r.stderr[-2000:]}"
    if spec_.report == "print":
        assert r.out["__seccomp__"] == ("0" if mode == "unfiltered" else "2"), f"{sid} ({mode}): {r.out}"
    if mode != "unfiltered":
        assert r.out["__enable__"] == "enforcing", f"{sid} ({mode}): enable() returned {r.out['__enable__']}"
    missing = sorted(set(spec_.expect) - set(r.out))
    extra = sorted(set(r.out) - set(spec_.expect) - {"__seccomp__", "__enable__"})
    assert not missing and not extra, f"{sid} ({mode}): probes missing {missing}, unexpected {extra}"


@pytest.mark.parametrize("sid", list(SPECS))
@pytest.mark.parametrize("mode", ["with", "without", "unfiltered"])
def test_child_ran_under_the_filter_it_was_given(runs, sid, mode):
    _check_run(runs[(sid, mode)], sid, mode, SPECS[sid])


def _want(spec_: Spec, pid: str, granted: bool) -> str:
    e = spec_.expect[pid]
    with_, without = e if isinstance(e, tuple) else (e, "EPERM")
    return with_ if granted else without


def _executed_but_failed(got: str) -> str:
    """"ok:(True, <status>)" of fork+execv: the exec succeeded and the program then ended with a non-zero status
    or a signal -- which one is the C library's loader's choice."""
    m = re.fullmatch(r"ok:\(True, (-?\d+)\)", got)
    status = int(m.group(1)) if m else 0
    return "EXECUTED-BUT-FAILED" if status not in (0, -int(signal.SIGSYS)) else got  # SIGSYS: killed at execve


def _resolve(want: str, unfiltered: str) -> str | None:
    if want == "UNFILTERED":
        return unfiltered
    if want.startswith("ROOT:"):
        return want[5:] if IS_ROOT else None
    return want


# (spec id, probe id) -> reason: a probe that fails because of a real bug in the catalog, marked xfail(strict)
# until the bug is fixed. Empty: the former entries (socket timeouts under net-client and unix-sockets, which
# did not grant poll) pass since both capabilities include polling.
KNOWN_BUGS: dict[tuple[str, str], str] = {}
PROBES = [
    pytest.param(sid, pid, id=f"{sid}::{pid}",
                 marks=[pytest.mark.xfail(strict=True, raises=AssertionError, reason=KNOWN_BUGS[(sid, pid)])] if (sid, pid) in KNOWN_BUGS else [])
    for sid, s in SPECS.items() for pid in s.expect
]


@pytest.mark.parametrize(("sid", "pid"), PROBES)
def test_probe_with_and_without_the_capability(runs, sid, pid):
    s = SPECS[sid]
    unf = runs[(sid, "unfiltered")].out.get(pid, "<missing>")
    for granted, mode in ((True, "with"), (False, "without")):
        got = runs[(sid, mode)].out.get(pid, "<missing>")
        want = _resolve(_want(s, pid, granted), unf)
        if want == "EXECUTED-BUT-FAILED":
            got = _executed_but_failed(got)
            assert unf == "ok:(True, 0)", f"{sid}: {pid} unfiltered: {unf}"  # the same program runs unfiltered
        if want is not None and want.startswith("ANY:"):  # one of several answers the platform may give
            want = got if got in want[4:].split("|") else want
        if want is None:
            continue
        who = f"{'+'.join(s.caps(granted))}"
        assert got == want, f"{sid}: {pid} under [{who}]: got {got}, want {want}"
        if want == "EPERM" and IS_ROOT:
            # the EPERM is the filter's: without any filter the kernel (we are root) answers differently
            assert unf != "EPERM", f"{sid}: {pid} is EPERM unfiltered too, so it proves nothing"
    if _want(s, pid, True) == "UNFILTERED":
        assert unf not in ("EPERM", "<missing>"), f"{sid}: {pid} unfiltered: {unf}"


# ------------------------------------------------------------------------------- the harness members themselves
def test_runtime_is_what_lets_the_interpreter_exit(runs):
    with_, without = runs[("runtime", "with")], runs[("runtime", "without")]
    assert with_.returncode == 0
    assert without.returncode == -SIGSEGV, "exit_group and exit refused: glibc's _exit ends in hlt"
    assert without.out["getpid"] == "EPERM" and with_.out["getpid"] == "="


def test_stdio_child_reports_without_any_syscall(runs):
    with_, without = runs[("stdio", "with")], runs[("stdio", "without")]
    # the child without stdio cannot read /proc/self/status: its EPERM for read(-1) (EBADF from the kernel
    # otherwise) is what proves its filter loaded, and it still exits normally (runtime)
    assert (with_.out["read(-1)"], without.out["read(-1)"]) == ("EBADF", "EPERM")
    assert runs[("stdio", "unfiltered")].out["read(-1)"] == "EBADF"
    assert with_.returncode == without.returncode == 0


# ------------------------------------------------------------------------------- distinctions across capabilities
_SHM_PREP = """
    _maps = os.open("/proc/self/maps", os.O_RDONLY)

    def _perms(addr):
        data, off = b"", 0
        while True:
            chunk = os.pread(_maps, 65536, off)
            if not chunk:
                break
            data, off = data + chunk, off + len(chunk)
        for line in data.decode().splitlines():
            if line.startswith("%x-" % addr):
                return line.split()[1]
        return "?"

    def _shmat(shm, flags):
        addr, err = raw("shmat", shm, 0, flags)
        return _perms(addr) if addr > 0 else _res(addr, err)
"""
_SHM_PROBE = """
    _shm = raw("shmget", 0, 4096, 0o1700)[0]
    out["shmat(0)"] = _shmat(_shm, 0)
    out["shmat(SHM_EXEC)"] = _shmat(_shm, 0o100000)
    out["shmat(SHM_EXEC|SHM_RDONLY|1<<32)"] = _shmat(_shm, 0o110000 | (1 << 32))
    raw("shmctl", _shm, 0, 0)
    out["mmap(PROT_EXEC)"] = ok("mmap", 0, 4096, 4, 0x22, -1, 0)
    out["mprotect(PROT_READ|PROT_EXEC)"] = sc("mprotect", _pg, 4096, 5)
"""


@pytest.fixture(scope="module")
def memory_ipc(tmp_path_factory) -> Run:
    prep = textwrap.dedent(_SHM_PREP) + "\n_pg = raw('mmap', 0, 4096, 3, 0x22, -1, 0)[0]\n"
    r = run_child(tmp_path_factory.mktemp("shm"), "memory+ipc", HARNESS + ("memory", "ipc"), prep,
                  textwrap.dedent(_SHM_PROBE))
    assert r.returncode == 0 and r.out.get("__seccomp__") == "2", r
    return r


def test_memory_with_ipc_maps_shared_memory_and_refuses_exec_mappings(memory_ipc):
    assert memory_ipc.out["shmat(0)"] == "rw-s"
    assert memory_ipc.out["mmap(PROT_EXEC)"] == "EPERM"
    assert memory_ipc.out["mprotect(PROT_READ|PROT_EXEC)"] == "EPERM"


def test_memory_without_exec_memory_never_maps_executable_through_shmat(memory_ipc):
    """memory promises 'no new executable memory'; with ipc granted too, shmat(SHM_EXEC) was another way (it
    mapped the segment rwxs until ipc's shmat got an argument rule and SHM_EXEC moved to exec-memory)."""
    assert memory_ipc.out["shmat(SHM_EXEC)"] == "EPERM", f"mapped {memory_ipc.out['shmat(SHM_EXEC)']}"
    assert memory_ipc.out["shmat(SHM_EXEC|SHM_RDONLY|1<<32)"] == "EPERM"


@pytest.fixture(scope="module")
def heap_growth(tmp_path_factory) -> Run:
    probe = """
        print(json.dumps(out), flush=True)  # proof the filter loaded, before the allocation
        try:
            _r = "ok:%d" % len(bytearray(1 << 24))
        except MemoryError:
            _r = "MemoryError"
        out = {"alloc": _r}
    """
    return run_child(tmp_path_factory.mktemp("brk"), "brk", HARNESS, "", textwrap.dedent(probe))


def test_heap_grows_through_brk_without_the_memory_capability(heap_growth):
    """The harness has no mmap, so malloc falls back to brk, which runtime grants. (brk has no error return:
    glibc took a denied brk's -EPERM for the new heap end and the process died with SIGSEGV when brk was
    memory's.)"""
    assert json.loads(heap_growth.stdout_first)["__seccomp__"] == "2"
    assert heap_growth.returncode == 0, f"killed by signal {-heap_growth.returncode}"
    assert heap_growth.out == {"alloc": "ok:16777216"}


@pytest.fixture(scope="module", params=[(), ("process-info",)], ids=["runtime+stdio", "runtime+stdio+process-info"])
def minimal_enable(request, tmp_path_factory) -> Run:
    r = run_child(tmp_path_factory.mktemp("enable"), "enable", HARNESS + request.param, "", "")
    assert r.returncode == 0 and r.out.get("__seccomp__") == "2", r
    return r


def test_enable_reports_enforcing_under_a_minimal_profile(minimal_enable):
    """enable() re-reads its state after loading; under a profile that denies prctl and /proc it used to
    return UNAVAILABLE (no prctl) or raise PermissionError (prctl but no openat) with the filter loaded."""
    assert minimal_enable.out["__enable__"] == "enforcing"


# --------------------------------------------------------------------------------------------------- dangerous
@pytest.mark.parametrize("name", profile.builtin_names())
def test_no_builtin_profile_grants_a_dangerous_capability(name):
    prof = profile.load(name)
    assert prof.dangerous == []
    assert not set(prof.capabilities) & set(DANGEROUS_NAMES)
    for cap in DANGEROUS_NAMES:
        for s in capabilities.catalog()[cap].syscalls:
            d = prof.decisions.get(s)
            if d is not None:  # the base decision denies; clone is allowed only by argument rules
                assert d.action.denies, f"{name}: {s} of the dangerous capability {cap} is allowed: {d}"


DANGER_PROBES = [(cap, s) for cap in DANGEROUS for s in DANGEROUS[cap] if syscalls.number(s) is not None]


@pytest.mark.parametrize(("cap", "name"), DANGER_PROBES, ids=[f"{c}::{s}" for c, s in DANGER_PROBES])
def test_granting_a_dangerous_capability_lets_its_syscalls_reach_the_kernel(runs, cap, name):
    if not IS_ROOT:
        pytest.skip("unprivileged, the kernel checks capabilities before arguments and answers EPERM itself")
    with_, without = runs[(f"danger:{cap}", "with")], runs[("danger", "without")]
    for r in (with_, without):
        assert r.returncode == 0 and "__error__" not in r.out and r.out["__seccomp__"] == "2", r
    want = DANGEROUS[cap][name][1]
    assert with_.out[name] == want, f"{name} with {cap}: got {with_.out[name]}, want {want}"
    assert without.out[name] == "EPERM", f"{name} without {cap}: {without.out[name]}"
    assert want != "EPERM"


@pytest.mark.parametrize("cap", DANGEROUS_NAMES)
def test_granting_a_dangerous_capability_warns(runs, cap):
    desc = capabilities.catalog()[cap].description
    line = f"sysfence: warning: profile 'cap-danger-{cap}' grants the dangerous capability '{cap}': {desc}"
    assert line in runs[(f"danger:{cap}", "with")].stderr.splitlines()
    assert "warning" not in runs[("danger", "without")].stderr


def test_run_cap_grants_dangerous_capabilities_loudly():
    """`sysfence run --cap NAME` on top of the default profile: one warning per capability, and a syscall of
    each now reaches the kernel (the same probe without --cap gets EPERM)."""
    if not IS_ROOT:
        pytest.skip("unprivileged, the kernel checks capabilities before arguments and answers EPERM itself")
    picks = {cap: next(s for s in DANGEROUS[cap] if syscalls.number(s) is not None and s != "vhangup")
             for cap in DANGEROUS}
    calls = {s: (syscalls.number(s), list(DANGEROUS[c][s][0])) for c, s in picks.items()}
    code = f"""
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {{}}
for name, (nr, args) in {calls!r}.items():
    args = [os.getpid() if a == "PID" else a for a in args]
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    out[name] = "rc=%d" % rc if rc != -1 else errno.errorcode[ctypes.get_errno()]
with open("/proc/self/status") as f:
    out["__seccomp__"] = [l.split()[1] for l in f if l.startswith("Seccomp:")][0]
print(json.dumps(out))
"""
    cap_args = [a for cap in DANGEROUS for a in ("--cap", cap)]
    granted = sysfence_cli("run", *cap_args, "--", sys.executable, "-c", code, start_new_session=True)
    plain = sysfence_cli("run", "--", sys.executable, "-c", code, start_new_session=True)
    for p in (granted, plain):
        assert p.returncode == 0, p.stderr
    got, base = json.loads(granted.stdout), json.loads(plain.stdout)
    assert got["__seccomp__"] == base["__seccomp__"] == "2"
    for cap, s in picks.items():
        assert base[s] == "EPERM", (s, base[s])
        assert got[s] == DANGEROUS[cap][s][1], (cap, s, got[s])
    warnings = [line for line in granted.stderr.splitlines() if "dangerous capability" in line]
    assert len(warnings) == len(DANGEROUS)
    for cap in DANGEROUS:
        desc = capabilities.catalog()[cap].description
        assert f"sysfence: warning: profile 'default' grants the dangerous capability '{cap}': {desc}" in warnings
    assert "dangerous" not in plain.stderr
