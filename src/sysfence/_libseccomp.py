"""ctypes binding to the OS's libseccomp.so.2: the only module that touches C.

Loaded lazily by soname so that importing sysfence never fails where the library is missing; callers get a
`LibseccompMissing` naming the package to install instead.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from dataclasses import dataclass
from typing import Any

from .errors import LibseccompError, LibseccompMissing

# Candidate sonames/paths, most specific first.  No ctypes.util.find_library: it shells out to ldconfig/gcc.
_CANDIDATES = (
    "libseccomp.so.2",
    "/usr/lib/x86_64-linux-gnu/libseccomp.so.2",
    "/usr/lib/aarch64-linux-gnu/libseccomp.so.2",
    "/usr/lib64/libseccomp.so.2",
    "/usr/lib/libseccomp.so.2",
    "/lib/libseccomp.so.2",
    "/usr/local/lib/libseccomp.so.2",
)

INSTALL_HINT = (
    "install libseccomp: Debian/Ubuntu 'apt-get install libseccomp2', Fedora 'dnf install libseccomp', "
    "Arch 'pacman -S libseccomp', Alpine 'apk add libseccomp'"
)

# enum scmp_filter_attr (seccomp.h)
ATTR_ACT_DEFAULT = 1
ATTR_ACT_BADARCH = 2
ATTR_CTL_NNP = 3
ATTR_CTL_TSYNC = 4
ATTR_API_TSKIP = 5
ATTR_CTL_LOG = 6
ATTR_CTL_SSB = 7
ATTR_CTL_OPTIMIZE = 8
ATTR_API_SYSRAWRC = 9

# enum scmp_compare
CMP_NE, CMP_LT, CMP_LE, CMP_EQ, CMP_GE, CMP_GT, CMP_MASKED_EQ = range(1, 8)

# Action encodings (seccomp.h), identical to the kernel's SECCOMP_RET_* values.
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000

NR_SCMP_ERROR = -1
ARCH_NATIVE = 0


class ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


@dataclass(frozen=True)
class LibInfo:
    path: str
    version: str
    api_level: int


_c_void_p = ctypes.c_void_p
# name: (restype, argtypes).  Every function this package calls is declared here and nowhere else.
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "seccomp_version": (ctypes.POINTER(_Version), []),
    "seccomp_api_get": (ctypes.c_uint, []),
    "seccomp_init": (_c_void_p, [ctypes.c_uint32]),
    "seccomp_release": (None, [_c_void_p]),
    "seccomp_attr_set": (ctypes.c_int, [_c_void_p, ctypes.c_int, ctypes.c_uint32]),
    "seccomp_attr_get": (ctypes.c_int, [_c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint32)]),
    "seccomp_arch_native": (ctypes.c_uint32, []),
    "seccomp_arch_resolve_name": (ctypes.c_uint32, [ctypes.c_char_p]),
    "seccomp_arch_add": (ctypes.c_int, [_c_void_p, ctypes.c_uint32]),
    "seccomp_arch_remove": (ctypes.c_int, [_c_void_p, ctypes.c_uint32]),
    "seccomp_rule_add_exact_array": (
        ctypes.c_int,
        [_c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgCmp)],
    ),
    "seccomp_export_bpf": (ctypes.c_int, [_c_void_p, ctypes.c_int]),
    "seccomp_export_pfc": (ctypes.c_int, [_c_void_p, ctypes.c_int]),
    "seccomp_syscall_resolve_name_arch": (ctypes.c_int, [ctypes.c_uint32, ctypes.c_char_p]),
    "seccomp_syscall_resolve_num_arch": (_c_void_p, [ctypes.c_uint32, ctypes.c_int]),
}

_lib: ctypes.CDLL | None = None
_libc: ctypes.CDLL | None = None
_info: LibInfo | None = None


def _load() -> ctypes.CDLL:
    global _lib, _libc, _info
    if _lib is not None:
        return _lib
    override = os.environ.get("SYSFENCE_LIBSECCOMP")  # for tests and unusual installs
    candidates = (override,) if override else _CANDIDATES
    last: OSError | None = None
    for name in candidates:
        try:
            lib = ctypes.CDLL(name, use_errno=True)
            break
        except OSError as exc:
            last = exc
    else:
        raise LibseccompMissing(f"libseccomp.so.2 could not be loaded ({last}); {INSTALL_HINT}")
    for fname, (restype, argtypes) in _SIGNATURES.items():
        try:
            fn = getattr(lib, fname)
        except AttributeError:
            raise LibseccompMissing(f"{name} lacks {fname}(): libseccomp >= 2.4 is required; {INSTALL_HINT}") from None
        fn.restype = restype
        fn.argtypes = argtypes
    v = lib.seccomp_version().contents
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.free.argtypes = [_c_void_p]
    _libc.free.restype = None
    _lib = lib
    _info = LibInfo(path=name, version=f"{v.major}.{v.minor}.{v.micro}", api_level=int(lib.seccomp_api_get()))
    return lib


def info() -> LibInfo:
    """Library path, version and API level; raises LibseccompMissing if it cannot be loaded."""
    _load()
    assert _info is not None
    return _info


def check(rc: int, what: str) -> int:
    """Turn libseccomp's negative-errno convention into LibseccompError."""
    if rc < 0:
        code = -rc
        name = _errno.errorcode.get(code, str(code))
        raise LibseccompError(f"{what} failed: {name} ({os.strerror(code)})", code)
    return rc


