"""The system profile store (/etc/sysfence): files an administrator put there, trusted only if nobody else could.

A file is read only through a descriptor walk from "/": each directory is opened with O_NOFOLLOW relative to
the previous one and checked with fstat on the opened descriptor (owner root, not group- or world-writable; a
world-writable directory is accepted only with the sticky bit, where nobody can replace another user's entry;
a group-writable one of a user other than root only when its group is that user's private group and it
has no ACL).
A symlink is followed only if it is owned by root (the directory holding it was already checked). The file
itself must be a regular file owned by root, not group- or world-writable, and is parsed from the descriptor
that was checked, so replacing it between check and use changes nothing. Anything else is refused with the
path, owner and mode that made it untrusted -- never silently skipped.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import SysfenceError
from .shortcut import ETC

DEFAULT_ROOT = ETC
ENV_ROOT = "SYSFENCE_ETC"  # store location override (tests, staging); the same trust checks apply to it
TRUSTED_UIDS = frozenset({0})
MAX_BYTES = 1 << 20
MAX_SYMLINKS = 40
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class UntrustedError(SysfenceError):
    """A store file or one of the directories above it could have been written by someone other than root."""


class NotInStore(Exception):
    """The path does not exist (not an error for lookups: built-in profiles are next)."""


def root() -> str:
    """The store directory. SYSFENCE_ETC may move it (tests, staging) only on a machine without a system
    policy: otherwise setting one variable would escape the administrator's mandatory profile."""
    r = os.environ.get(ENV_ROOT) or DEFAULT_ROOT
    if not os.path.isabs(r):
        raise SysfenceError(f"environment variable {ENV_ROOT}={r!r} is not valid: must be an absolute path")
    r = os.path.normpath(r)
    if r != DEFAULT_ROOT and os.path.lexists(os.path.join(DEFAULT_ROOT, "policy.toml")):
        raise SysfenceError(f"environment variable {ENV_ROOT}={r!r} is refused: {DEFAULT_ROOT}/policy.toml exists "
                            "and cannot be replaced")
    return r


def profiles_dir(base: str | None = None) -> str:
    return os.path.join(base or root(), "profiles")


def policy_path(base: str | None = None) -> str:
    return os.path.join(base or root(), "policy.toml")


def check_name(name: str, where: str = "profile name") -> str:
    if not NAME_RE.fullmatch(name) or name.endswith(".toml"):
        raise SysfenceError(f"{where} {name!r} is not valid: use letters, digits, '.', '_' and '-' "
                            "(up to 64, starting with a letter or digit, without .toml)")
    return name


# ------------------------------------------------------------------ trust checks


def _who(st: os.stat_result) -> str:
    return f"owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}"


def _check(st: os.stat_result, path: str, kind: str, trusted: frozenset[int], fd: int) -> None:
    """Refuse `st` (of descriptor `fd`) unless a trusted uid owns it and nobody else can write it."""
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in trusted:
        owners = " or ".join(f"uid {u}" for u in sorted(trusted))
        raise UntrustedError(f"{path}: untrusted {kind}: owned by uid {st.st_uid}, not {owners} ({_who(st)})")
    if kind == "directory" and mode & stat.S_ISVTX:
        return  # sticky (like /tmp): others may add entries but never replace or remove this walk's next one
    if mode & stat.S_IWGRP and not (st.st_uid != 0 and _private_group(st.st_gid, st.st_uid) and not _has_acl(fd)):
        raise UntrustedError(f"{path}: untrusted {kind}: group-writable ({_who(st)})")
    if mode & stat.S_IWOTH:
        raise UntrustedError(f"{path}: untrusted {kind}: world-writable ({_who(st)})")


