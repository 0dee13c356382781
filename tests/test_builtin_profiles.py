"""The built-in profiles (default, strict, net-client, net-server, read-only, no-network, no-spawn) do what they
say, in child processes against the real kernel.

One child per profile enables it by name (`sysfence.enable(NAME, required=True)`), proves the filter is on
(Seccomp: 2, NoNewPrivs: 1, an enforcing status naming the profile) and runs a batch of probes, mostly what a
Python program would do (open, mkdir, socket, fork, subprocess, threads...), a few as raw syscalls where an
argument matters (open flags with high bits set). A second child runs the same probes with no filter: every
EPERM a profile is expected to give must be something else there, so it is the filter's doing. Everything a
child touches lives in its own temporary directory, made by the parent; for read-only the parent also checks
that the tree is byte-for-byte unchanged after the child ran, and for read-only and strict that the inode
attributes the children's ioctls aim at (flags, struct fsxattr, generation) are unchanged: the parent reads
them with its own ioctls, as those two profiles refuse every file-system ioctl, the getters included. Network
servers the clients talk to run in the parent (outside any filter) or, for net-server, in the child itself.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import signal
import socketserver
import stat
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import child_env, run_py, sysfence_cli

from sysfence import profile

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
    reason="these expectations are written for Linux x86_64",
)

IS_ROOT = os.geteuid() == 0
HIGH1, HIGHF = 1 << 32, 0xFFFFFFFF00000000
BUILTINS = ["default", "net-client", "net-server", "no-network", "no-spawn", "read-only", "strict"]
SIGSEGV = int(signal.SIGSEGV)

CHILD = r'''
import ctypes, errno, json, os, socket, stat, struct, subprocess, sys, threading
PROFILE, TMP, FILTERED = __ARGS__
import sysfence
from sysfence import syscalls as _syscalls

NR = dict(_syscalls.table())
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
AT_FDCWD = -100
HIGH1, HIGHF = 1 << 32, 0xFFFFFFFF00000000
out = {}


def P(*names):
    return os.path.join(TMP, *names)


def raw(name, *args):
    ctypes.set_errno(0)
    conv = [ctypes.c_long(a) if isinstance(a, int) else ctypes.c_char_p(a) if isinstance(a, bytes) else a for a in args]
    rc = _libc.syscall(ctypes.c_long(NR[name]), *conv)
    return rc, ctypes.get_errno()


def sc(name, *args):
    """'rc=N' / 'fd' (a new descriptor, closed at once, when fd=True) or the errno name."""
    rc, err = raw(name, *args)
    return "rc=%d" % rc if rc != -1 else errno.errorcode.get(err, "errno=%d" % err)


def fd(name, *args):
    rc, err = raw(name, *args)
    if rc >= 0:
        os.close(rc)
        return "fd"
    return errno.errorcode.get(err, "errno=%d" % err)


def py(fn, *args):
    try:
        r = fn(*args)
    except socket.gaierror as exc:
        return "gaierror:%d" % exc.errno
    except OSError as exc:
        if not exc.errno:
            return type(exc).__name__
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        if exc.errno == errno.EPERM and not isinstance(exc, PermissionError):
            name = type(exc).__name__ + ":" + name  # "EPERM" below always means a PermissionError
        return name
    except Exception as exc:
        return type(exc).__name__
    return "ok" if r is None else "ok:%s" % (r,)


def _forked(code):
    pid = os.fork()
    if pid == 0:
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


"localhost".encode("idna")  # the codec getaddrinfo imports on first use
__PREP__

if FILTERED:
    _st = sysfence.enable(PROFILE, required=True)
    out["__status__"] = "%s %s" % (_st.state.value, _st.profile)
with open("/proc/self/status") as _f:
    _s = dict(l.split(":", 1) for l in _f if ":" in l)
out["__seccomp__"] = "%s %s" % (_s["Seccomp"].strip(), _s["NoNewPrivs"].strip())

__PROBE__

print(json.dumps(out), flush=True)
os._exit(0)
'''


def make_tree(d: Path) -> None:
    """What every child finds in its directory (made by the parent, before the child starts)."""
    (d / "data").write_bytes(b"hello")
    (d / "victim").write_bytes(b"keep me")
    (d / "scratch").write_bytes(b"scratch")
    (d / "sub").mkdir()
    (d / "sub" / "a").write_bytes(b"a")
    (d / "sub" / "b").write_bytes(b"b")
    (d / "empty").mkdir()
    (d / "inode").write_bytes(b"the ioctl probes' target")  # nothing else touches these two
    (d / "nokey").mkdir()
    os.symlink("data", d / "link")
    os.setxattr(d / "data", "user.sysfence", b"1")


def inode_attrs(p: Path) -> tuple[str, str, str] | None:
    """What FS_IOC_GETFLAGS, FS_IOC_FSGETXATTR and FS_IOC_GETVERSION report for a regular file or directory
    (hex, or the errno name), read by the parent; None for anything else (opening a FIFO would block)."""
    if not (stat.S_ISREG(p.lstat().st_mode) or stat.S_ISDIR(p.lstat().st_mode)):
        return None
    fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        got = []
        for req, size in ((FS_IOC_GETFLAGS, 4), (FS_IOC_FSGETXATTR, 28), (FS_IOC_GETVERSION, 4)):
            try:
                got.append(fcntl.ioctl(fd, req, bytes(size)).hex())
            except OSError as exc:
                got.append(errno.errorcode[exc.errno])
        return tuple(got)
    finally:
        os.close(fd)


def snapshot(d: Path) -> dict[str, tuple]:
    snap = {}
    for p in sorted(d.rglob("*")):
        st = p.lstat()
        content = os.readlink(p) if p.is_symlink() else (p.read_bytes() if p.is_file() else None)
        xattrs = sorted(os.listxattr(p, follow_symlinks=False)) if not p.is_symlink() else []
        snap[str(p.relative_to(d))] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, content, xattrs,
                                       inode_attrs(p))
    return snap


INODE_ATTRS = 7  # index of inode_attrs() in a snapshot entry


@dataclass
class Result:
    returncode: int
    out: dict[str, str]
    stderr: str


def run_profile_child(name: str | None, workdir: Path, prep: str, probe: str, **kw) -> Result:
    """name None: the same probes without any filter (the contrast)."""
    code = (CHILD.replace("__ARGS__", repr((name or "", str(workdir), name is not None)))
            .replace("__PREP__", prep).replace("__PROBE__", probe))
    p = run_py(code, timeout=60, **kw)
    lines = p.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1])
    except (IndexError, ValueError):
        out = {"__error__": f"rc={p.returncode} stdout={p.stdout[-1500:]!r} stderr={p.stderr[-3000:]!r}"}
    return Result(p.returncode, out, p.stderr)


# ------------------------------------------------------------------------------------------------- the probes
def code(*blocks: str) -> str:
    """Join code blocks written at different indentation levels."""
    return "\n".join(textwrap.dedent(b) for b in blocks)


@dataclass(frozen=True)
class Spec:
    prep: str
    probe: str
    # probe -> result under the profile; "UNFILTERED": whatever the unfiltered child got (machine-dependent),
    # "ROOT:<r>": r when running as root (the kernel checks privileges first otherwise)
    expect: dict[str, str]


SPECS: dict[str, Spec] = {}

# a grandchild started from the filtered child: its own writes must fail too (the filter is inherited)
GRANDCHILD = r"""
import errno, json, os, sys
d = sys.argv[1]
def t(fn, *a):
    try:
        fn(*a)
        return "ok"
    except OSError as exc:
        return errno.errorcode[exc.errno]
with open("/proc/self/status") as f:
    s = dict(l.split(":", 1) for l in f if ":" in l)