class Filter:
    """An owned scmp_filter_ctx, released when closed or collected."""

    def __init__(self, default_action: int) -> None:
        self._lib = _load()
        ctx = self._lib.seccomp_init(default_action)
        if not ctx:
            raise LibseccompError("seccomp_init failed (invalid default action?)", _errno.EINVAL)
        self._ctx: int | None = ctx
        # Raw kernel/library errno values rather than libseccomp's squashed -ECANCELED etc.
        try:
            self.set_attr(ATTR_API_SYSRAWRC, 1)
        except LibseccompError:
            pass  # API level < 4: errors are coarser but still negative

    @property
    def ctx(self) -> int:
        if self._ctx is None:
            raise ValueError("filter already released")
        return self._ctx

    def set_attr(self, attr: int, value: int) -> None:
        check(self._lib.seccomp_attr_set(self.ctx, attr, value), f"seccomp_attr_set({attr}, {value:#x})")

    def set_arch(self, arch: int) -> None:
        """Make the filter for `arch` only (instead of the native one). Rules are still added with *native*
        syscall numbers: libseccomp translates them to `arch` by name."""
        if arch == arch_native():
            return
        check(self._lib.seccomp_arch_add(self.ctx, arch), f"seccomp_arch_add({arch:#x})")
        check(self._lib.seccomp_arch_remove(self.ctx, ARCH_NATIVE), "seccomp_arch_remove(native)")

    def add_rule(self, action: int, nr: int, conditions: list[tuple[int, int, int, int]]) -> None:
        """Add one rule exactly as given (no libseccomp rewriting); conditions are (arg, op, a, b)."""
        arr = (ArgCmp * max(1, len(conditions)))(*[ArgCmp(*c) for c in conditions])
        check(
            self._lib.seccomp_rule_add_exact_array(self.ctx, action, nr, len(conditions), arr),
            f"seccomp_rule_add(syscall {nr})",
        )

    def export_bpf(self) -> bytes:
        return self._export(self._lib.seccomp_export_bpf, "seccomp_export_bpf")

    def export_pfc(self) -> str:
        return self._export(self._lib.seccomp_export_pfc, "seccomp_export_pfc").decode()

    def _export(self, fn: Any, what: str) -> bytes:
        # libseccomp 2.5 writes to a file descriptor only.
        fd = os.memfd_create("sysfence-export", os.MFD_CLOEXEC)
        try:
            check(fn(self.ctx, fd), what)
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._ctx is not None:
            self._lib.seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def arch_native() -> int:
    return int(_load().seccomp_arch_native())


def resolve_name(name: str, arch: int) -> int:
    """Syscall number on `arch`; NR_SCMP_ERROR if unknown, another negative pseudo-number if not on this arch."""
    return int(_load().seccomp_syscall_resolve_name_arch(arch, name.encode()))


def resolve_num(nr: int, arch: int) -> str | None:
    lib = _load()
    ptr = lib.seccomp_syscall_resolve_num_arch(arch, nr)
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        assert _libc is not None
        _libc.free(ptr)