def _private_group(gid: int, uid: int) -> bool:
    """Whether `gid` is `uid`'s user-private group, so that group-writable means writable by that user alone:
    the owner's primary group, named after the owner, the only group entry with that gid, with no other
    member (listed, or by primary group). That is when pam_umask (USERGROUPS_ENAB) and Debian 13's default
    umask 002 make a user's files group-writable. Asked of the user database each time (no cache: it may
    change while a process runs); groups handed out outside it (a unit's SupplementaryGroups=) are not seen."""
    import grp
    import pwd

    try:
        owner = pwd.getpwuid(uid)
        entries = [g for g in grp.getgrall() if g.gr_gid == gid]
        others = [p.pw_name for p in pwd.getpwall() if p.pw_gid == gid and p.pw_uid != uid]
    except (KeyError, OSError):
        return False
    return (owner.pw_gid == gid and len(entries) == 1 and entries[0].gr_name == owner.pw_name
            and set(entries[0].gr_mem) <= {owner.pw_name} and not others)


def _has_acl(fd: int) -> bool:
    """Whether the object behind `fd` carries an access ACL (POSIX or NFSv4): then the group bits of its mode
    are the ACL's mask, and named entries may let other users write. Unknown counts as yes."""
    try:
        names = os.listxattr(f"/proc/self/fd/{fd}")  # O_PATH descriptors have no f*xattr calls
    except OSError as exc:
        return exc.errno not in (errno.ENOTSUP, errno.ENODATA)
    return any(n in ("system.posix_acl_access", "system.nfs4_acl") for n in names)


def _split(path: str) -> list[str]:
    if not os.path.isabs(path):
        raise SysfenceError(f"{path}: store paths must be absolute")
    return [p for p in os.path.normpath(path).split("/") if p]


def _walk_dirs(parts: list[str], trusted: frozenset[int]) -> tuple[int, str]:
    """Open every directory of `parts` from "/" without following untrusted symlinks: (dir fd, its path)."""
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    here = "/"
    try:
        _check(os.fstat(fd), here, "directory", trusted, fd)
        todo = list(parts)
        links = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                raise UntrustedError(f"{here}: '..' in a store path is not allowed")
            path = os.path.join(here, part)
            try:
                nfd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                raise NotInStore(path) from None
            st = os.fstat(nfd)
            if stat.S_ISLNK(st.st_mode):
                os.close(nfd)
                links += 1
                if links > MAX_SYMLINKS:
                    raise UntrustedError(f"{path}: too many symbolic links")
                if st.st_uid not in trusted:
                    raise UntrustedError(f"{path}: untrusted symlink: owned by uid {st.st_uid} ({_who(st)})")
                target = os.readlink(part, dir_fd=fd)
                todo = _split(target if target.startswith("/") else os.path.join(here, target)) + todo
                os.close(fd)
                fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                here = "/"
                continue
            if not stat.S_ISDIR(st.st_mode):
                os.close(nfd)
                raise UntrustedError(f"{path}: not a directory")
            try:
                _check(st, path, "directory", trusted, nfd)
            except BaseException:
                os.close(nfd)
                raise
            os.close(fd)
            fd, here = nfd, path
        return fd, here
    except BaseException:
        os.close(fd)
        raise


def read_trusted(path: str, trusted: frozenset[int] = TRUSTED_UIDS, _links: int = 0, _asked: str = "") -> bytes:
    """The bytes of `path` if it and every directory above it are trusted; NotInStore if it does not exist."""
    if _links > MAX_SYMLINKS:
        raise UntrustedError(f"{_asked or path}: too many symbolic links")
    parts = _split(path)
    if not parts:
        raise UntrustedError("/: not a file")
    dfd, here = _walk_dirs(parts[:-1], trusted)
    full = os.path.join(here, parts[-1])
    try:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY,
                         dir_fd=dfd)
        except FileNotFoundError:
            raise NotInStore(full) from None
        except OSError as exc:
            if exc.errno == 40:  # ELOOP: the last component is a symlink
                st = os.lstat(parts[-1], dir_fd=dfd)
                if st.st_uid not in trusted:
                    raise UntrustedError(f"{full}: untrusted symlink: owned by uid {st.st_uid} ({_who(st)})") from None
                target = os.readlink(parts[-1], dir_fd=dfd)
                return read_trusted(target if target.startswith("/") else os.path.join(here, target), trusted,
                                    _links + 1, _asked or full)
            raise SysfenceError(f"{full}: cannot open: {exc.strerror}") from None
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedError(f"{full}: not a regular file")
        _check(st, full, "file", trusted, fd)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SysfenceError(f"{full}: larger than {MAX_BYTES} bytes")
    return data


