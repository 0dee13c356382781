"""What the kernel offers and what state this process is in: prctl, seccomp(2), /proc parsing."""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
import os
import sys
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ProcState:
    """The seccomp lines of /proc/<pid>/status."""

    seccomp_mode: int  # 0 none, 1 strict, 2 filter
    filters: int
    no_new_privs: bool


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, loaded once (trace answers each notification through it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


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
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return ProcState(
        seccomp_mode=int(fields.get("Seccomp", "0")),
        filters=int(fields.get("Seccomp_filters", "0")),
        no_new_privs=fields.get("NoNewPrivs", "0") == "1",
    )


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
