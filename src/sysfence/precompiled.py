"""The built-in profiles' BPF programs, compiled when the package was built (hatch_build.py calls build()).

Loading one needs neither libseccomp nor the TOML parser: enable() with a built-in profile costs one file read
and one seccomp(2) call, and works where libseccomp is not installed. A program is used only if it was built
from exactly the data files this installed package holds and its own SHA-256 matches; anything else (an
edited profile, a truncated file, another architecture) falls back to compiling. "Exactly the data files":
each has the size the index records and is no newer than the index (installers write the index after the
data, and an edit makes a file newer); failing that cheap check, their SHA-256 must match the index's.

Layout, in the package directory `_programs/`:
  index.tsv            tab-separated lines: `version V`, `libseccomp V`, `inputs SHA256`, `input FILE SIZE` per
                       data file, and `program ARCH PROFILE RULES INSTRUCTIONS EXECVE SHA256` per program
                       (EXECVE is allow or deny)
  ARCH/PROFILE.bpf     struct sock_filter[] in the target's byte order
Shipped for x86_64 and aarch64. Not for i386: there the socket calls go through socketcall(2), whose
arguments a filter cannot check, so the built-ins' network rules would not mean the same thing.
"""

from __future__ import annotations

import os
import sys

from . import shortcut

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:
        from _sha256 import sha256  # hashlib without OpenSSL: importing hashlib alone costs 2.6 ms here
    except ImportError:  # pragma: no cover - Python 3.12+ calls it _sha2
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
if TYPE_CHECKING:
    from typing import Any

    from .compiler import Compiled

ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # shipped targets: name -> AUDIT_ARCH_*
SECCOMP_NR = {"x86_64": 317, "aarch64": 277}  # seccomp(2) on each, so loading needs no syscall table
DIR = "_programs"
INDEX = "index.tsv"
_PKG = os.path.dirname(os.path.abspath(__file__))
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class Entry:
    """One shipped program: what enable() needs to load it and to report it, without the RuleSet."""

    __slots__ = ("arch", "name", "rule_count", "instructions", "execve_allowed", "sha256", "libseccomp", "path")

    def __init__(self, arch: str, name: str, rule_count: int, instructions: int, execve_allowed: bool,
                 sha256: str, libseccomp: str, path: str) -> None:
        self.arch, self.name, self.rule_count, self.instructions = arch, name, rule_count, instructions
        self.execve_allowed, self.sha256, self.libseccomp, self.path = execve_allowed, sha256, libseccomp, path

    def __repr__(self) -> str:
        return f"<precompiled {self.arch}/{self.name}: {self.instructions} instructions>"

    def program(self) -> bytes | None:
        """The program's bytes, or None if the file is missing or not the one the index describes."""
        data = _read(self.path, self.instructions * 8 + 1)
        if data is None or len(data) != self.instructions * 8 or sha256(data).hexdigest() != self.sha256:
            return None
        return data