print(json.dumps({
    "seccomp": s["Seccomp"].strip(),
    "open(new,'w')": t(lambda: open(os.path.join(d, "grandchild"), "w")),
    "open(data,'r+')": t(lambda: open(os.path.join(d, "data"), "r+")),
    "mkdir": t(os.mkdir, os.path.join(d, "grandchild-dir")),
    "unlink": t(os.unlink, os.path.join(d, "victim")),
    "read": open(os.path.join(d, "data")).read(),
}))
"""

_COMMON_PREP = """
    _ro = os.open(P("data"), os.O_RDONLY)
"""

# what a profile that forbids spawning must refuse; the exec targets a path that does not exist, so the
# unfiltered contrast gets ENOENT instead of replacing the child
_SPAWN_PROBES = """
    out["os.fork"] = py(_forked, 3)
    out["subprocess.run(/bin/true)"] = py(lambda: subprocess.run(["/bin/true"]).returncode)
    out["os.execv(missing)"] = py(os.execv, P("missing-program"), ["x"])
    out["os.posix_spawn(/bin/true)"] = py(lambda: os.waitstatus_to_exitcode(
        os.waitpid(os.posix_spawn("/bin/true", ["true"], {}), 0)[1]))
"""


def _spawn_expect(allowed: bool) -> dict[str, str]:
    if allowed:
        return {"os.fork": "ok:3", "subprocess.run(/bin/true)": "ok:0", "os.execv(missing)": "ENOENT",
                "os.posix_spawn(/bin/true)": "ok:0"}
    return {"os.fork": "EPERM", "subprocess.run(/bin/true)": "EPERM", "os.execv(missing)": "EPERM",
            "os.posix_spawn(/bin/true)": "EPERM"}


_NO_WRITE_PROBES = """
    out["open(new,'w')"] = py(lambda: open(P("new"), "w"))
    out["open(data,'r+')"] = py(lambda: open(P("data"), "r+"))
    out["os.mkdir"] = py(os.mkdir, P("newdir"))
    out["os.unlink"] = py(os.unlink, P("victim"))
"""
_NO_WRITE_EXPECT = {"open(new,'w')": "EPERM", "open(data,'r+')": "EPERM", "os.mkdir": "EPERM", "os.unlink": "EPERM"}

_NET_DENIED_FAMILIES = """
    for _label, _fam, _typ, _proto in [("AF_PACKET", 17, 2, 0), ("AF_NETLINK", 16, 3, 0), ("AF_UNIX", 1, 1, 0),
                                       ("AF_VSOCK", 40, 1, 0), ("AF_UNIX|1<<32", 1 | HIGH1, 1, 0)]:
        out["socket(%s)" % _label] = fd("socket", _fam, _typ, _proto)
"""
_NET_DENIED_EXPECT = {"socket(AF_PACKET)": "EPERM", "socket(AF_NETLINK)": "EPERM", "socket(AF_UNIX)": "EPERM",
                      "socket(AF_VSOCK)": "EPERM", "socket(AF_UNIX|1<<32)": "EPERM"}

# polling (in every profile here) allows socketpair for AF_UNIX only: asyncio's self-pipe. Unfiltered the
# kernel refuses socketpair for AF_INET and AF_NETLINK itself (EOPNOTSUPP), never with EPERM.
_PAIR_PREP = """
    _sv = (ctypes.c_int * 2)()

    def _pair(fam, typ):
        rc, err = raw("socketpair", fam, typ, 0, _sv)
        if rc == 0:
            os.close(_sv[0])
            os.close(_sv[1])
        return "rc=0" if rc == 0 else errno.errorcode.get(err, "errno=%d" % err)

    def _py_pair():
        a, b = socket.socketpair()
        with a, b:
            os.write(a.fileno(), b"x")
            return os.read(b.fileno(), 1)
"""
_PAIR_PROBES = """
    out["socket.socketpair()"] = py(_py_pair)
    out["socketpair(AF_UNIX|1<<32,SOCK_DGRAM)"] = _pair(1 | HIGH1, 2)
    out["socketpair(AF_INET)"] = _pair(2, 1)
    out["socketpair(AF_NETLINK)"] = _pair(16, 3)
"""
_PAIR_EXPECT = {"socket.socketpair()": "ok:b'x'", "socketpair(AF_UNIX|1<<32,SOCK_DGRAM)": "rc=0",
                "socketpair(AF_INET)": "EPERM", "socketpair(AF_NETLINK)": "EPERM"}

# binding an AF_UNIX socket to a path creates a socket file: no profile without unix-sockets can (the
# unfiltered child does, see test_no_profile_without_unix_sockets_creates_a_socket_file)
_UNIX_BIND_PROBES = """
    out["bind(AF_UNIX, path)"] = py(lambda: socket.socket(socket.AF_UNIX).bind(P("sock")))
    out["socket file exists"] = str(os.path.exists(P("sock")))
"""
_UNIX_BIND_EXPECT = {"bind(AF_UNIX, path)": "EPERM", "socket file exists": "False"}

# asyncio: the event loop's self-pipe is socket.socketpair() (polling) made non-blocking with FIONBIO (stdio)
_AIO_PREP = """
    import asyncio

    async def _aio():
        await asyncio.sleep(0)
        return "ran"

    async def _aio_serve():
        async def handle(r, w):
            w.write(await r.readexactly(2))
            await w.drain()
            w.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with srv:
            r, w = await asyncio.open_connection("127.0.0.1", srv.sockets[0].getsockname()[1])
            w.write(b"hi")
            data = await r.readexactly(2)
            w.close()
            await w.wait_closed()
            return data
