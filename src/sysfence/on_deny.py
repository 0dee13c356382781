"""on_deny="traceback": name every denied syscall and the Python line that made it (a debugging mode).

How it works (x86_64). The profile's own filter is loaded unchanged, and a second filter is stacked over it
(`overlay`): SECCOMP_RET_TRAP wherever the profile answers with an errno, allow elsewhere. The kernel applies
the stricter answer, so a denied call raises SIGSYS in the thread that made it, with the registers rolled
back to the syscall number. A SIGSYS handler installed with sigaction(SA_SIGINFO | SA_NODEFER) -- a ctypes
callback, so it runs Python code on the interrupted thread, taking the GIL if the call had released it --
looks the call up in the profile (`RuleSet.decide` with the arguments from the saved registers), writes the
profile's errno into the saved RAX as the syscall's return value, so the caller sees exactly the error it
would have seen without this mode, and writes the call and the Python stack of the calling thread to stderr
with os.write. A denial made while reporting (reading source lines, writing) gets its errno, unreported.

Not trapped, so neither reported nor changed (the profile's own filter answers them):
- ENOSYS answers (clone3, syscalls newer than the profile): callers fall back quietly, and glibc makes
  clone3 with every signal blocked, where a trap kills the process (the kernel resets a blocked SIGSYS to
  its default action);
- EXEMPT: fork, vfork, clone, clone3, execve, execveat. subprocess, fork and posix_spawn make them with
  every signal blocked, or in a child that has already reset its handlers (their errors reach Python as
  usual, e.g. PermissionError from subprocess.run);
- kill-process, kill-thread, trap and log actions.
Limits: debugging only -- every denial costs a signal and a stack walk; a program exec'd from the process
keeps the trapping filter but not the handler (exec resets it), so a denied call kills it with SIGSYS
instead of failing: `sysfence run` refuses this mode.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import platform
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from .errors import SysfenceError
from .rules import ALLOW, Action, Kind, RuleSet

EXEMPT = frozenset({"fork", "vfork", "clone", "clone3", "execve", "execveat"})
TRAP = Action(Kind.TRAP)

# Kernel ABI, x86_64: siginfo_t for SIGSYS and the ucontext the kernel pushes on the signal stack.
SYS_SECCOMP = 1
SA_SIGINFO = 0x4
SA_NODEFER = 0x40000000
SI_ERRNO, SI_CODE, SI_CALL_ADDR, SI_SYSCALL, SI_ARCH = 4, 8, 16, 24, 28
UC_GREGS = 40  # uc_flags (8) + uc_link (8) + stack_t uc_stack (24)
REG_R8, REG_R9, REG_R10, REG_RDI, REG_RSI, REG_RDX, REG_RAX = 0, 1, 2, 8, 9, 12, 13
ARG_REGS = (REG_RDI, REG_RSI, REG_RDX, REG_R10, REG_R8, REG_R9)  # syscall arguments 0-5
NGREG = 23
_U64 = (1 << 64) - 1


# ------------------------------------------------------------------ the trapping filter


def _overlay_action(action: Action, syscall: str | None) -> Action:
    if action.kind is Kind.ERRNO and action.errno != _errno.ENOSYS and syscall not in EXEMPT:
        return TRAP
    return ALLOW  # the profile's own filter, stacked with this one, decides


def overlay(rs: RuleSet) -> RuleSet:
    """The filter stacked over the profile's own in this mode: TRAP wherever the profile answers with an
    errno (except ENOSYS answers and the EXEMPT process-creation calls), ALLOW everywhere else. The kernel
    applies the stricter of the two (TRAP beats ERRNO), so exempt calls, ENOSYS answers, kill and trap actions
    keep exactly the profile's answer from its own, unchanged filter."""
    base = {s: replace(r, action=_overlay_action(r.action, s)) for s, r in rs.base.items()}
    cond = []
    for r in rs.conditional:
        act = _overlay_action(r.action, r.syscall) if r.action.denies else ALLOW
        if act != base[r.syscall].action:
            cond.append(replace(r, action=act))
    return replace(rs, name=f"{rs.name} (on_deny)", base=base, conditional=tuple(cond),
                   unknown_action=_overlay_action(rs.unknown_action, None),
                   default_action=_overlay_action(rs.default_action, None))


# ------------------------------------------------------------------ the SIGSYS handler


class _SigAction(ctypes.Structure):  # glibc and musl, x86_64
    _fields_ = [
        ("sa_sigaction", ctypes.c_void_p),
        ("sa_mask", ctypes.c_ulong * 16),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
    ]


_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

_lock = threading.Lock()
_sets: tuple[tuple[RuleSet, RuleSet, dict[int, str]], ...] = ()  # (profile, its overlay, nr -> name), oldest first
_callback: Any = None  # keeps the ctypes thunk alive for the life of the process
_previous: _SigAction | None = None
_busy: set[int] = set()  # threads inside the report (a denial made while reporting is not reported again)
_libc_for_handler: list[Any] = []


def installed() -> bool:
    return _callback is not None


