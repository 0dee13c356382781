"""Trace and learn: run a command with every call the profile would refuse sent to a supervisor process.

The profile is compiled and verified as for enforcement; then every `ret ERRNO(...)` of that program (the
only place an errno comes from is a denial: known-but-denied, unknown/newer, clone3) becomes
`ret USER_NOTIF`. So allowed calls never leave the kernel (no overhead on them) and the supervisor -- the
parent, outside the filter -- sees exactly the refused ones. It answers each with the profile's verdict
(trace: the program behaves as in production), or lets it run (audit/learn: SECCOMP_USER_NOTIF_FLAG_CONTINUE).

The child loads the filter with SECCOMP_FILTER_FLAG_NEW_LISTENER; the supervisor takes the listener with
pidfd_getfd(2) before releasing the child to execve, so the handshake needs no syscall from the child that
its own filter could refuse. The first execve of the child is let through (it starts the command).

This is a debugging tool, not a security boundary: CONTINUE re-runs a call the supervisor has only looked
at (its pointer arguments can change in between), and the supervisor trusts nothing it reads from /proc.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
import os
import select
import shutil
import signal
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import kernel, syscalls
from .bpf import RET_ACTION_FULL, RET_ERRNO, RET_USER_NOTIF
from .errors import EnforcementError, SysfenceError
from .rules import Action, Kind, RuleSet

BPF_RET_K = 0x06
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
USER_NOTIF_FLAG_CONTINUE = 1
NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif): 80 bytes
NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp): 24 bytes
NOTIF = struct.Struct("=QII" + "iI" + "Q" + "6Q")  # id, pid, flags, seccomp_data{nr, arch, ip, args[6]}
RESP = struct.Struct("=QqiI")  # id, val, error, flags
SYS_PIDFD_GETFD = 438


def notify_program(program: bytes) -> bytes:
    """The same program with every errno return replaced by a user notification."""
    out = bytearray(program)
    for off in range(0, len(out), 8):
        code, _jt, _jf, k = struct.unpack_from("=HBBI", out, off)
        if code == BPF_RET_K and k & RET_ACTION_FULL == RET_ERRNO:
            struct.pack_into("=HBBI", out, off, code, 0, 0, RET_USER_NOTIF)
    return bytes(out)


# ------------------------------------------------------------------ decoding arguments (cheap, by name)

_AF = {v: k for k, v in vars(__import__("socket")).items() if k.startswith("AF_") and isinstance(v, int)}
_CLONE_NS = {0x00020000: "CLONE_NEWNS", 0x02000000: "CLONE_NEWCGROUP", 0x04000000: "CLONE_NEWUTS",
             0x08000000: "CLONE_NEWIPC", 0x10000000: "CLONE_NEWUSER", 0x20000000: "CLONE_NEWPID",
             0x40000000: "CLONE_NEWNET"}
_IOCTLS = {0x5412: "TIOCSTI", 0x541C: "TIOCLINUX", 0x5401: "TCGETS", 0x5402: "TCSETS", 0x5413: "TIOCGWINSZ",
           0x5414: "TIOCSWINSZ", 0x5421: "FIONBIO", 0x541B: "FIONREAD", 0x5451: "FIOCLEX", 0x5450: "FIONCLEX"}
_FD_FIRST = {"read", "write", "ioctl", "fstat", "fcntl", "connect", "bind", "listen", "accept", "accept4",
             "sendto", "recvfrom", "sendmsg", "recvmsg", "setsockopt", "getsockopt", "fchmod", "fchown", "flock",
             "fsync", "ftruncate", "getdents64", "mmap", "close", "dup", "dup2", "dup3", "shutdown"}


def describe(name: str, args: Sequence[int]) -> str:
    """A short, cheap rendering of the arguments that decide the verdict (no pointers dereferenced)."""
    if name in ("socket", "socketpair"):
        kind = args[1] & 0xF
        return f"{_AF.get(args[0], args[0])}, type {kind}"
    if name in ("clone", "unshare"):
        flags = args[0]
        ns = [n for bit, n in sorted(_CLONE_NS.items()) if flags & bit]
        return "|".join(ns) or f"flags {flags:#x}"
    if name == "ioctl":
        req = args[1] & 0xFFFFFFFF
        return f"fd {args[0]}, {_IOCTLS.get(req, hex(req))}" + (" (high bits set)" if args[1] >> 32 else "")
    if name == "personality":
        return f"{args[0]:#x}"
    if name in ("mknod", "mknodat"):
        mode = args[2] if name == "mknodat" else args[1]
        return f"mode {mode:#o}"
    if name in _FD_FIRST:
        return f"fd {args[0]}"
    return ""


# ------------------------------------------------------------------ the report


@dataclass
class Call:
    syscall: str
    detail: str
    verdict: str  # what the profile answers ("EPERM", "ENOSYS", ...)
    capabilities: list[str]
    count: int = 0
    pids: set[int] = field(default_factory=set)
    exes: set[str] = field(default_factory=set)
    args: list[tuple[int, ...]] = field(default_factory=list)  # distinct argument vectors (first 1024)

    def to_json(self) -> dict[str, Any]:
        return {"syscall": self.syscall, "detail": self.detail, "verdict": self.verdict, "count": self.count,
                "capabilities": self.capabilities, "pids": sorted(self.pids), "executables": sorted(self.exes)}


@dataclass
class Report:
    command: list[str]
    profile: str
    mode: str  # "trace", "audit", "learn"
    exit_status: int = 0
    calls: dict[tuple[str, str], Call] = field(default_factory=dict)
    notifications: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "profile": self.profile, "mode": self.mode,
                "exit_status": self.exit_status, "notifications": self.notifications,
                "seconds": round(self.seconds, 3),
                "calls": [c.to_json() for c in sorted(self.calls.values(), key=lambda c: (-c.count, c.syscall))]}

    def table(self) -> str:
        done = "let through (audit)" if self.mode != "trace" else "answered with the profile's verdict"
        lines = [f"sysfence {self.mode}: {' '.join(self.command)} under profile {self.profile!r}: "
                 f"{self.notifications} refused call(s), {done}; exit status {self.exit_status}"]
        if not self.calls:
            lines.append("  no call was refused")
            return "\n".join(lines) + "\n"
        lines.append(f"  {'count':>5}  {'syscall':<18} {'verdict':<8} {'arguments':<28} {'allowed by capability':<24}"
                     " process")
        for c in sorted(self.calls.values(), key=lambda c: (-c.count, c.syscall)):
            caps = ", ".join(c.capabilities[:2]) + (", ..." if len(c.capabilities) > 2 else "") or "-"
            who = ", ".join(sorted(os.path.basename(e) for e in c.exes)) or "?"
            lines.append(f"  {c.count:>5}  {c.syscall:<18} {c.verdict:<8} {c.detail[:28]:<28} {caps:<24} "
                         f"{who} (pid {', '.join(map(str, sorted(c.pids)[:3]))})")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ supervisor


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = kernel._libc()
    libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
    return libc


def _pidfd_getfd(pid: int, target_fd: int) -> int:
    pidfd = os.pidfd_open(pid)
    try:
        fd = _libc().syscall(ctypes.c_long(SYS_PIDFD_GETFD), ctypes.c_long(pidfd), ctypes.c_long(target_fd),
                          ctypes.c_long(0))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"pidfd_getfd: {os.strerror(err)}")
        return int(fd)
    finally:
        os.close(pidfd)


def _ioctl(fd: int, request: int, buf: ctypes.Array[ctypes.c_char]) -> int:
    rc = _libc().ioctl(fd, request, buf)
    return 0 if rc == 0 else ctypes.get_errno()


def _exe(tid: int) -> str:
    try:
        return os.readlink(f"/proc/{tid}/exe")
    except OSError:
        return ""


Decider = Callable[[str | None, tuple[int, ...]], Action]


def supervise(rs: RuleSet, command: Sequence[str], mode: str, *, base_program: bytes | None = None) -> Report:
    """Run `command` under `rs` with refused calls sent here; returns when every traced process is gone."""
    from . import capabilities, compiler

    path = shutil.which(command[0])
    if path is None:
        raise FileNotFoundError(command[0])
    program = notify_program(base_program if base_program is not None else compiler.compile_ruleset(rs).program)
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: filter itself, wait for the supervisor, exec the command
        try:
            os.close(go_w)
            os.close(ready_r)
            kernel.set_no_new_privs()
            probe = os.open("/dev/null", os.O_RDONLY)  # the listener will get the lowest free descriptor
            os.close(probe)
            os.write(ready_w, b"%d\n" % probe)  # said before loading: no call under the filter yet
            os.close(ready_w)
            nr = syscalls.number("seccomp")
            assert nr is not None
            kernel.load_filter(program, nr, SECCOMP_FILTER_FLAG_NEW_LISTENER)  # single-threaded: no TSYNC
            os.read(go_r, 1)  # the supervisor holds the listener by now (a refused read is answered)
            os.execv(path, list(command))
        except BaseException as exc:  # noqa: BLE001 -- nothing may escape a forked child
            os.write(2, f"sysfence: error: cannot start {command[0]}: {exc}\n".encode())
            os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
        os._exit(126)
    os.close(go_r)
    os.close(ready_w)
    # Like time(1) and strace: Ctrl-C reaches the whole foreground group, so the command gets it and the
    # supervisor stays to answer its last calls and write the report; SIGTERM/SIGHUP are passed on.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
    report = Report(list(command), rs.name, mode)
    start = time.monotonic()
    listener = -1
    caps_cache: dict[str, list[str]] = {}
    first_exec = True
    try:
        listener = _take_listener(pid, ready_r)
        os.write(go_w, b"g")
        os.close(go_w)
        go_w = -1
        buf = ctypes.create_string_buffer(NOTIF.size)
        rbuf = ctypes.create_string_buffer(RESP.size)
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        while True:
            events = poller.poll(1000)
            if not events:
                continue
            if any(ev & (select.POLLHUP | select.POLLERR) for _, ev in events) and not any(
                    ev & select.POLLIN for _, ev in events):
                break
            ctypes.memset(buf, 0, NOTIF.size)
            if _ioctl(listener, NOTIF_RECV, buf) != 0:
                continue  # ENOENT: the caller died or was interrupted before we read it
            nid, tid, _flags, nr, _arch, _ip, *args = NOTIF.unpack(buf.raw)
            name = syscalls.name(nr)
            if name is not None and name not in rs.base:
                name = None  # newer than the profile's table (libseccomp may know it): the unknown action
            argv = tuple(args)
            verdict = rs.decide(name, argv) if name else rs.unknown_action
            let_through = mode != "trace" or not verdict.denies
            if first_exec and tid == pid and name in ("execve", "execveat"):
                first_exec, let_through = False, True  # starting the command itself
                if mode == "learn":  # a learned profile must let `sysfence run` start it
                    _record(report, caps_cache, capabilities, name, nr, argv, verdict, tid)
            else:
                report.notifications += 1
                _record(report, caps_cache, capabilities, name, nr, argv, verdict, tid)
            if let_through:
                RESP.pack_into(rbuf, 0, nid, 0, 0, USER_NOTIF_FLAG_CONTINUE)
            else:
                RESP.pack_into(rbuf, 0, nid, 0, -_errno_of(verdict), 0)
            _ioctl(listener, NOTIF_SEND, rbuf)  # ENOENT when the caller is gone: nothing to answer
    finally:
        if listener >= 0:
            os.close(listener)
        if go_w >= 0:
            os.close(go_w)
        os.close(ready_r)
        _, status = os.waitpid(pid, 0)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        report.exit_status = os.waitstatus_to_exitcode(status)
        if report.exit_status < 0:
            report.exit_status = 128 - report.exit_status
        report.seconds = time.monotonic() - start
    return report


def _take_listener(pid: int, ready_r: int) -> int:
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(ready_r, 64)
        if not chunk:
            raise EnforcementError("the traced child exited before loading its filter")
        line += chunk
    fd = int(line)
    deadline = time.monotonic() + 10
    while True:  # wait until the child's descriptor is the listener
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:seccomp notify":
                break
        except OSError:
            pass
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            raise EnforcementError("the traced child could not load its filter")
        time.sleep(0.0005)
    try:
        return _pidfd_getfd(pid, fd)
    except OSError as exc:
        os.kill(pid, signal.SIGKILL)
        raise EnforcementError(f"cannot take the child's seccomp listener: {exc.strerror} "
                               "(ptrace restrictions? see /proc/sys/kernel/yama/ptrace_scope)") from None


# The detail of a call the profile's table does not name (newer than it; libseccomp may still know its name).
UNKNOWN = "unknown to the profile's table"


def _errno_of(a: Action) -> int:
    return a.errno if a.kind is Kind.ERRNO and a.errno else _errno.EPERM


def _record(report: Report, cache: dict[str, list[str]], capabilities: Any, name: str | None, nr: int,
            args: tuple[int, ...], verdict: Action, tid: int) -> None:
    sname = name or syscalls.name(nr) or f"syscall_{nr}"
    detail = describe(sname, args) if name else UNKNOWN
    key = (sname, detail)
    call = report.calls.get(key)
    if call is None:
        if sname not in cache:
            cache[sname] = capabilities.granting(sname) if name else []
        vtext = _errno.errorcode.get(verdict.errno, str(verdict)) if verdict.kind is Kind.ERRNO else str(verdict)
        call = report.calls[key] = Call(sname, detail, vtext, cache[sname])
    call.count += 1
    call.pids.add(tid)
    if len(call.exes) < 4:
        exe = _exe(tid)
        if exe:
            call.exes.add(exe)
    if len(call.args) < 1024 and args not in call.args:
        call.args.append(args)


def check_supported() -> None:
    reason = kernel.unsupported_reason()
    if reason:
        raise SysfenceError(f"tracing needs seccomp: {reason}")
    if "user_notif" not in kernel.actions_available():
        raise SysfenceError("tracing needs seccomp user notification (Linux 5.0+, actions_avail: user_notif)")