"""

# ioctls that change an inode through a descriptor opened O_RDONLY (the kernel checks ownership, not the
# descriptor's mode). read-only and strict grant `terminal`, an allowlist of terminal requests, and not
# device-control, so every file-system ioctl is EPERM there on the low 32 bits: the setters, ext4's own number
# for FS_IOC_SETVERSION, FS_IOC_SET_ENCRYPTION_POLICY, and also the getters and the setters' neighbours. stdio's
# FIONREAD still reaches the kernel. Each setter passes what the matching getter read before the filter, plus
# FS_NODUMP_FL / FS_XFLAG_NODUMP or generation + 1: unfiltered they change the file. Whether they did is for the
# parent to read (inode_attrs): the filtered child's getters are refused.
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS = 0x80086601, 0x40086602, 0x40046602
FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR = 0x801C581F, 0x401C5820
FS_IOC_GETVERSION, FS_IOC_SETVERSION, FS_IOC32_SETVERSION = 0x80087601, 0x40087602, 0x40047602
# ext4 keeps the pre-2.6 number of FS_IOC_SETVERSION, EXT4_IOC_SETVERSION = _IOW('f', 4, long) = 0x40086604,
# as an alias of the same code (inode owner, no writable descriptor needed; refused with ENOTTY on file
# systems with metadata_csum). FS_IOC_SET_ENCRYPTION_POLICY is _IOR('f', 19, 12 bytes) = 0x800C6613 (sic, R):
# the owner of an empty directory marks it encrypted, for good, through an O_RDONLY descriptor. The probe
# passes an invalid policy version (EINVAL, or EOPNOTSUPP without the encrypt feature, unfiltered).
EXT4_IOC_GETVERSION, EXT4_IOC_SETVERSION, FS_IOC_SET_ENCRYPTION_POLICY = 0x80086603, 0x40086604, 0x800C6613
FIONREAD, FIOQSIZE = 0x541B, 0x5460
_INODE_SETTERS = {
    "FS_IOC_SETFLAGS": ("_ino", FS_IOC_SETFLAGS, "_flags1"),
    "FS_IOC_SETFLAGS|1<<32": ("_ino", FS_IOC_SETFLAGS | HIGH1, "_flags1"),
    "FS_IOC_SETFLAGS|0xffffffff<<32": ("_ino", FS_IOC_SETFLAGS | HIGHF, "_flags1"),
    "FS_IOC32_SETFLAGS": ("_ino", FS_IOC32_SETFLAGS, "_flags1"),
    "FS_IOC32_SETFLAGS|1<<32": ("_ino", FS_IOC32_SETFLAGS | HIGH1, "_flags1"),
    "FS_IOC_FSSETXATTR": ("_ino", FS_IOC_FSSETXATTR, "_fsx1"),
    "FS_IOC_FSSETXATTR|1<<32": ("_ino", FS_IOC_FSSETXATTR | HIGH1, "_fsx1"),
    "FS_IOC_FSSETXATTR|0xffffffff<<32": ("_ino", FS_IOC_FSSETXATTR | HIGHF, "_fsx1"),
    "FS_IOC_SETVERSION": ("_ino", FS_IOC_SETVERSION, "_gen1"),
    "FS_IOC_SETVERSION|1<<32": ("_ino", FS_IOC_SETVERSION | HIGH1, "_gen1"),
    "FS_IOC32_SETVERSION": ("_ino", FS_IOC32_SETVERSION, "_gen1"),
    "FS_IOC32_SETVERSION|0xffffffff<<32": ("_ino", FS_IOC32_SETVERSION | HIGHF, "_gen1"),
    "EXT4_IOC_SETVERSION": ("_ino", EXT4_IOC_SETVERSION, "_gen1"),
    "EXT4_IOC_SETVERSION|1<<32": ("_ino", EXT4_IOC_SETVERSION | HIGH1, "_gen1"),
    "EXT4_IOC_SETVERSION|0xffffffff<<32": ("_ino", EXT4_IOC_SETVERSION | HIGHF, "_gen1"),
    "FS_IOC_SET_ENCRYPTION_POLICY(dir,invalid version)": ("_nokey", FS_IOC_SET_ENCRYPTION_POLICY, "_policy"),
    "FS_IOC_SET_ENCRYPTION_POLICY|1<<32(dir,invalid version)": (
        "_nokey", FS_IOC_SET_ENCRYPTION_POLICY | HIGH1, "_policy"),
}
# refused too now (these profiles' ioctl is an allowlist): the getters, and the setters' neighbours, numbers
# nothing defines that the kernel answers with ENOTTY
_INODE_OTHERS = {
    "FS_IOC_GETFLAGS": ("_ino", FS_IOC_GETFLAGS, "_scratch"),
    "FS_IOC_GETFLAGS|1<<32": ("_ino", FS_IOC_GETFLAGS | HIGH1, "_scratch"),
    "FS_IOC_FSGETXATTR": ("_ino", FS_IOC_FSGETXATTR, "_scratch"),
    "FS_IOC_GETVERSION": ("_ino", FS_IOC_GETVERSION, "_scratch"),
    "EXT4_IOC_GETVERSION": ("_ino", EXT4_IOC_GETVERSION, "_scratch"),
    "FIOQSIZE": ("_ino", FIOQSIZE, "_scratch"),
    "FS_IOC_SETFLAGS+1": ("_ino", FS_IOC_SETFLAGS + 1, "_flags1"),
    "FS_IOC_FSSETXATTR+1": ("_ino", FS_IOC_FSSETXATTR + 1, "_fsx1"),
    "FS_IOC_SETVERSION+1": ("_ino", FS_IOC_SETVERSION + 1, "_gen1"),
}
_INODE_PREP = """
    _ino = os.open(P("inode"), os.O_RDONLY)
    _nokey = os.open(P("nokey"), os.O_RDONLY | os.O_DIRECTORY)
    _scratch = ctypes.create_string_buffer(64)
    _policy = ctypes.create_string_buffer(b"\\xff" + bytes(11), 12)  # struct fscrypt_policy_v1, version 0xff

    def _inode():
        # flags, FS_IOC_FSGETXATTR's struct fsxattr and the generation of _ino's inode, as the kernel reports them
        f, x, g = ctypes.c_int(0), ctypes.create_string_buffer(28), ctypes.c_int(0)
        return (sc("ioctl", _ino, 0x80086601, ctypes.byref(f)), f.value, sc("ioctl", _ino, 0x801C581F, x), x.raw,
                sc("ioctl", _ino, 0x80087601, ctypes.byref(g)), g.value)

    _before = _inode()
    _flags1 = ctypes.byref(ctypes.c_int(_before[1] | 0x40))  # FS_NODUMP_FL
    _fsx1 = ctypes.create_string_buffer(struct.pack("<I", struct.unpack_from("<I", _before[3])[0] | 0x80)
                                        + _before[3][4:], 28)  # FS_XFLAG_NODUMP
    _gen1 = ctypes.byref(ctypes.c_int((_before[5] + 1 + 2**31) % 2**32 - 2**31))
    _count = ctypes.c_int(-1)
"""
_INODE_PROBES = (
    "\n".join(f"out['ioctl(O_RDONLY fd,{label})'] = sc('ioctl', {fd}, {req:#x}, {arg})"
              for label, (fd, req, arg) in {**_INODE_SETTERS, **_INODE_OTHERS}.items())
    + "\nout['ioctl(O_RDONLY fd,FIONREAD)'] = sc('ioctl', _ino, 0x541B, ctypes.byref(_count))"
    + "\nout['ioctl(O_RDONLY fd,FIONREAD) count'] = str(_count.value)\n"
)
_INODE_EXPECT = {
    **{f"ioctl(O_RDONLY fd,{label})": "EPERM" for label in {**_INODE_SETTERS, **_INODE_OTHERS}},
    # stdio's: bytes left to read in the file
    "ioctl(O_RDONLY fd,FIONREAD)": "rc=0", "ioctl(O_RDONLY fd,FIONREAD) count": "24",
}

# ioctl on a terminal and the requests that are no terminal's: every built-in grants terminal (its allowlist:
# termios, window size, pty), none lets TIOCSTI or TIOCLINUX through. default, no-network and no-spawn grant
# device-control, so the other requests (TIOCCONS, the line discipline, file-system requests) reach the kernel
# there; the others refuse them. The pty is the child's own, opened before the filter, not its controlling tty.
DEVICE_CONTROL = {"default", "no-network", "no-spawn"}
_TTY_PREP = """
    import termios
    _pm, _ps = os.openpty()
    _null = os.open("/dev/null", os.O_RDWR)
    _tbuf, _tint = ctypes.create_string_buffer(64), ctypes.c_int(0)
"""
_TTY_PROBES = """
    out["ioctl(pty,TCGETS)"] = sc("ioctl", _ps, 0x5401, _tbuf)
    out["ioctl(pty,TIOCGWINSZ|1<<32)"] = sc("ioctl", _ps, 0x5413 | HIGH1, _tbuf)
    out["ioctl(ptmx,TIOCGPTN)"] = sc("ioctl", _pm, 0x80045430, ctypes.byref(_tint))
    out["termios.tcsetattr(pty)"] = py(lambda: termios.tcsetattr(_ps, termios.TCSANOW, termios.tcgetattr(_ps)))
    out["os.get_terminal_size(pty)"] = py(lambda: tuple(os.get_terminal_size(_ps)))
    out["ioctl(pty,TIOCSTI)"] = sc("ioctl", _ps, 0x5412, _tbuf)
    out["ioctl(pty,TIOCSTI|0xffffffff<<32)"] = sc("ioctl", _ps, 0x5412 | HIGHF, _tbuf)
    out["ioctl(pty,TIOCLINUX)"] = sc("ioctl", _ps, 0x541C, _tbuf)
    out["ioctl(/dev/null,TIOCCONS)"] = sc("ioctl", _null, 0x541D, _tbuf)
    out["ioctl(pty,TIOCGETD)"] = sc("ioctl", _ps, 0x5424, ctypes.byref(_tint))
    out["ioctl(data,FS_IOC_GETFLAGS)"] = sc("ioctl", _ro, 0x80086601, ctypes.byref(_tint))
