"""Facts about this machine that change what a filter can do, asked of the platform (`sysfence status`).

Two of them differ between distributions and are easy to mistake for a sysfence bug:

- glibc 2.41+ on Linux 6.11+ answers getrandom() from the vDSO once a process has used it (vgetrandom): a
  filter loaded later that refuses getrandom does not see those calls until the kernel next reseeds its
  generator (within about a minute), when the vDSO makes the real syscall to re-key, which is refused --
  and from then on every call is. So refusing getrandom there means "refused, after a while".
- libseccomp 2.6 knows syscalls newer than the table the built-in profiles are written against (statmount,
  mseal, ...); a profile that does not name them gives them its unknown action (ENOSYS) all the same.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from typing import NoReturn

from . import bpf, kernel, syscalls
from .errors import SysfenceError

# exit statuses of the getrandom probe's child
_SERVED, _REFUSED, _NO_GETRANDOM, _NO_FILTER = 0, 1, 2, 3


def getrandom_bypasses_filters() -> bool | None:
    """Whether the C library answers getrandom() without a syscall once it has been used, so that a filter
    loaded afterwards does not see the calls (until the kernel's next reseed). Probed, not guessed from
    versions: a forked child calls getrandom(), loads a filter that refuses only getrandom, and calls it
    again. None if the probe cannot tell (no libseccomp to name the syscall, a filter here already refuses
    fork, seccomp or getrandom, or children are reaped behind our back)."""
    try:
        nr_getrandom, nr_seccomp = syscalls.number("getrandom"), syscalls.number("seccomp")
        arch = syscalls.native_arch()
    except SysfenceError:
        return None
    if nr_getrandom is None or nr_seccomp is None:
        return None
    libc = kernel._libc()
    if not hasattr(libc, "getrandom"):
        return False  # no C library wrapper: Python makes the raw syscall, which every filter sees
    program = bpf.encode([
        (bpf.LD | bpf.W | bpf.ABS, 0, 0, 4),  # arch
        (bpf.JMP | bpf.JEQ | bpf.K, 0, 3, arch),
        (bpf.LD | bpf.W | bpf.ABS, 0, 0, 0),  # nr
        (bpf.JMP | bpf.JEQ | bpf.K, 0, 1, nr_getrandom),
        (bpf.RET | bpf.K, 0, 0, bpf.RET_ERRNO | 1),  # EPERM
        (bpf.RET | bpf.K, 0, 0, bpf.RET_ALLOW),
    ])
    # signals stay blocked in the child (no Python handler may run there) and until the parent has forked
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which leaves only through os._exit
            _probe_child(libc, program, nr_seccomp)
    except OSError:
        return None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:  # SIGCHLD ignored: the kernel reaped it
        return None
    return {_SERVED: True, _REFUSED: False}.get(os.waitstatus_to_exitcode(status))


def _probe_child(libc: ctypes.CDLL, program: bytes, nr_seccomp: int) -> NoReturn:  # pragma: no cover
    code = _NO_FILTER
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a SIGSYS here must not leave a core file behind
        buf = ctypes.create_string_buffer(16)
        if libc.getrandom(buf, ctypes.c_size_t(16), ctypes.c_uint(0)) != 16:
            code = _NO_GETRANDOM
        else:
            kernel.set_no_new_privs()
            kernel.load_filter(program, nr_seccomp, 0)
            code = _SERVED if libc.getrandom(buf, ctypes.c_size_t(16), ctypes.c_uint(0)) == 16 else _REFUSED
    finally:
        os._exit(code)


def names_beyond_profile_table() -> list[str]:
    """Syscalls this libseccomp knows on the native arch that the built-in profiles' table does not name: their
    unknown action (ENOSYS) applies, as to any newer syscall. Raises LibseccompMissing without libseccomp."""
    _, names = syscalls.profile_table()
    return sorted(set(syscalls.table()) - set(names))