def supported() -> str:
    """Why this mode cannot work here ("" when it can)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"on_deny is implemented for Linux x86_64 only, not {sys.platform} {platform.machine()}"
    return ""


def _libc() -> Any:
    from . import kernel

    libc = kernel._libc()
    libc.sigaction.argtypes = [ctypes.c_int, ctypes.POINTER(_SigAction), ctypes.POINTER(_SigAction)]
    libc.sigaction.restype = ctypes.c_int
    return libc


def prepare(rs: RuleSet, trapping: RuleSet) -> None:
    """Install the SIGSYS handler (once) and register a profile whose overlay is about to be loaded. Call
    before loading the overlay: a trap without a handler kills the process."""
    global _callback, _previous, _sets
    why = supported()
    if why:
        raise SysfenceError(why)
    from . import syscalls

    table = syscalls.table()
    names = {table[s]: s for s in trapping.base if s in table}
    with _lock:
        if _callback is None:
            # everything the handler needs is imported and built now: it may run under a filter that denies
            # opening files, and must never import
            import linecache  # noqa: F401
            import tokenize  # noqa: F401
            import traceback  # noqa: F401

            cb = _HANDLER(_handle)
            act = _SigAction()
            act.sa_sigaction = ctypes.cast(cb, ctypes.c_void_p).value
            act.sa_flags = SA_SIGINFO | SA_NODEFER
            old = _SigAction()
            libc = _libc()
            if libc.sigaction(signal.SIGSYS, ctypes.byref(act), ctypes.byref(old)) != 0:
                e = ctypes.get_errno()
                raise SysfenceError(f"on_deny: installing the SIGSYS handler failed: {os.strerror(e)}")
            _callback, _previous = cb, old
            _libc_for_handler[:] = [libc]
        _sets = (*_sets, (rs, trapping, names))


def forget(rs: RuleSet) -> None:
    """Loading the filter failed: stop answering for it."""
    global _sets
    with _lock:
        _sets = tuple(s for s in _sets if s[0] is not rs)


def _decision(nr: int, args: tuple[int, ...]) -> tuple[int, str, str] | None:
    """(errno, syscall name, profile name) for a call one of our filters trapped, newest filter first (the
    kernel returns the data of the most recent filter among those with the same action)."""
    for rs, trapping, names in reversed(_sets):
        name = names.get(nr)
        if name is None:
            ours, orig = trapping.unknown_action, rs.unknown_action
        else:
            ours, orig = trapping.decide(name, args), rs.decide(name, args)
        if ours.kind is Kind.TRAP and orig.kind is Kind.ERRNO:
            return orig.errno, name or f"syscall {nr}", rs.name
    return None


def _handle(signo: int, info: int | None, ctx: int | None) -> None:
    try:
        if not info or not ctx or ctypes.c_int.from_address(info + SI_CODE).value != SYS_SECCOMP:
            _not_ours()
            return
        nr = ctypes.c_int.from_address(info + SI_SYSCALL).value
        gregs = (ctypes.c_int64 * NGREG).from_address(ctx + UC_GREGS)
        args = tuple(gregs[r] & _U64 for r in ARG_REGS)
        hit = _decision(nr, args)
        if hit is None:
            _not_ours()
            return
        err, name, profile = hit
        gregs[REG_RAX] = -err  # the syscall's return value: the caller sees the profile's errno
        tid = threading.get_ident()
        if tid in _busy:
            return
        _busy.add(tid)
        try:
            _report(name, args, err, profile, sys._getframe(1) if _has_caller() else None)
        finally:
            _busy.discard(tid)
    except BaseException:  # noqa: BLE001 - a signal handler must not raise into C
        pass


def _has_caller() -> bool:
    try:
        sys._getframe(2)
    except ValueError:
        return False
    return True


def _report(name: str, args: tuple[int, ...], err: int, profile: str, frame: Any) -> None:
    import traceback

    th = threading._active.get(threading.get_ident())  # type: ignore[attr-defined]
    thread = th.name if th is not None else f"thread {threading.get_native_id()}"
    code = _errno.errorcode.get(err, str(err))
    lines = [f"sysfence: denied {name}({', '.join(hex(a) for a in args)}) -> {code} "
             f"[profile {profile!r}, {thread!s}]\n"]
    if frame is None:
        lines.append("  (no Python frame on this thread: the interpreter or a C library made the call)\n")
    else:
        lines.append("Python stack of the call (most recent call last):\n")
        lines.extend(traceback.format_stack(frame))
    data = "".join(lines).encode("utf-8", "backslashreplace")
    while data:
        try:
            n = os.write(2, data)
        except InterruptedError:
            continue
        except OSError:
            return
        data = data[n:]


def _not_ours() -> None:
    """A SIGSYS this mode did not cause (a `trap` action of the profile, another filter, kill -SYS): give it
    the action it had before, and deliver it again to this thread."""
    if _previous is not None and _libc_for_handler:
        _libc_for_handler[0].sigaction(signal.SIGSYS, ctypes.byref(_previous), None)
    signal.pthread_kill(threading.get_ident(), signal.SIGSYS)


__all__ = ["EXEMPT", "overlay", "forget", "installed", "prepare", "supported"]
