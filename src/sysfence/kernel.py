"""What the kernel offers and what state this process is in: prctl, seccomp(2), /proc parsing."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import sys

PR_GET_SECCOMP = 21
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
_ACTIONS_AVAIL = "/proc/sys/kernel/seccomp/actions_avail"


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


class ProcState:
    """The seccomp lines of /proc/<pid>/status. (A plain class: this module is on the import path of
    `import sysfence`, which must not pay for dataclasses.)"""

    __slots__ = ("seccomp_mode", "filters", "no_new_privs")

    def __init__(self, seccomp_mode: int, filters: int, no_new_privs: bool) -> None:
        self.seccomp_mode = seccomp_mode  # 0 none, 1 strict, 2 filter
        self.filters = filters
        self.no_new_privs = no_new_privs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProcState) and (self.seccomp_mode, self.filters, self.no_new_privs) == (
            other.seccomp_mode, other.filters, other.no_new_privs)

    def __repr__(self) -> str:
        return (f"ProcState(seccomp_mode={self.seccomp_mode}, filters={self.filters}, "
                f"no_new_privs={self.no_new_privs})")


_libc_handle: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    """The C library, loaded once (trace answers each notification through it)."""
    global _libc_handle
    if _libc_handle is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        _libc_handle = libc
    return _libc_handle


def unsupported_reason() -> str | None:
    """Why seccomp filtering cannot be used here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"seccomp is Linux-only (platform is {sys.platform})"
    libc = _libc()
    if libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        err = ctypes.get_errno()
        if err != _errno.EINVAL:
            return None  # a filter denies prctl: seccomp is there
        return "kernel has no seccomp support (prctl(PR_GET_SECCOMP): EINVAL)"
    if not os.path.exists(_ACTIONS_AVAIL):
        return "kernel has no seccomp filter mode (CONFIG_SECCOMP_FILTER off)"
    return None


def actions_available() -> list[str]:
    try:
        with open(_ACTIONS_AVAIL) as f:
            return f.read().split()
    except OSError:
        return []


def proc_state(pid: int | str = "self") -> ProcState:
    """The seccomp lines of /proc/PID/status (raw os calls: enable() reads it on every load)."""
    fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    fields: dict[bytes, bytes] = {}
    for line in data.splitlines():
        key, _, value = line.partition(b":")
        if key in _PROC_KEYS:
            fields[key] = value.strip()
    return ProcState(
        seccomp_mode=int(fields.get(b"Seccomp", b"0")),
        filters=int(fields.get(b"Seccomp_filters", b"0")),
        no_new_privs=fields.get(b"NoNewPrivs", b"0") == b"1",
    )


_PROC_KEYS = frozenset((b"Seccomp", b"Seccomp_filters", b"NoNewPrivs"))


def set_no_new_privs() -> None:
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")


def load_filter(program: bytes, seccomp_nr: int, flags: int = SECCOMP_FILTER_FLAG_TSYNC) -> int:
    """Install a classic-BPF program with one seccomp(2) call; by default for every thread (TSYNC).

    Returns what seccomp(2) returned: 0, or the listener descriptor with SECCOMP_FILTER_FLAG_NEW_LISTENER.
    Raises OSError; with TSYNC a positive return (that thread id could not be synchronised) is an error too.
    """
    n = len(program) // 8
    buf = (SockFilter * n).from_buffer_copy(program)
    prog = SockFprog(n, ctypes.cast(buf, ctypes.POINTER(SockFilter)))
    rc = int(_libc().syscall(
        ctypes.c_long(seccomp_nr),
        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(flags),
        ctypes.byref(prog),
    ))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SECCOMP_SET_MODE_FILTER, {flags:#x}): {os.strerror(err)}")
    if rc > 0 and flags & SECCOMP_FILTER_FLAG_TSYNC:
        raise OSError(_errno.ESRCH, f"TSYNC failed: thread {rc} could not be synchronised")
    return rc