"""


def _tty_expect(name: str) -> dict[str, str]:
    granted = name in DEVICE_CONTROL
    return {
        "ioctl(pty,TCGETS)": "rc=0", "ioctl(pty,TIOCGWINSZ|1<<32)": "rc=0", "ioctl(ptmx,TIOCGPTN)": "rc=0",
        "termios.tcsetattr(pty)": "ok", "os.get_terminal_size(pty)": "ok:(0, 0)",
        "ioctl(pty,TIOCSTI)": "EPERM", "ioctl(pty,TIOCSTI|0xffffffff<<32)": "EPERM", "ioctl(pty,TIOCLINUX)": "EPERM",
        "ioctl(/dev/null,TIOCCONS)": "ENOTTY" if granted else "EPERM",
        "ioctl(pty,TIOCGETD)": "rc=0" if granted else "EPERM",
        "ioctl(data,FS_IOC_GETFLAGS)": "UNFILTERED" if granted else "EPERM",
    }

# ----------------------------------------------------------------------------------------------------- read-only
_RO_OPENS = {
    "O_WRONLY": 1, "O_RDWR": 2, "O_WRONLY|O_APPEND": 1 | 0x400, "O_RDONLY|O_TRUNC": 0x200,
    "O_RDONLY|O_CREAT": 0x40, "O_WRONLY|1<<32": 1 | HIGH1, "O_RDWR|0xffffffff<<32": 2 | HIGHF,
    "O_TRUNC|1<<32": 0x200 | HIGH1, "O_CREAT|0xffffffff<<32": 0x40 | HIGHF,
}
# sockets: net-server and netlink, not unix-sockets (bind to a path creates a file); socketpair from polling
_RO_SOCKETS = [
    ("AF_INET,SOCK_STREAM", 2, 1, 0, "fd"), ("AF_INET6,SOCK_DGRAM", 10, 2, 0, "fd"),
    ("AF_NETLINK,SOCK_RAW,ROUTE", 16, 3, 0, "fd"), ("AF_NETLINK,SOCK_RAW,AUDIT", 16, 3, 9, "EPERM"),
    ("AF_PACKET,SOCK_DGRAM", 17, 2, 0, "EPERM"), ("AF_VSOCK,SOCK_STREAM", 40, 1, 0, "EPERM"),
    ("AF_UNIX,SOCK_STREAM", 1, 1, 0, "EPERM"), ("AF_UNIX,SOCK_DGRAM", 1, 2, 0, "EPERM"),
    ("AF_UNIX|1<<32,SOCK_STREAM", 1 | HIGH1, 1, 0, "EPERM"), ("AF_UNIX|0xffffffff<<32,SOCK_DGRAM", 1 | HIGHF, 2, 0, "EPERM"),
]
SPECS["read-only"] = Spec(
    prep=code(_COMMON_PREP, """
        import multiprocessing.connection, shutil, sqlite3
        _rw = os.open(P("scratch"), os.O_RDWR)  # opened for writing before the filter: stays writable
        _how = ctypes.create_string_buffer(struct.pack("<QQQ", 0x41, 0o600, 0), 24)

        def _mp_pipe():
            a, b = multiprocessing.connection.Pipe()
            a.send({"k": 1})
            return b.recv()
    """, _PAIR_PREP, _AIO_PREP, _INODE_PREP, _TTY_PREP),
    probe=code(_PAIR_PROBES, _UNIX_BIND_PROBES, _INODE_PROBES, _TTY_PROBES, f"""
        for _label, _fam, _typ, _proto, _ in {_RO_SOCKETS!r}:
            out["socket(%s)" % _label] = fd("socket", _fam, _typ, _proto)
        out["socket.create_server(127.0.0.1)"] = py(lambda: socket.create_server(("127.0.0.1", 0)).close())
        out["asyncio TCP server"] = py(asyncio.run, _aio_serve())
        out["multiprocessing Pipe"] = py(_mp_pipe)
    """, f"""
        out["read file"] = py(lambda: open(P("data")).read())
        out["os.listdir"] = py(lambda: sorted(os.listdir(P("sub"))))
        out["os.walk"] = py(lambda: sorted(f for _, _, fs in os.walk(TMP) for f in fs))
        out["os.stat"] = py(lambda: os.stat(P("data")).st_size)
        out["os.getxattr"] = py(os.getxattr, P("data"), "user.sysfence")
        out["subprocess cat"] = py(lambda: subprocess.run(["cat", P("data")], capture_output=True).stdout)
        _g = subprocess.run([sys.executable, "-S", "-B", "-c", {GRANDCHILD!r}, TMP], capture_output=True, text=True)
        for _k, _v in (json.loads(_g.stdout) if _g.returncode == 0 else {{"error": _g.stderr[-300:]}}).items():
            out["subprocess: " + _k] = _v
        # creating
        out["open(new,'w')"] = py(lambda: open(P("new"), "w"))
        out["os.open(new,O_WRONLY|O_CREAT)"] = py(os.open, P("new2"), os.O_WRONLY | os.O_CREAT)
        out["os.open(sub,O_TMPFILE|O_RDWR)"] = py(os.open, P("sub"), os.O_TMPFILE | os.O_RDWR)
        out["creat"] = fd("creat", P("new3").encode(), 0o600)
        out["openat2(O_CREAT)"] = fd("openat2", AT_FDCWD, P("new4").encode(), _how, 24)
        out["os.mkdir"] = py(os.mkdir, P("newdir"))
        out["os.mkfifo"] = py(os.mkfifo, P("fifo"))
        out["os.mknod(S_IFREG)"] = py(os.mknod, P("node"), stat.S_IFREG | 0o600)
        out["os.symlink"] = py(os.symlink, "data", P("link2"))
        out["os.link"] = py(os.link, P("data"), P("hard"))
        out["os.rename"] = py(os.rename, P("victim"), P("renamed"))
        out["os.replace"] = py(os.replace, P("data"), P("victim"))
        out["os.unlink"] = py(os.unlink, P("victim"))
        out["os.rmdir"] = py(os.rmdir, P("empty"))
        out["shutil.copy"] = py(shutil.copy, P("data"), P("copy"))
        out["sqlite3 create table"] = py(lambda: sqlite3.connect(P("db.sqlite")).execute("create table t(x)"))
        # truncating
        out["os.truncate"] = py(os.truncate, P("victim"), 0)
        out["os.ftruncate(read-only fd)"] = py(os.ftruncate, _ro, 0)
        out["os.ftruncate(fd opened rw before)"] = py(os.ftruncate, _rw, 0)
        out["os.posix_fallocate(fd opened rw before)"] = py(os.posix_fallocate, _rw, 0, 100)
        out["os.copy_file_range(into fd opened rw before)"] = py(os.copy_file_range, _ro, _rw, 5)
        out["os.memfd_create"] = py(os.memfd_create, "x")
        # opening for writing, also with high bits the kernel ignores
        for _label, _flags in {list(_RO_OPENS.items())!r}:
            out["openat(victim,%s)" % _label] = fd("openat", AT_FDCWD, P("victim").encode(), _flags, 0o600)
            out["open(victim,%s)" % _label] = fd("open", P("victim").encode(), _flags, 0o600)
        out["openat(data,O_RDONLY|1<<32)"] = fd("openat", AT_FDCWD, P("data").encode(), HIGH1, 0)
        # attributes
        out["os.chmod"] = py(os.chmod, P("data"), 0o600)
        out["os.fchmod"] = py(os.fchmod, _ro, 0o600)
        out["os.chown(-1,-1)"] = py(os.chown, P("data"), -1, -1)
        out["os.utime"] = py(os.utime, P("data"))
        out["os.setxattr"] = py(os.setxattr, P("data"), "user.other", b"x")
        out["os.removexattr"] = py(os.removexattr, P("data"), "user.sysfence")
        # documented: a descriptor opened for writing before the filter stays writable
        out["os.pwrite(fd opened rw before)"] = py(os.pwrite, _rw, b"SCRATCH", 0)
    """),
    expect={
        "read file": "ok:hello", "os.listdir": "ok:['a', 'b']",
        "os.walk": "ok:['a', 'b', 'data', 'inode', 'link', 'scratch', 'victim']",
        "os.stat": "ok:5", "os.getxattr": "ok:b'1'", "subprocess cat": "ok:b'hello'",
        "subprocess: seccomp": "2", "subprocess: open(new,'w')": "EPERM", "subprocess: open(data,'r+')": "EPERM",
        "subprocess: mkdir": "EPERM", "subprocess: unlink": "EPERM", "subprocess: read": "hello",
        "open(new,'w')": "EPERM", "os.open(new,O_WRONLY|O_CREAT)": "EPERM", "os.open(sub,O_TMPFILE|O_RDWR)": "EPERM",
        "creat": "EPERM", "openat2(O_CREAT)": "EPERM", "os.mkdir": "EPERM", "os.mkfifo": "EPERM",
        "os.mknod(S_IFREG)": "EPERM", "os.symlink": "EPERM", "os.link": "EPERM", "os.rename": "EPERM",
        "os.replace": "EPERM", "os.unlink": "EPERM", "os.rmdir": "EPERM", "shutil.copy": "EPERM",
        "sqlite3 create table": "OperationalError",
        "os.truncate": "EPERM", "os.ftruncate(read-only fd)": "EPERM", "os.ftruncate(fd opened rw before)": "EPERM",
        "os.posix_fallocate(fd opened rw before)": "EPERM", "os.copy_file_range(into fd opened rw before)": "EPERM",
        "os.memfd_create": "EPERM",
        **{f"{call}(victim,{label})": "EPERM" for label in _RO_OPENS for call in ("openat", "open")},
        "openat(data,O_RDONLY|1<<32)": "fd",
        "os.chmod": "EPERM", "os.fchmod": "EPERM", "os.chown(-1,-1)": "EPERM", "os.utime": "EPERM",
        "os.setxattr": "EPERM", "os.removexattr": "EPERM", "os.pwrite(fd opened rw before)": "ok:7",
        **_PAIR_EXPECT, **_UNIX_BIND_EXPECT, **_INODE_EXPECT, **_tty_expect("read-only"),
        **{f"socket({label})": want for label, _, _, _, want in _RO_SOCKETS},
        "socket.create_server(127.0.0.1)": "ok", "asyncio TCP server": "ok:b'hi'", "multiprocessing Pipe": "ok:{'k': 1}",
    },
)

# ---------------------------------------------------------------------------------------------------- net-client
SPECS["net-client"] = Spec(
    prep=code(_COMMON_PREP, """
        PORT = int(os.environ["ECHO_PORT"])

        def _echo(host, timeout=None):
            with socket.create_connection((host, PORT), timeout=timeout) as c:
                c.sendall(b"ping")
                return c.recv(4)

        def _gai():
            return sorted({a[4][0] for a in socket.getaddrinfo("localhost", PORT, type=socket.SOCK_STREAM)})

        async def _aio_echo():
            r, w = await asyncio.open_connection("127.0.0.1", PORT)
            w.write(b"ping")
            data = await r.readexactly(4)
            w.close()
            await w.wait_closed()
            return data
    """, _PAIR_PREP, _AIO_PREP, _TTY_PREP),
    probe=code(_NET_DENIED_FAMILIES, _PAIR_PROBES, _UNIX_BIND_PROBES, _SPAWN_PROBES, _NO_WRITE_PROBES, _TTY_PROBES, """
        out["asyncio echo via 127.0.0.1"] = py(asyncio.run, _aio_echo())
        out["getaddrinfo(localhost)"] = py(_gai)
        out["echo via localhost"] = py(_echo, "localhost")
        out["echo via 127.0.0.1, timeout=5"] = py(_echo, "127.0.0.1", 5)
        out["udp sendto loopback"] = py(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", PORT)))
        out["socket(AF_INET6)"] = py(lambda: socket.socket(socket.AF_INET6).close())
        out["bind(127.0.0.1:0)"] = py(lambda: socket.socket().bind(("127.0.0.1", 0)))
        out["listen"] = py(lambda: socket.socket().listen())
    """),
    expect={
        **_NET_DENIED_EXPECT, **_PAIR_EXPECT, **_UNIX_BIND_EXPECT, **_spawn_expect(False), **_NO_WRITE_EXPECT,
        **_tty_expect("net-client"), "asyncio echo via 127.0.0.1": "ok:b'ping'",
        "getaddrinfo(localhost)": "UNFILTERED", "echo via localhost": "ok:b'ping'",
        "echo via 127.0.0.1, timeout=5": "ok:b'ping'", "udp sendto loopback": "ok:1", "socket(AF_INET6)": "ok",
        "bind(127.0.0.1:0)": "EPERM", "listen": "EPERM",
    },
)

# ---------------------------------------------------------------------------------------------------- net-server
SPECS["net-server"] = Spec(
    prep=code(_COMMON_PREP, """
        def _serve(family, host):
            with socket.create_server((host, 0), family=family) as srv:
                with socket.create_connection(srv.getsockname()[:2], timeout=5) as c:
                    conn, _ = srv.accept()
                    with conn:
                        c.sendall(b"hi")
                        return conn.recv(2)
    """, _PAIR_PREP, _AIO_PREP, _TTY_PREP),
    probe=code(_NET_DENIED_FAMILIES, _PAIR_PROBES, _UNIX_BIND_PROBES, _SPAWN_PROBES, _NO_WRITE_PROBES, _TTY_PROBES, """
        out["asyncio TCP server"] = py(asyncio.run, _aio_serve())
        out["serve on 127.0.0.1"] = py(_serve, socket.AF_INET, "127.0.0.1")
        out["serve on ::1"] = py(_serve, socket.AF_INET6, "::1")
    """),
    expect={
        **_NET_DENIED_EXPECT, **_PAIR_EXPECT, **_UNIX_BIND_EXPECT, **_spawn_expect(False), **_NO_WRITE_EXPECT,
        **_tty_expect("net-server"), "asyncio TCP server": "ok:b'hi'", "serve on 127.0.0.1": "ok:b'hi'", "serve on ::1": "ok:b'hi'",
    },
)

# -------------------------------------------------------------------------------------------------------- strict
SPECS["strict"] = Spec(
    prep=code(_COMMON_PREP, """
        import hashlib
    """, _PAIR_PREP, _AIO_PREP, _INODE_PREP, _TTY_PREP),
    probe=code(_SPAWN_PROBES, _NO_WRITE_PROBES, _PAIR_PROBES, _UNIX_BIND_PROBES, _INODE_PROBES, _TTY_PROBES, """
        out["asyncio.run"] = py(asyncio.run, _aio())
        out["read and hash a file"] = py(lambda: hashlib.sha256(open(P("data"), "rb").read()).hexdigest()[:16])
        out["os.listdir"] = py(lambda: sorted(os.listdir(P("sub"))))
        out["compute"] = py(lambda: sum(i * i for i in range(1000)))
        _seen = []
        _t = threading.Thread(target=lambda: _seen.append(1))
        out["threading.Thread"] = py(lambda: (_t.start(), _t.join(), len(_seen))[2])
        out["os.open(data,O_WRONLY)"] = py(os.open, P("data"), os.O_WRONLY)
        out["openat(victim,O_RDWR|1<<32)"] = fd("openat", AT_FDCWD, P("victim").encode(), 2 | HIGH1, 0)
        out["socket(AF_INET)"] = py(lambda: socket.socket().close())
        out["socket(AF_INET6,SOCK_DGRAM)"] = py(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close())
        out["socket(AF_UNIX)"] = py(lambda: socket.socket(socket.AF_UNIX).close())
        out["os.pipe"] = py(os.pipe)
    """),
    expect={
        **_spawn_expect(False), **_NO_WRITE_EXPECT,
        "read and hash a file": "ok:2cf24dba5fb0a30e", "os.listdir": "ok:['a', 'b']", "compute": "ok:332833500",
        "threading.Thread": "ok:1", "os.open(data,O_WRONLY)": "EPERM", "openat(victim,O_RDWR|1<<32)": "EPERM",
        "socket(AF_INET)": "EPERM", "socket(AF_INET6,SOCK_DGRAM)": "EPERM", "socket(AF_UNIX)": "EPERM",
        "os.pipe": "EPERM", **_PAIR_EXPECT, **_UNIX_BIND_EXPECT, **_INODE_EXPECT, **_tty_expect("strict"),
        "asyncio.run": "ok:ran",
    },
)

# ---------------------------------------------------------------------------------------------------- no-network
SPECS["no-network"] = Spec(
    prep=code(_COMMON_PREP, """
        import asyncio, multiprocessing

        def _mp_child(conn):
            conn.send(os.getpid())
            conn.close()

        def _mp_process():
            ctx = multiprocessing.get_context("fork")
            a, b = ctx.Pipe()
            p = ctx.Process(target=_mp_child, args=(b,))
            p.start()
            pid = a.recv()
            p.join()
            return (pid == p.pid, p.exitcode)

        def _mp_queue():
            ctx = multiprocessing.get_context("fork")
            q = ctx.Queue()
            q.put({"k": 1})
            return q.get(timeout=10)

        async def _aio():
            await asyncio.sleep(0)
            return "ran"

        def _pair():
            a, b = socket.socketpair()
            with a, b:
                a.send(b"x")
                return b.recv(1)
    """, _TTY_PREP),
    probe=code(_SPAWN_PROBES, _TTY_PROBES, """
        for _label, _fam, _typ in [("AF_INET", 2, 1), ("AF_INET6", 10, 2), ("AF_PACKET", 17, 2), ("AF_NETLINK", 16, 3),
                                   ("AF_INET|1<<32", 2 | HIGH1, 1)]:
            out["socket(%s)" % _label] = fd("socket", _fam, _typ, 0)
        out["socket.create_connection"] = py(lambda: socket.create_connection(("127.0.0.1", 9)))
        out["socket(AF_UNIX)"] = py(lambda: socket.socket(socket.AF_UNIX).close())
        out["socket.socketpair"] = py(_pair)
        out["os.pipe"] = py(lambda: [os.close(x) for x in os.pipe()] and None)
        out["multiprocessing Pipe + fork Process"] = py(_mp_process)
        out["multiprocessing Queue"] = py(_mp_queue)
        out["asyncio.run"] = py(asyncio.run, _aio())
        out["write a file"] = py(lambda: open(P("new"), "w").write("x"))
        out["getaddrinfo(localhost) from /etc/hosts"] = py(
            lambda: sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}))
    """),
    expect={
        **_spawn_expect(True), "socket(AF_INET)": "EPERM", "socket(AF_INET6)": "EPERM", "socket(AF_PACKET)": "EPERM",
        "socket(AF_NETLINK)": "EPERM", "socket(AF_INET|1<<32)": "EPERM", "socket.create_connection": "EPERM",
        "socket(AF_UNIX)": "ok", "socket.socketpair": "ok:b'x'", "os.pipe": "ok",
        "multiprocessing Pipe + fork Process": "ok:(True, 0)", "multiprocessing Queue": "ok:{'k': 1}",
        "asyncio.run": "ok:ran", "write a file": "ok:1", "getaddrinfo(localhost) from /etc/hosts": "UNFILTERED",
        **_tty_expect("no-network"),
    },
)

# ------------------------------------------------------------------------------------------------------ no-spawn
SPECS["no-spawn"] = Spec(
    prep=code(_COMMON_PREP, """
        import multiprocessing
        from concurrent.futures import ThreadPoolExecutor

        def _threads():
            seen = []
            ts = [threading.Thread(target=lambda i=i: seen.append(i)) for i in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return sorted(seen)

        def _mp():
            p = multiprocessing.get_context("fork").Process(target=lambda: None)
            p.start()
            p.join()
            return p.exitcode
    """, _TTY_PREP),
    probe=code(_SPAWN_PROBES, _TTY_PROBES, """
        out["threading.Thread x4"] = py(_threads)
        out["ThreadPoolExecutor.map"] = py(lambda: list(ThreadPoolExecutor(2).map(abs, [-1, -2, 3])))
        out["multiprocessing fork Process"] = py(_mp)
        out["clone(CLONE_THREAD)"] = sc("clone", 0x10000, 0, 0, 0, 0)
        out["write a file"] = py(lambda: open(P("new"), "w").write("x"))
        out["socket(AF_INET)"] = py(lambda: socket.socket().close())
    """),
    expect={
        **_spawn_expect(False),
        "threading.Thread x4": "ok:[0, 1, 2, 3]", "ThreadPoolExecutor.map": "ok:[1, 2, 3]",
        "multiprocessing fork Process": "EPERM", "clone(CLONE_THREAD)": "EINVAL", "write a file": "ok:1",
        "socket(AF_INET)": "ok", **_tty_expect("no-spawn"),
    },
)

# ------------------------------------------------------------------------------------------------------- default
SPECS["default"] = Spec(
    prep=code(_COMMON_PREP, _TTY_PREP),
    probe=code(_SPAWN_PROBES, _TTY_PROBES, """
        out["write a file"] = py(lambda: open(P("new"), "w").write("x"))
        out["socket(AF_INET)"] = py(lambda: socket.socket().close())
        out["socket(AF_PACKET)"] = fd("socket", 17, 2, 0)
        out["ptrace(PEEKDATA, pid 0)"] = sc("ptrace", 2, 0, 0, 0)
        out["unshare(CLONE_NEWUSER|0x1)"] = sc("unshare", 0x10000001)  # invalid flag: EINVAL unfiltered
    """),
    expect={
        **_spawn_expect(True), "write a file": "ok:1", "socket(AF_INET)": "ok", "socket(AF_PACKET)": "ROOT:fd",
        "ptrace(PEEKDATA, pid 0)": "EPERM", "unshare(CLONE_NEWUSER|0x1)": "EPERM", **_tty_expect("default"),
    },
)


# --------------------------------------------------------------------------------------------------- the runs
class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        data = self.request.recv(4)
        if data:
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo_port():
    """A TCP echo server in the parent, outside any filter, for net-client."""
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, echo_port):
    """(profile, "filtered"/"unfiltered") -> (Result, tree snapshot before, tree snapshot after)."""
    base = tmp_path_factory.mktemp("profiles")
    env = child_env(ECHO_PORT=str(echo_port))

    def one(name: str, filtered: bool):
        d = base / f"{name}-{'filtered' if filtered else 'unfiltered'}"
        d.mkdir()
        make_tree(d)
        before = snapshot(d)
        s = SPECS[name]
        r = run_profile_child(name if filtered else None, d, s.prep, s.probe, env=env)
        return r, before, snapshot(d)

    with ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 1))) as pool:
        futs = {(n, m): pool.submit(one, n, m == "filtered") for n in SPECS for m in ("filtered", "unfiltered")}
        return {k: f.result() for k, f in futs.items()}


# ---------------------------------------------------------------------------------------------------- tests
def test_every_builtin_profile_is_tested():
    assert sorted(SPECS) == sorted(profile.builtin_names()) == sorted(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_profile_child_is_filtered(runs, name):
    r, _, _ = runs[(name, "filtered")]
    assert "__error__" not in r.out, r.out
    assert r.returncode == 0, r.stderr
    assert r.out["__status__"] == f"enforcing {name}"
    assert r.out["__seccomp__"] == "2 1"
    assert sorted(set(r.out) - {"__status__", "__seccomp__"}) == sorted(SPECS[name].expect)
    u, _, _ = runs[(name, "unfiltered")]
    assert u.returncode == 0 and u.out["__seccomp__"] == "0 0", u


PROBES = [(n, p) for n, s in SPECS.items() for p in s.expect]


@pytest.mark.parametrize(("name", "pid"), PROBES, ids=[f"{n}::{p}" for n, p in PROBES])
def test_profile_probe(runs, name, pid):
    r, _, _ = runs[(name, "filtered")]
    u, _, _ = runs[(name, "unfiltered")]
    want = SPECS[name].expect[pid]
    got, unf = r.out.get(pid, "<missing>"), u.out.get(pid, "<missing>")
    if want == "UNFILTERED":
        assert unf not in ("EPERM", "<missing>") and not unf.startswith("gaierror"), unf
        want = unf
    if want.startswith("ROOT:"):
        if not IS_ROOT:
            pytest.skip("depends on root privileges")
        want = want[5:]
    assert got == want, f"{name}: {pid}: got {got}, want {want} (unfiltered: {unf})"
    if want == "EPERM" and IS_ROOT:
        assert unf != "EPERM", f"{name}: {pid} is EPERM without the filter too, so it proves nothing"


def test_read_only_leaves_the_tree_untouched(runs):
    _, before, after = runs[("read-only", "filtered")]
    before, after = dict(before), dict(after)
    # the one documented exception: a descriptor opened for writing before enable() stays writable
    assert after.pop("scratch")[5] == b"SCRATCH"
    before.pop("scratch")
    assert after == before
    # the same probes without the filter do change it (so the comparison above can fail)
    _, ubefore, uafter = runs[("read-only", "unfiltered")]
    assert uafter != ubefore
    assert {"new", "newdir", "fifo", "hard", "link2", "sock"} <= {k.split("/")[0] for k in uafter}


def test_no_network_multiprocessing_really_forked(runs):
    r, _, _ = runs[("no-network", "filtered")]
    assert r.out["multiprocessing Pipe + fork Process"] == "ok:(True, 0)"


# ------------------------------------------------------------------------------- former gaps, now closed
# read-only granted `sockets` (a bind to a path created a socket file), terminal granted every ioctl to
# read-only and strict (chattr, FS_IOC_FSSETXATTR, the generation through ext4's own EXT4_IOC_SETVERSION and
# FS_IOC_SET_ENCRYPTION_POLICY through a read-only descriptor: terminal is an allowlist now, and the rest is
# device-control's), and net-client/net-server could not start asyncio (its self-pipe is an AF_UNIX socketpair). The probes are in SPECS; these tests also check that the
# unfiltered child really does what the filtered one must not.
NO_UNIX_SOCKETS = ["read-only", "strict", "net-client", "net-server"]


@pytest.mark.parametrize("name", NO_UNIX_SOCKETS)
def test_no_profile_without_unix_sockets_creates_a_socket_file(runs, name):
    r, _, after = runs[(name, "filtered")]
    u, _, uafter = runs[(name, "unfiltered")]
    assert (r.out["bind(AF_UNIX, path)"], r.out["socket file exists"]) == ("EPERM", "False")
    assert "sock" not in after
    assert (u.out["bind(AF_UNIX, path)"], u.out["socket file exists"]) == ("ok", "True")
    assert "sock" in uafter


def test_read_only_cannot_create_a_unix_socket_file(runs):
    r, _, _ = runs[("read-only", "filtered")]
    assert r.out["socket(AF_UNIX,SOCK_STREAM)"] == r.out["socket(AF_UNIX|1<<32,SOCK_STREAM)"] == "EPERM"
    assert r.out["bind(AF_UNIX, path)"] == "EPERM"
    assert r.out["socket file exists"] == "False"
    # what it still has: IPv4/IPv6 servers, NETLINK_ROUTE, AF_UNIX socket pairs
    assert r.out["socket(AF_INET,SOCK_STREAM)"] == r.out["socket(AF_NETLINK,SOCK_RAW,ROUTE)"] == "fd"
    assert r.out["socket.socketpair()"] == "ok:b'x'" and r.out["multiprocessing Pipe"] == "ok:{'k': 1}"


@pytest.mark.parametrize("name", ["read-only", "strict"])
def test_no_inode_changes_through_ioctl(runs, name):
    r, before, after = runs[(name, "filtered")]
    u, ubefore, uafter = runs[(name, "unfiltered")]
    for label in _INODE_SETTERS:
        assert r.out[f"ioctl(O_RDONLY fd,{label})"] == "EPERM", label
    # inode unchanged: flags, struct fsxattr and generation as the parent reads them
    for target in ("inode", "nokey"):
        assert before[target][INODE_ATTRS] is not None, target
        assert after[target][INODE_ATTRS] == before[target][INODE_ATTRS], target
    # the contrast: each unfiltered setter that succeeded changed what the parent reads
    for i, setter in enumerate(("FS_IOC_SETFLAGS", "FS_IOC_FSSETXATTR", "FS_IOC_SETVERSION")):
        if u.out[f"ioctl(O_RDONLY fd,{setter})"] == "rc=0":
            assert uafter["inode"][INODE_ATTRS][i] != ubefore["inode"][INODE_ATTRS][i], (
                f"the unfiltered {setter} changed nothing, so this proves nothing")


@pytest.mark.parametrize("name", ["net-client", "net-server", "strict", "read-only"])
def test_profiles_with_polling_run_asyncio(runs, name):
    r, _, _ = runs[(name, "filtered")]
    got = {k: v for k, v in r.out.items() if k.startswith("asyncio")}
    assert got and all(v.startswith("ok:") for v in got.values()), got


# ext4's own number for FS_IOC_SETVERSION (read-only and strict refused FS_IOC_SETVERSION and
# FS_IOC32_SETVERSION only, while terminal granted every other ioctl), alone in a child of its own so that the
# unfiltered contrast shows what it does by itself. The generation is read by the parent before and after.
SETVERSION_PREP = """
    _ino = os.open(P("inode"), os.O_RDONLY)
    _g0 = ctypes.c_int(0)
    _gen0 = sc("ioctl", _ino, 0x80087601, ctypes.byref(_g0))  # FS_IOC_GETVERSION
    _new = ctypes.c_int((_g0.value + 1 + 2**31) % 2**32 - 2**31)
"""
SETVERSION_PROBE = """
    out["FS_IOC_GETVERSION before enable"] = _gen0
    out["ioctl(O_RDONLY fd, EXT4_IOC_SETVERSION)"] = sc("ioctl", _ino, 0x40086604, ctypes.byref(_new))
    out["FS_IOC_GETVERSION"] = sc("ioctl", _ino, 0x80087601, ctypes.byref(ctypes.c_int(0)))
"""


@pytest.fixture(scope="module")
def ext4_setversion(tmp_path_factory):
    """name (None: unfiltered) -> (child's results, inode_attrs of the target before, after)."""
    got = {}
    for name in ("read-only", "strict", None):
        d = tmp_path_factory.mktemp(f"setversion-{name}")
        make_tree(d)
        before = inode_attrs(d / "inode")
        r = run_profile_child(name, d, code(_COMMON_PREP, SETVERSION_PREP), code(SETVERSION_PROBE))
        assert r.returncode == 0 and "__error__" not in r.out, r
        assert r.out["__seccomp__"] == ("2 1" if name else "0 0"), r
        got[name] = (r.out, before, inode_attrs(d / "inode"))
    return got


@pytest.mark.parametrize("name", ["read-only", "strict"])
def test_no_generation_change_through_ext4_setversion(ext4_setversion, name):
    u, ubefore, uafter = ext4_setversion[None]
    if u["ioctl(O_RDONLY fd, EXT4_IOC_SETVERSION)"] != "rc=0" or uafter[2] == ubefore[2]:
        pytest.skip(f"the temporary directory's file system has no settable generation: {u} {ubefore} {uafter}")
    r, before, after = ext4_setversion[name]
    assert r["FS_IOC_GETVERSION before enable"] == "rc=0"
    assert r["ioctl(O_RDONLY fd, EXT4_IOC_SETVERSION)"] == "EPERM"
    # the getter is refused too now (an allowlist of terminal requests), and was not unfiltered
    assert (r["FS_IOC_GETVERSION"], u["FS_IOC_GETVERSION"]) == ("EPERM", "rc=0")
    assert after == before, "generation (or flags) changed"


# what the profiles decide for ioctl requests (fd 3; each request also with a foreign high half). Every built-in
# grants terminal or device-control (which includes it) and stdio: their requests are allowed everywhere,
# TIOCSTI and TIOCLINUX nowhere; everything else only where device-control is granted.
TERMINAL_REQUESTS = (*range(0x5401, 0x5412), 0x5413, 0x5414, 0x5422, 0x5425, 0x5429, 0x80045430, 0x40045431, 0x5441)
STDIO_REQUESTS = (FIONREAD, 0x5421, 0x5450, 0x5451)  # FIONREAD, FIONBIO, FIONCLEX, FIOCLEX
TIOCSTI, TIOCLINUX, TIOCCONS, TIOCGETD = 0x5412, 0x541C, 0x541D, 0x5424
FS_REQUESTS = {
    "FS_IOC_SETFLAGS": FS_IOC_SETFLAGS, "FS_IOC32_SETFLAGS": FS_IOC32_SETFLAGS, "FS_IOC_FSSETXATTR": FS_IOC_FSSETXATTR,
    "FS_IOC_SETVERSION": FS_IOC_SETVERSION, "FS_IOC32_SETVERSION": FS_IOC32_SETVERSION,
    "EXT4_IOC_SETVERSION": EXT4_IOC_SETVERSION, "FS_IOC_SET_ENCRYPTION_POLICY": FS_IOC_SET_ENCRYPTION_POLICY,
    "FS_IOC_GETFLAGS": FS_IOC_GETFLAGS, "FS_IOC_FSGETXATTR": FS_IOC_FSGETXATTR, "FS_IOC_GETVERSION": FS_IOC_GETVERSION,
    "EXT4_IOC_GETVERSION": EXT4_IOC_GETVERSION, "FIOQSIZE": FIOQSIZE,
}
NO_DEVICE_CONTROL = sorted(set(BUILTINS) - DEVICE_CONTROL)


def _decide_ioctl(rs, req: int):
    return rs.decide("ioctl", (3, req, 0, 0, 0, 0))


@pytest.mark.parametrize("name", NO_DEVICE_CONTROL)
@pytest.mark.parametrize("request_", [pytest.param(r, id=n) for n, r in FS_REQUESTS.items()])
def test_profile_refuses_inode_changing_ioctls(name, request_):
    """Setters and getters alike, their neighbours too: read-only and strict (and net-client/net-server, built
    on strict) allow no file-system ioctl."""
    rs = profile.load(name).ruleset()
    for req in (request_, request_ | HIGH1, request_ | HIGHF, request_ + 1, request_ | 0x10000):
        got = _decide_ioctl(rs, req)
        assert got.denies and got.errno == errno.EPERM, f"{name}: ioctl(fd, {req:#x}) -> {got}"


@pytest.mark.parametrize("name", BUILTINS)
def test_ioctl_decisions_of_every_builtin(name):
    prof = profile.load(name)
    rs = prof.ruleset()
    assert ("device-control" in prof.capabilities) == (name in DEVICE_CONTROL)
    assert "stdio" in prof.capabilities
    assert ("terminal" in prof.capabilities) == (name not in DEVICE_CONTROL)
    for high in (0, HIGH1, HIGHF):
        for req in TERMINAL_REQUESTS + STDIO_REQUESTS:
            assert not _decide_ioctl(rs, req | high).denies, f"{name}: ioctl(fd, {req | high:#x})"
        for req in (TIOCSTI, TIOCLINUX):
            got = _decide_ioctl(rs, req | high)
            assert got.denies and got.errno == errno.EPERM, f"{name}: ioctl(fd, {req | high:#x}) -> {got}"
        for req in (TIOCCONS, TIOCGETD, 0x5415, TIOCSTI | 0x10000, 0x80005412, 0x12345678, *FS_REQUESTS.values()):
            got = _decide_ioctl(rs, req | high)
            if name in DEVICE_CONTROL:
                assert not got.denies, f"{name}: ioctl(fd, {req | high:#x}) -> {got}"
            else:
                assert got.denies and got.errno == errno.EPERM, f"{name}: ioctl(fd, {req | high:#x}) -> {got}"


# ------------------------------------------------------------------------------------------------------ the CLI
@pytest.mark.parametrize("name", BUILTINS)
def test_run_refuses_profiles_that_deny_execve(name):
    """`sysfence run` execs its command, so a profile that denies execve cannot run anything: exit 125 and one
    line saying why, before anything is loaded. The others run the command under the filter."""
    p = sysfence_cli("run", "--profile", name, "--", "true")
    denies_exec = profile.load(name).ruleset().decide("execve").denies
    if denies_exec:
        assert p.returncode == 125, p
        assert p.stdout == ""
        lines = p.stderr.splitlines()
        assert len(lines) == 1, p.stderr
        assert lines[0].startswith("sysfence: error: ")
        assert "execve" in lines[0] and repr(name) in lines[0], lines[0]
    else:
        assert p.returncode == 0, p.stderr
        assert p.stderr == ""


def test_run_strict_true_exits_125_naming_execve():
    p = sysfence_cli("run", "--profile", "strict", "--", "true")
    assert p.returncode == 125
    assert re.fullmatch(r"sysfence: error: profile 'strict' denies execve\b.*\n", p.stderr), p.stderr


def test_which_builtins_allow_exec():
    allow = {n for n in BUILTINS if not profile.load(n).ruleset().decide("execve").denies}
    assert allow == {"default", "read-only", "no-network"}


def test_show_lists_all_seven_profiles():
    p = sysfence_cli("show")
    assert p.returncode == 0, p.stderr
    listed = [line.split()[0] for line in p.stdout.splitlines() if line.startswith("  ") and line.strip()]
    assert listed == BUILTINS == sorted(profile.builtin_names()), p.stdout
    assert len(listed) == 7


@pytest.mark.parametrize("name", BUILTINS)
def test_show_json_per_profile(name):
    p = sysfence_cli("show", name, "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["schema_version"] == 1
    assert data["dangerous_capabilities"] == []