def _read(path: str, limit: int = 1 << 20) -> bytes | None:
    """Up to `limit` bytes of a file, None if it cannot be read. (os.read, not open(): this is on the path of
    every enable(), and io's buffered layers cost more than the read.)"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while limit > 0:
            chunk = os.read(fd, limit)
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def native_arch() -> str | None:
    """The shipped arch this process runs as, from uname and pointer size alone (a 32-bit or x32 process on
    a 64-bit kernel gets None: there is no program for it)."""
    if sys.maxsize <= 1 << 32:
        return None
    return _MACHINES.get(os.uname().machine)


def input_files(pkg: str = _PKG) -> list[str]:
    """The data files the programs are compiled from, relative to the package directory, sorted."""
    profiles = sorted(n for n in os.listdir(os.path.join(pkg, "profiles")) if n.endswith(".toml"))
    return ["capabilities.toml", "syscall_table.toml", *(f"profiles/{n}" for n in profiles)]


def inputs_digest(pkg: str = _PKG) -> str | None:
    """SHA-256 over the input files' names and contents; None if one cannot be read. Not a security check
    (whoever can edit these files can edit the index too): it makes an edited installed profile take effect
    (by compiling) instead of being silently overridden by its stale shipped program."""
    h = sha256()
    try:
        files = input_files(pkg)
    except OSError:
        return None
    for rel in files:
        data = _read(os.path.join(pkg, rel))
        if data is None:
            return None
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


_index_cache: dict[tuple[str, str], Entry] | None = None


def index(pkg: str = _PKG, version: str | None = None) -> dict[tuple[str, str], Entry]:
    """(arch, profile) -> Entry for every program shipped in `pkg`; empty when there are none, or when they
    were not built from this package's version and data files."""
    global _index_cache
    if pkg == _PKG and _index_cache is not None:
        return _index_cache
    out: dict[tuple[str, str], Entry] = {}
    base = os.path.join(pkg, DIR)
    raw = _read(os.path.join(base, INDEX))
    try:
        text = raw.decode() if raw is not None else ""
    except UnicodeDecodeError:
        text = ""
    lines = [ln.split("\t") for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    meta = {ln[0]: ln[1] for ln in lines if len(ln) == 2}
    if version is None:
        from . import __version__ as version
    if lines and meta.get("version") == version and (
            _unchanged(pkg, base, [ln for ln in lines if ln[0] == "input"])
            or meta.get("inputs") == inputs_digest(pkg)):
        for ln in lines:
            if ln[0] == "program" and len(ln) == 7 and ln[1] in ARCHES:
                _, arch, name, rules, insns, execve, digest = ln
                out[arch, name] = Entry(arch, name, int(rules), int(insns), execve == "allow", digest,
                                        meta.get("libseccomp", ""), os.path.join(base, arch, f"{name}.bpf"))
    if pkg == _PKG:
        _index_cache = out
    return out


def _unchanged(pkg: str, base: str, inputs: list[list[str]]) -> bool:
    """The cheap check: every input file the index lists has the recorded size and is no newer than it.
    (A data file added since is not an input of any shipped program.)"""
    try:
        stamp = os.stat(os.path.join(base, INDEX)).st_mtime_ns
        if not inputs:
            return False
        for _, rel, size in inputs:
            st = os.stat(os.path.join(pkg, rel))
            if st.st_size != int(size) or st.st_mtime_ns > stamp:
                return False
    except (OSError, ValueError):
        return False
    return True


def find(name: str) -> Entry | None:
    """The shipped program of built-in profile `name` for this process's arch, if there is a valid one."""
    arch = native_arch()
    return index().get((arch, name)) if arch is not None else None


def program_for(rs: Any) -> tuple[bytes | None, str]:
    """(shipped program, libseccomp version that compiled it) if RuleSet `rs` is exactly a built-in profile
    shipped for this arch (a store profile that reuses the name, or any addition, does not match), else
    (None, "")."""
    entry = find(rs.name)
    if entry is None:
        return None, ""
    from . import profile

    if rs != profile.load(shortcut.BUILTIN_PREFIX + rs.name).ruleset():
        return None, ""
    program = entry.program()
    return (program, entry.libseccomp) if program is not None else (None, "")


# ------------------------------------------------------------------ build time and verification


def compile_all(arch: int) -> dict[str, Compiled]:
    """Every built-in profile compiled for `arch` by libseccomp, as enable() would at run time. Profiles that
    grant a dangerous capability are left out: enable() warns about those, so they take the full path."""
    from . import compiler, profile

    loaded = [profile.load(shortcut.BUILTIN_PREFIX + n) for n in profile.builtin_names()]
    return {p.name: compiler.compile_ruleset(p.ruleset(), arch) for p in loaded if not p.dangerous}


def build(out: str, pkg: str = _PKG) -> list[str]:
    """Write `_programs/` into directory `out` (hatch_build.py, at build time); returns the files written.
    Every program was verified by compile_ruleset (emulated at the rules' edge values)."""
    from . import __version__, _libseccomp, syscalls

    lines = ["# sysfence precompiled BPF programs, written by hatch_build.py when the package was built: do not edit",
             f"version\t{__version__}", f"libseccomp\t{_libseccomp.info().version}", f"inputs\t{_digest(pkg)}"]
    lines += [f"input\t{rel}\t{os.path.getsize(os.path.join(pkg, rel))}" for rel in input_files(pkg)]
    written = []
    for arch_name, arch in ARCHES.items():
        os.makedirs(os.path.join(out, arch_name), exist_ok=True)
        for name, c in compile_all(arch).items():
            path = os.path.join(out, arch_name, f"{name}.bpf")
            with open(path, "wb") as f:
                f.write(c.program)
            written.append(path)
            execve = "deny" if c.ruleset.decide("execve").denies else "allow"
            lines.append("\t".join(["program", arch_name, name, str(c.ruleset.rule_count), str(c.instructions),
                                    execve, sha256(c.program).hexdigest()]))
    assert all(syscalls.arch_name(a) == n for n, a in ARCHES.items())
    path = os.path.join(out, INDEX)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return [path, *written]


def _digest(pkg: str) -> str:
    d = inputs_digest(pkg)
    if d is None:
        from .errors import SysfenceError

        raise SysfenceError(f"{pkg}: cannot read the profile data files")
    return d


def disagreements(shipped: bytes, fresh: Compiled, limit: int = 20) -> list[str]:
    """Where the shipped program decides differently from a fresh compilation: every syscall number 0-1023
    (at the edge values of the fresh rules' arguments where it has argument rules, else all-zero arguments),
    the x32 range and other architectures. Empty when they agree everywhere."""
    from . import bpf, compiler, syscalls

    rs, arch = fresh.ruleset, fresh.arch
    got, want = bpf.decode(shipped), bpf.decode(fresh.program)
    by_nr: dict[int, list[tuple[int, ...]]] = {}
    for name in {r.syscall for r in rs.conditional}:
        nr = syscalls.number(name, arch)
        if nr is not None:
            by_nr[nr] = compiler.edge_vectors([r for r in rs.conditional if r.syscall == name])
    cases = [(arch, nr, args) for nr in range(1024) for args in by_nr.get(nr, [(0,) * 6])]
    cases += [(arch, 0x40000000 | nr, (0,) * 6) for nr in (0, 1, 59, 435, 512)]
    cases += [(other, nr, (0,) * 6) for other in syscalls.ARCH_NAMES if other != arch for nr in (0, 1, 59, 101)]
    out = []
    for a, nr, args in cases:
        data = bpf.seccomp_data(a, nr, args)
        g, w = bpf.run(got, data)[0], bpf.run(want, data)[0]
        if g != w:
            out.append(f"{syscalls.arch_name(a)} syscall {nr}{tuple(args)}: shipped {bpf.describe_ret(g)}, "
                       f"fresh {bpf.describe_ret(w)}")
            if len(out) >= limit:
                break
    return out