# ------------------------------------------------------------------ lookups


@dataclass(frozen=True)
class Entry:
    """One file of the profile store, as `sysfence list` shows it."""

    name: str
    path: str
    problem: str = ""  # why it cannot be used (untrusted, unreadable); empty when it can


def profile_path(name: str, base: str | None = None) -> str:
    return os.path.join(profiles_dir(base), f"{check_name(name)}.toml")


def lookup(name: str, base: str | None = None) -> tuple[bytes, str] | None:
    """A store profile's (bytes, path), None if the store has no such file. Untrusted files raise."""
    if not NAME_RE.fullmatch(name):
        return None
    path = profile_path(name, base)
    try:
        return read_trusted(path), path
    except NotInStore:
        return None


def entries(base: str | None = None) -> list[Entry]:
    """Every *.toml in the store's profile directory, each with the reason it is refused, if it is."""
    d = profiles_dir(base)
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".toml") and not n.startswith("."))
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [Entry("*", d, f"cannot list: {exc.strerror}")]
    out = []
    for n in names:
        path = os.path.join(d, n)
        try:
            read_trusted(path)
            out.append(Entry(n[:-5], path))
        except (SysfenceError, NotInStore, OSError) as exc:
            out.append(Entry(n[:-5], path, str(exc)))
    return out


# ------------------------------------------------------------------ install / uninstall


def _ensure_dir(path: str) -> None:
    """Create the store directories root:root 0755 where missing; existing ones must already be trusted."""
    parts = _split(path)
    for i in range(1, len(parts) + 1):
        p = "/" + "/".join(parts[:i])
        try:
            os.mkdir(p, 0o755)
            os.chown(p, 0, 0)
            os.chmod(p, 0o755)
        except FileExistsError:
            pass
    fd, _ = _walk_dirs(parts, TRUSTED_UIDS)
    os.close(fd)


@contextmanager
def _dir_fd(path: str) -> Iterator[int]:
    fd, _ = _walk_dirs(_split(path), TRUSTED_UIDS)
    try:
        yield fd
    finally:
        os.close(fd)


def install(data: bytes, name: str, base: str | None = None) -> str:
    """Write `data` as store profile NAME: root:root 0644, atomically (temp file, fsync, rename, fsync dir)."""
    check_name(name)
    if os.geteuid() != 0:
        raise SysfenceError("install must run as root: store files are trusted only when owned by root")
    d = profiles_dir(base)
    _ensure_dir(d)
    final = os.path.join(d, f"{name}.toml")
    with _dir_fd(d) as dfd:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=d)
        tmp_name = os.path.basename(tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchown(f.fileno(), 0, 0)
                os.fchmod(f.fileno(), 0o644)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp_name, f"{name}.toml", src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp_name, dir_fd=dfd)
            except OSError:
                pass
            raise
    _fsync_dir(d)
    return final


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def uninstall(name: str, base: str | None = None) -> str:
    check_name(name)
    d = profiles_dir(base)
    path = os.path.join(d, f"{name}.toml")
    try:
        with _dir_fd(d) as dfd:
            os.unlink(f"{name}.toml", dir_fd=dfd)
    except (FileNotFoundError, NotInStore):
        raise SysfenceError(f"{path}: no such store profile") from None
    except PermissionError as exc:
        raise SysfenceError(f"{path}: cannot remove: {exc.strerror} (uninstall must run as root)") from None
    _fsync_dir(d)
    return path
