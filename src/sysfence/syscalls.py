"""Syscall names <-> numbers per architecture, through libseccomp's table (which is the table the filter uses)."""

from __future__ import annotations

import difflib
import functools
import re

from . import _libseccomp as lib
from .errors import UnknownSyscallError

# AUDIT_ARCH_* tokens libseccomp uses; names as libseccomp spells them.
ARCH_NAMES = {
    0xC000003E: "x86_64",
    0x40000003: "x86",
    0x4000003E: "x32",
    0xC00000B7: "aarch64",
    0x40000028: "arm",
    0xC00000F3: "riscv64",
    0x80000016: "s390x",
    0xC0000015: "ppc64le",
}
X32_SYSCALL_BIT = 0x40000000
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_MAX_NR = 1024


@functools.cache
def native_arch() -> int:
    return lib.arch_native()


def arch_name(token: int) -> str:
    return ARCH_NAMES.get(token, f"{token:#x}")


@functools.cache
def table(arch: int | None = None) -> dict[str, int]:
    """Every syscall libseccomp knows on `arch` (native by default), name -> number."""
    arch = native_arch() if arch is None else arch
    out = {}
    for nr in range(_MAX_NR):
        name = lib.resolve_num(nr, arch)
        if name is not None and lib.resolve_name(name, arch) == nr:
            out[name] = nr
    return out


def number(name: str, arch: int | None = None) -> int | None:
    """Number of `name` on `arch`; None if the name exists only on other arches; error if no arch knows it."""
    arch = native_arch() if arch is None else arch
    if not _NAME.fullmatch(name):
        # C would stop at a NUL ("ptrace\0x" resolves as ptrace): only plain names reach libseccomp.
        raise UnknownSyscallError(f"unknown syscall {name!r}: not a syscall name{suggest(name)}")
    nr = lib.resolve_name(name, arch)
    if nr >= 0:
        return nr
    if nr == lib.NR_SCMP_ERROR:
        raise UnknownSyscallError(f"unknown syscall {name!r}{suggest(name)}")
    return None  # a libseccomp pseudo-number: valid name, not on this arch


def name(nr: int, arch: int | None = None) -> str | None:
    return lib.resolve_num(nr, native_arch() if arch is None else arch)


def suggest(name: str) -> str:
    """' (did you mean 'x'?)' or '' -- for error messages."""
    close = difflib.get_close_matches(name, table().keys(), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@functools.cache
def profile_table() -> tuple[str, tuple[str, ...]]:
    """(name, syscalls) of the table built-in profiles are written against (syscall_table.toml)."""
    import importlib.resources
    import tomllib

    doc = tomllib.loads(importlib.resources.files(__package__).joinpath("syscall_table.toml").read_text())
    return doc["name"], tuple(doc["syscalls"])
