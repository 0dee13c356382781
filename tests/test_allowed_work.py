"""Normal Python work succeeds under the embedded default profile, against the real kernel.

Every case runs in a child process that first loads the default profile with `required=True` and proves the
filter is on (conftest.run_enforced checks Seccomp: 2 and NoNewPrivs: 1).  Each child prints exact markers
that the test compares in full, so a child that silently skipped work cannot pass.  A failure here is a
syscall the default profile denies although ordinary Python needs it: do not weaken the case, find the
syscall (`strace -f` under `python -m sysfence run`, look for EPERM/ENOSYS) and fix the profile.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_enforced, sysfence_cli

DATA = Path(__file__).resolve().parent / "data"
SSL_DIR = DATA / "ssl"


def enforced(code: str, *, lib: str = "", timeout: float = 60, **consts: object) -> subprocess.CompletedProcess:
    """run_enforced(code) with `NAME = repr(value)` lines for each keyword, then `lib`, put in front of it."""
    head = "".join(f"{name} = {value!r}\n" for name, value in consts.items())
    return run_enforced(head + textwrap.dedent(lib) + textwrap.dedent(code), timeout=timeout)


def check(r: subprocess.CompletedProcess, expected: str) -> None:
    """The child exited 0 and printed exactly `expected` (leading/trailing whitespace of lines stripped)."""
    diag = f"\n--- exit {r.returncode}\n--- stdout:\n{r.stdout}\n--- stderr:\n{r.stderr}"
    assert r.returncode == 0, "child failed" + diag
    want = [line.strip() for line in textwrap.dedent(expected).strip().splitlines()]
    assert r.stdout.strip().splitlines() == want, "unexpected output" + diag


# ---------------------------------------------------------------------------------------------------- files


def _user_xattr_line(directory: Path) -> str:
    """What the child should print for user xattrs on `directory`, probed here without a filter."""
    probe = directory / ".xattr-probe"
    probe.touch()
    try:
        os.setxattr(probe, "user.probe", b"1")
        return "xattr v ['user.sysfence']"
    except OSError as e:
        assert e.errno == errno.ENOTSUP, e
        return "xattr ENOTSUP"
    finally:
        probe.unlink()


def test_file_io(tmp_path):
    xattr_line = _user_xattr_line(tmp_path)
    r = enforced(
        """
        import errno, fcntl, os, shutil, stat, tempfile
        d = os.path.join(WD, "dir")
        os.mkdir(d)
        os.makedirs(os.path.join(d, "a", "b"))
        p = os.path.join(d, "f.txt")
        with open(p, "w") as f:
            f.write("hello\\n")
        with open(p, "a") as f:
            f.write("world\\n")
        with open(p, "r+b") as f:
            f.seek(0)
            f.write(b"J")
            f.flush()
            os.fsync(f.fileno())
        with open(p) as f:
            print("read", repr(f.read()))
        st = os.stat(p)
        print("stat", st.st_size, stat.S_ISREG(st.st_mode))
        os.truncate(p, 5)
        p2 = os.path.join(d, "g.txt")
        os.rename(p, p2)
        os.replace(p2, p)
        os.chmod(p, 0o640)
        os.utime(p, (1_000_000, 2_000_000))
        st = os.lstat(p)
        print("chmod-utime", oct(stat.S_IMODE(st.st_mode)), int(st.st_mtime))
        os.symlink("f.txt", os.path.join(d, "link"))
        os.link(p, os.path.join(d, "hard"))
        print("links", os.readlink(os.path.join(d, "link")), os.stat(p).st_nlink)
        print("access", os.access(p, os.R_OK | os.W_OK), os.path.exists(os.path.join(d, "nope")))
        try:
            print("listxattr", type(os.listxattr(p)).__name__)
        except OSError as e:  # a filesystem may lack xattrs (ENOTSUP); the filter must never say EPERM
            print("listxattr", "list" if e.errno == errno.ENOTSUP else f"errno {e.errno}")
        print("listdir", sorted(os.listdir(d)))
        with os.scandir(d) as it:
            print("scandir", sorted((e.name, e.is_dir(follow_symlinks=False), e.is_symlink()) for e in it))
        old = os.getcwd()
        os.chdir(d)
        print("cwd", os.getcwd() == os.path.realpath(d))
        os.chdir(old)

        c = os.path.join(WD, "copy.txt")
        shutil.copy2(p, c)
        print("copy2", open(c).read(), int(os.stat(c).st_mtime), oct(stat.S_IMODE(os.stat(c).st_mode)))
        t = os.path.join(WD, "tree")
        shutil.copytree(d, t, symlinks=True)
        print("copytree", sorted(os.listdir(t)), os.readlink(os.path.join(t, "link")), os.path.isdir(os.path.join(t, "a", "b")))
        shutil.move(os.path.join(t, "hard"), os.path.join(t, "moved"))
        shutil.rmtree(t)
        print("rmtree", os.path.exists(t))

        fifo = os.path.join(WD, "fifo")
        os.mkfifo(fifo)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        wfd = os.open(fifo, os.O_WRONLY)
        os.write(wfd, b"through the fifo")
        print("fifo", stat.S_ISFIFO(os.stat(fifo).st_mode), os.read(rfd, 100).decode())
        os.close(wfd); os.close(rfd)

        for name in ("link", "hard", "f.txt"):
            os.unlink(os.path.join(d, name))
        os.removedirs(os.path.join(d, "a", "b"))
        os.unlink(fifo); os.unlink(c)
        print("cleaned", os.listdir(WD))

        # lower-level file calls the stdlib wraps: vectored and positional I/O, locks, zero-copy, allocation
        q = os.path.join(WD, "low")
        fd = os.open(q, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.writev(fd, [b"abc", b"def"])
        os.pwritev(fd, [b"XY"], 1)
        buf = bytearray(6)
        os.preadv(fd, [buf], 0)
        fcntl.flock(fd, fcntl.LOCK_EX); fcntl.flock(fd, fcntl.LOCK_UN)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); fcntl.lockf(fd, fcntl.LOCK_UN)
        os.posix_fallocate(fd, 0, 8192)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        os.fdatasync(fd); os.fchmod(fd, 0o644); os.fchown(fd, os.getuid(), os.getgid())
        os.utime(fd, ns=(5, 6_000_000_000))
        out = os.open(os.path.join(WD, "low2"), os.O_RDWR | os.O_CREAT, 0o600)
        n_sendfile = os.sendfile(out, fd, 0, 3)
        n_cfr = os.copy_file_range(fd, out, 3, 3, 3)
        r_, w_ = os.pipe()
        n_splice = os.splice(fd, w_, 2, offset_src=0)
        print("lowlevel", bytes(buf).decode(), os.fstat(fd).st_size, int(os.fstat(fd).st_mtime), n_sendfile, n_cfr,
              os.pread(out, 6, 0).decode(), n_splice, os.read(r_, 2).decode(), os.fstatvfs(fd).f_bsize > 0)
        os.sync()
        for x in (fd, out, r_, w_): os.close(x)
        print("fwalk", sorted(root[len(WD):] or "." for root, _, _, _ in os.fwalk(WD)))
        os.unlink(q); os.unlink(os.path.join(WD, "low2"))
        x = os.path.join(WD, "xattr")
        open(x, "w").close()
        try:
            os.setxattr(x, "user.sysfence", b"v")
            os.setxattr(x, "user.gone", b"w"); os.removexattr(x, "user.gone")
            shutil.copy2(x, x + "2")
            print("xattr", os.getxattr(x + "2", "user.sysfence").decode(), sorted(os.listxattr(x + "2")))
            os.unlink(x + "2")
        except OSError as e:  # xattrs unsupported by this filesystem: only ENOTSUP is acceptable
            print("xattr", errno.errorcode[e.errno])
        os.unlink(x)

        sum(i * i for i in range(200_000))  # burn a little CPU so user time can be non-zero
        tm = os.times()
        print("times", 0 <= tm.user < 1e6 and 0 <= tm.system < 1e6 and tm.user + tm.system >= 0,
              0 <= tm.children_user < 1e6 and 0 <= tm.children_system < 1e6, tm.elapsed > 0)
        sv = os.statvfs(WD)
        print("statvfs", sv.f_bsize > 0)

        with tempfile.NamedTemporaryFile("w+", dir=WD) as f:
            f.write("tmp"); f.flush(); f.seek(0)
            print("named", f.read(), os.path.exists(f.name))
        fd, name = tempfile.mkstemp()
        os.write(fd, b"x"); os.close(fd); os.unlink(name)
        with tempfile.TemporaryDirectory() as td:
            open(os.path.join(td, "x"), "w").close()
            print("tmpdir", os.listdir(td))
        with tempfile.SpooledTemporaryFile(max_size=10) as f:
            f.write(b"y" * 100)
            f.seek(0)
            print("spooled", len(f.read()))
        with tempfile.TemporaryFile() as f:
            f.write(b"anon"); f.seek(0)
            print("tempfile", f.read().decode())
        """,
        WD=str(tmp_path),
    )
    check(r, """
        read 'Jello\\nworld\\n'
        stat 12 True
        chmod-utime 0o640 2000000
        links f.txt 2
        access True False
        listxattr list
        listdir ['a', 'f.txt', 'hard', 'link']
        scandir [('a', True, False), ('f.txt', False, False), ('hard', False, False), ('link', False, True)]
        cwd True
        copy2 Jello 2000000 0o640
        copytree ['a', 'f.txt', 'hard', 'link'] f.txt True
        rmtree False
        fifo True through the fifo
        cleaned []
        lowlevel aXYdef 8192 6 3 3 aXYdef 2 aX True
        fwalk ['.']
        {xattr_line}
        times True True True
        statvfs True
        named tmp True
        tmpdir ['x']
        spooled 100
        tempfile anon
    """.replace("{xattr_line}", xattr_line))


# ---------------------------------------------------------------------------------------------------- sockets

_TCP_ECHO = """
import socket, threading

def echo_server(family, host):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, 0))
    srv.listen()
    def serve():
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data.upper())
        srv.close()
    t = threading.Thread(target=serve)
    t.start()
    return srv.getsockname()[:2], t

def tcp_roundtrip(family, host):
    addr, t = echo_server(family, host)
    with socket.create_connection(addr, timeout=10) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"ping")
        c.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := c.recv(4096):
            got += chunk
    t.join(10)
    return got.decode()
"""


def test_sockets_loopback_ipv4_udp_unix(tmp_path):
    r = enforced(
        """
        import os
        print("tcp4", tcp_roundtrip(socket.AF_INET, "127.0.0.1"))

        u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(("127.0.0.1", 0))
        u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u2.bind(("127.0.0.1", 0))
        u2.settimeout(10)
        u1.sendto(b"datagram", u2.getsockname())
        data, frm = u2.recvfrom(100)
        print("udp", data.decode(), frm == u1.getsockname())
        u1.close(); u2.close()

        a, b = socket.socketpair()
        a.sendall(b"pair")
        print("socketpair", b.recv(10).decode(), a.family == socket.AF_UNIX)
        r_, w_ = os.pipe()
        socket.send_fds(a, [b"fd"], [w_])                     # SCM_RIGHTS over sendmsg/recvmsg
        msg, fds, _, _ = socket.recv_fds(b, 10, 1)
        os.write(fds[0], b"passed"); os.close(fds[0]); os.close(w_)
        print("scm_rights", msg.decode(), os.read(r_, 10).decode())
        a.close(); b.close()

        path = os.path.join(WD, "sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path); srv.listen()
        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cli.connect(path)
        conn, _ = srv.accept()
        cli.sendall(b"unix path")
        print("unix", conn.recv(100).decode(), srv.getsockname() == path)
        conn.close(); cli.close(); srv.close(); os.unlink(path)

        import http.server, urllib.request
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        httpd.RequestHandlerClass.log_message = lambda *a: None
        open(os.path.join(WD, "page.txt"), "w").write("served over http")
        os.chdir(WD)
        th = threading.Thread(target=httpd.serve_forever); th.start()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{httpd.server_address[1]}/page.txt", timeout=10) as resp:
            print("http", resp.status, resp.read().decode())
        httpd.shutdown(); th.join(10); httpd.server_close()
        infos = socket.getaddrinfo("localhost", 8080, type=socket.SOCK_STREAM)
        print("getaddrinfo", any(i[4][0] in ("127.0.0.1", "::1") and i[4][1] == 8080 for i in infos))
        print("gethostname", bool(socket.gethostname()), socket.gethostbyname("localhost").startswith("127."))
        print("if_nameindex", any(name == "lo" for _, name in socket.if_nameindex()))
        """,
        lib=_TCP_ECHO, WD=str(tmp_path),
    )
    check(r, """
        tcp4 PING
        udp datagram True
        socketpair pair True
        scm_rights fd passed
        unix unix path True
        http 200 served over http
        getaddrinfo True
        gethostname True True
        if_nameindex True
    """)


def _ipv6_loopback_usable() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_usable(), reason="IPv6 loopback ::1 is not usable on this machine")
def test_sockets_loopback_ipv6():
    r = enforced(lib=_TCP_ECHO, code="""
        print("tcp6", tcp_roundtrip(socket.AF_INET6, "::1"))
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::1", 0)); u.settimeout(10)
        u.sendto(b"v6 datagram", u.getsockname())
        print("udp6", u.recv(100).decode())
    """)
    check(r, """
        tcp6 PING
        udp6 v6 datagram
    """)


# ---------------------------------------------------------------------------------------------------- threads


def test_threads_locks_queues_executor():
    r = enforced("""
        import concurrent.futures, queue, threading
        lock = threading.Lock()
        counter = 0
        def bump():
            global counter
            for _ in range(1000):
                with lock:
                    counter += 1
        ts = [threading.Thread(target=bump) for _ in range(8)]
        for t in ts: t.start()
        for t in ts: t.join(30)
        print("lock", counter)

        cond = threading.Condition()
        items = []
        def producer():
            for i in range(5):
                with cond:
                    items.append(i)
                    cond.notify()
        def consumer(out):
            got = 0
            while got < 5:
                with cond:
                    cond.wait_for(lambda: items, timeout=30)
                    got += len(items); out.extend(items); items.clear()
        out = []
        c = threading.Thread(target=consumer, args=(out,)); c.start()
        p = threading.Thread(target=producer); p.start()
        p.join(30); c.join(30)
        print("condition", out)

        q = queue.Queue()
        def worker():
            while (item := q.get()) is not None:
                q.task_done()
                results.put(item * 2)
            q.task_done()
        results = queue.Queue()
        ws = [threading.Thread(target=worker) for _ in range(3)]
        for w in ws: w.start()
        for i in range(10): q.put(i)
        for _ in ws: q.put(None)
        q.join()
        for w in ws: w.join(30)
        print("queue", sorted(results.get() for _ in range(10)))

        ev = threading.Event(); sem = threading.BoundedSemaphore(2); bar = threading.Barrier(3, timeout=30)
        def waiter():
            with sem:
                bar.wait()
            ev.wait(30)
        ws = [threading.Thread(target=waiter) for _ in range(2)]
        for w in ws: w.start()
        bar.wait(); ev.set()
        for w in ws: w.join(30)
        print("event-barrier", all(not w.is_alive() for w in ws))
        timer = threading.Timer(0.01, ev.clear); timer.start(); timer.join(30)
        print("timer", ev.is_set())
        local = threading.local()
        local.x = 1
        th = threading.Thread(target=lambda: setattr(local, "x", 2)); th.start(); th.join()
        print("local", local.x)

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            print("executor", list(ex.map(lambda x: x ** 2, range(8))))
            futs = [ex.submit(threading.get_native_id) for _ in range(4)]
            print("native-ids", all(isinstance(f.result(30), int) for f in futs))
    """)
    check(r, """
        lock 8000
        condition [0, 1, 2, 3, 4]
        queue [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
        event-barrier True
        timer False
        local 1
        executor [0, 1, 4, 9, 16, 25, 36, 49]
        native-ids True
    """)


# ---------------------------------------------------------------------------------------------------- subprocess


def test_subprocess_fork_spawn_and_children_are_filtered():
    r = enforced("""
        import os, subprocess, sys
        def run(*a, **kw):
            return subprocess.run(*a, capture_output=True, text=True, timeout=30, **kw)
        r = run(["/bin/echo", "hello", "world"])
        print("echo", r.returncode, r.stdout.strip())
        r = run([sys.executable, "-c",
                 "import os\\n"
                 "st = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\\n"
                 "print(st['Seccomp'].strip(), st['NoNewPrivs'].strip())\\n"
                 "try:\\n    os.chroot('/')\\nexcept PermissionError as e:\\n    print('child-chroot', e.errno)"])
        print("python-child", r.returncode, r.stdout.split(), repr(r.stderr))
        r = run("echo abc def | tr a-z A-Z | sed s/DEF/xyz/; grep '^Seccomp:' /proc/self/status", shell=True)
        print("shell", r.returncode, r.stdout.split())
        r = run("exit 3", shell=True)
        print("shell-exit", r.returncode)
        p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, _ = p.communicate(b"piped", timeout=30)
        print("popen", p.returncode, out.decode())
        print("check_output", subprocess.check_output(["/bin/sh", "-c", "echo $((6*7))"], timeout=30).decode().strip())

        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            st = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
            os.write(wfd, st["Seccomp"].strip().encode())
            os._exit(5)
        os.close(wfd)
        got = os.read(rfd, 10).decode(); os.close(rfd)
        _, status = os.waitpid(pid, 0)
        print("fork", os.waitstatus_to_exitcode(status), got)

        pid = os.posix_spawn("/bin/sh", ["sh", "-c", "grep -q '^Seccomp:[[:space:]]*2$' /proc/self/status && exit 7"], os.environ)
        _, status = os.waitpid(pid, 0)
        print("posix_spawn", os.waitstatus_to_exitcode(status))
        pid = os.posix_spawnp("true", ["true"], os.environ)
        print("posix_spawnp", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        r = run(["/bin/echo", "no-vfork"], close_fds=False, preexec_fn=lambda: None)  # fork (not vfork) + exec
        print("preexec", r.returncode, r.stdout.strip())
        r = run(["/bin/sh", "-c", "exit 0"], start_new_session=True)
        print("new-session", r.returncode)
        p = subprocess.Popen(["sleep", "0.05"])
        pidfd = os.pidfd_open(p.pid)
        import select, signal
        poller = select.poll(); poller.register(pidfd, select.POLLIN)
        print("pidfd", len(poller.poll(30_000)), os.waitid(os.P_PIDFD, pidfd, os.WEXITED).si_status)
        os.close(pidfd); p.returncode = 0
        p = subprocess.Popen(["sleep", "30"])
        signal.pidfd_send_signal(fd := os.pidfd_open(p.pid), signal.SIGTERM); os.close(fd)
        print("pidfd_send_signal", p.wait(30))
        p = subprocess.Popen(["sleep", "30"]); p.kill()
        print("kill", p.wait(30))
        pid = os.fork()
        if pid == 0:
            os._exit(9)
        print("wait4", os.waitstatus_to_exitcode(os.wait4(pid, 0)[1]))
        import pty
        pid, master = pty.fork()
        if pid == 0:
            os.write(1, b"from-pty " + str(os.isatty(0)).encode())
            os._exit(0)
        data = b""
        while True:
            try:
                chunk = os.read(master, 100)
            except OSError:  # EIO once the child closed the terminal
                break
            if not chunk:
                break
            data += chunk
        print("pty.fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), data.decode().strip())
    """)
    check(r, """
        echo 0 hello world
        python-child 0 ['2', '1', 'child-chroot', '1'] ''
        shell 0 ['ABC', 'xyz', 'Seccomp:', '2']
        shell-exit 3
        popen 0 piped
        check_output 42
        fork 5 2
        posix_spawn 7
        posix_spawnp 0
        preexec 0 no-vfork
        new-session 0
        pidfd 1 0
        pidfd_send_signal -15
        kill -9
        wait4 9
        pty.fork 0 from-pty True
    """)


# ---------------------------------------------------------------------------------------------------- asyncio


def test_asyncio_tcp_sleep_executor_subprocess():
    r = enforced("""
        import asyncio, socket, sys

        async def handle(reader, writer):
            data = await reader.readline()
            writer.write(data.upper())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async def main():
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            async with server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"async echo\\n")
                await writer.drain()
                print("tcp", (await asyncio.wait_for(reader.readline(), 10)).decode().strip())
                writer.close()
                await writer.wait_closed()
            await asyncio.sleep(0.01)
            print("sleep", "done")
            loop = asyncio.get_running_loop()
            print("executor", await loop.run_in_executor(None, sum, range(10)))
            print("to_thread", await asyncio.to_thread(pow, 2, 10))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import sys; print(sys.stdin.read()[::-1])",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(proc.communicate(b"olleh"), 30)
            print("subprocess_exec", proc.returncode, out.decode().strip())
            proc = await asyncio.create_subprocess_shell("echo shell | tr a-z A-Z", stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            print("subprocess_shell", proc.returncode, out.decode().strip())
            results = await asyncio.gather(*(asyncio.sleep(0, result=i) for i in range(3)))
            print("gather", results)
            import os, signal
            got = asyncio.Event()
            loop.add_signal_handler(signal.SIGUSR1, got.set)
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(got.wait(), 10)
            print("signal-handler", got.is_set())
            loop.remove_signal_handler(signal.SIGUSR1)
            rsock, wsock = socket.socketpair()
            r, w = await asyncio.open_connection(sock=rsock)
            wsock.sendall(b"unix-line\\n")
            print("sock-stream", (await asyncio.wait_for(r.readline(), 10)).decode().strip())
            w.close(); wsock.close()

        asyncio.run(main())
    """)
    check(r, """
        tcp ASYNC ECHO
        sleep done
        executor 45
        to_thread 1024
        subprocess_exec 0 hello
        subprocess_shell 0 SHELL
        gather [0, 1, 2]
        signal-handler True
        sock-stream unix-line
    """)


# ---------------------------------------------------------------------------------------------------- sqlite3


def test_sqlite3_memory_disk_wal(tmp_path):
    r = enforced(
        """
        import os, sqlite3
        def exercise(con):
            con.execute("create table t (id integer primary key, name text)")
            con.executemany("insert into t (name) values (?)", [("a",), ("b",), ("c",)])
            con.commit()
            return con.execute("select group_concat(name, '') from t order by id").fetchone()[0]
        mem = sqlite3.connect(":memory:")
        print("memory", exercise(mem))
        mem.close()

        path = os.path.join(WD, "rollback.db")
        con = sqlite3.connect(path)
        print("disk", exercise(con), con.execute("pragma journal_mode").fetchone()[0])
        con.close()
        con = sqlite3.connect(path)
        print("reopen", con.execute("select count(*) from t").fetchone()[0])
        con.close()

        path = os.path.join(WD, "wal.db")
        con = sqlite3.connect(path)
        print("wal-mode", con.execute("pragma journal_mode=wal").fetchone()[0])
        print("wal", exercise(con))
        other = sqlite3.connect(path)          # a second connection reads through the shared-memory index
        print("wal-reader", other.execute("select count(*) from t").fetchone()[0])
        con.execute("insert into t (name) values ('d')"); con.commit()
        print("wal-reader-after", other.execute("select count(*) from t").fetchone()[0])
        print("checkpoint", con.execute("pragma wal_checkpoint(truncate)").fetchone()[0])
        other.close(); con.close()
        con = sqlite3.connect(path)
        dump = "\\n".join(con.iterdump())
        print("dump", "INSERT INTO \\"t\\" VALUES(4,'d');" in dump)
        bak = sqlite3.connect(os.path.join(WD, "backup.db"))
        con.backup(bak)
        print("backup", bak.execute("select count(*) from t").fetchone()[0])
        bak.close(); con.close()
        """,
        WD=str(tmp_path),
    )
    check(r, """
        memory abc
        disk abc delete
        reopen 3
        wal-mode wal
        wal abc
        wal-reader 3
        wal-reader-after 4
        checkpoint 0
        dump True
        backup 4
    """)


# ---------------------------------------------------------------------------------------------------- ssl, random


def test_ssl_handshake_loopback_and_randomness():
    r = enforced(
        """
        import hashlib, hmac, os, secrets, socket, ssl, threading, random
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(CERT, KEY)
        client_ctx = ssl.create_default_context(cafile=CERT)    # verifies the chain and the host name
        srv = socket.create_server(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        def serve():
            conn, _ = srv.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(100)[::-1])
        t = threading.Thread(target=serve); t.start()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                print("tls", tls.version() in ("TLSv1.2", "TLSv1.3"), tls.getpeercert()["subject"][0][0][1])
                tls.sendall(b"secret")
                print("tls-data", tls.recv(100).decode())
        t.join(10); srv.close()
        ssl.RAND_bytes(16)
        print("hashlib", hashlib.sha256(b"abc").hexdigest()[:16], hashlib.md5(b"").hexdigest()[:8],
              len(hashlib.pbkdf2_hmac("sha256", b"pw", os.urandom(16), 1000)), len(hashlib.scrypt(b"pw", salt=b"s", n=16, r=8, p=1)))
        print("hmac", hmac.new(b"k", b"m", "sha256").hexdigest()[:8])
        print("urandom", len(os.urandom(32)), len(secrets.token_bytes(32)), len(secrets.token_hex(8)), 0 <= secrets.randbelow(10) < 10)
        print("getrandom", len(os.getrandom(16)), len(os.getrandom(16, os.GRND_NONBLOCK)))
        print("random", 0 <= random.SystemRandom().random() < 1)
        """,
        CERT=str(SSL_DIR / "cert.pem"), KEY=str(SSL_DIR / "key.pem"),
    )
    check(r, """
        tls True localhost
        tls-data terces
        hashlib ba7816bf8f01cfea d41d8cd9 32 64
        hmac b60090e3
        urandom 32 32 16 True
        getrandom 16 16
        random True
    """)


# ---------------------------------------------------------------------------------------------------- multiprocessing

_MP_WORKER = '''
import os

def seccomp_mode(_=None):
    st = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
    return int(st["Seccomp"])

def square(x):
    assert seccomp_mode() == 2
    return x * x

def produce(q):
    q.put(("from-child", seccomp_mode()))

def add(value, lock, n):
    for _ in range(n):
        with lock:
            value.value += 1

def write_shm(name):
    from multiprocessing import shared_memory
    shm = shared_memory.SharedMemory(name=name)
    shm.buf[:5] = b"hello"
    shm.close()
'''


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing(tmp_path, method):
    (tmp_path / "mpwork.py").write_text(_MP_WORKER)
    r = enforced(
        """
        import sys
        sys.path.insert(0, WD)
        import multiprocessing as mp
        from multiprocessing import shared_memory
        import mpwork

        if __name__ == "__main__":
            ctx = mp.get_context(METHOD)
            with ctx.Pool(2) as pool:
                print("pool", pool.map(mpwork.square, range(6)), pool.apply_async(mpwork.seccomp_mode).get(30))
            q = ctx.Queue()
            p = ctx.Process(target=mpwork.produce, args=(q,)); p.start()
            print("queue", q.get(timeout=30)); p.join(30)
            print("queue-exit", p.exitcode)
            value, lock = ctx.Value("i", 0), ctx.Lock()
            ps = [ctx.Process(target=mpwork.add, args=(value, lock, 200)) for _ in range(2)]
            for p in ps: p.start()
            for p in ps: p.join(30)
            print("value", value.value, [p.exitcode for p in ps])
            shm = shared_memory.SharedMemory(create=True, size=64)
            try:
                p = ctx.Process(target=mpwork.write_shm, args=(shm.name,)); p.start(); p.join(30)
                print("shared_memory", p.exitcode, bytes(shm.buf[:5]).decode())
            finally:
                shm.close(); shm.unlink()
            with ctx.Manager() as m:
                d = m.dict(); d["k"] = "v"
                print("manager", dict(d))
            import concurrent.futures
            with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
                print("process-pool", list(ex.map(mpwork.square, [7, 8])))
        """,
        WD=str(tmp_path), METHOD=method,
    )
    check(r, """
        pool [0, 1, 4, 9, 16, 25] 2
        queue ('from-child', 2)
        queue-exit 0
        value 400 [0, 0]
        shared_memory 0 hello
        manager {'k': 'v'}
        process-pool [49, 64]
    """)
    assert "resource_tracker" not in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------------------- mmap


def test_mmap_anonymous_file_devzero(tmp_path):
    r = enforced(
        """
        import mmap, os
        m = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE)  # Python 3.14 no longer resizes shared anonymous maps
        m[:5] = b"anon!"
        m.seek(0)
        print("anonymous", m.read(5).decode(), len(m))
        m.resize(8192)  # mremap
        print("resized", len(m))
        m.close()
        path = os.path.join(WD, "mapped")
        with open(path, "wb") as f:
            f.write(b"\\0" * 8192)
        with open(path, "r+b") as f:
            m = mmap.mmap(f.fileno(), 0)
            m[100:106] = b"mapped"
            m.flush()
            m.madvise(mmap.MADV_WILLNEED)
            print("file-rw", m.find(b"mapped"))
            m.close()
        with open(path, "rb") as f:
            f.seek(100)
            print("file-persisted", f.read(6).decode())
            ro = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            print("file-ro", ro[100:106].decode(), len(ro))
            ro.close()
        with open("/dev/zero", "r+b") as f:
            z = mmap.mmap(f.fileno(), 4096)
            print("devzero", z[:4] == b"\\0" * 4)
            z[:3] = b"abc"
            print("devzero-write", z[:3].decode())
            z.close()
        fd = os.memfd_create("sysfence-test")
        os.ftruncate(fd, 4096)
        mm = mmap.mmap(fd, 4096)
        mm[:4] = b"memf"
        print("memfd", os.pread(fd, 4, 0).decode())
        mm.close(); os.close(fd)
        """,
        WD=str(tmp_path),
    )
    check(r, """
        anonymous anon! 4096
        resized 8192
        file-rw 100
        file-persisted mapped
        file-ro mapped 8192
        devzero True
        devzero-write abc
        memfd memf
    """)


# ---------------------------------------------------------------------------------------------------- misc


def test_misc_stdlib(tmp_path):
    r = enforced(
        """
        import ctypes, ctypes.util, gzip, io, json, locale, os, platform, pwd, grp, resource, select, signal
        import socket, sys, time, zipfile
        libc = ctypes.CDLL(None)
        print("ctypes", libc.getpid() == os.getpid(), ctypes.CDLL(ctypes.util.find_library("c")).abs(-3))
        cb = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)   # libffi closure (W^X trampolines)
        print("ctypes-callback", cb(41))

        print("locale", locale.setlocale(locale.LC_ALL, "C.UTF-8") in ("C.UTF-8", "C.utf8"), bool(locale.getpreferredencoding()))
        time.sleep(0.01)
        print("sleep", time.monotonic() > 0, time.process_time() >= 0, time.perf_counter_ns() > 0, time.time() > 1.6e9)
        print("clock", time.clock_gettime(time.CLOCK_REALTIME) > 1.6e9, time.clock_getres(time.CLOCK_MONOTONIC) > 0)

        hits = []
        signal.signal(signal.SIGALRM, lambda s, f: hits.append(s))
        print("alarm", signal.alarm(100), signal.alarm(0))   # previous remaining seconds: 0, then 100
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        for _ in range(3000):  # up to 30 s; the handler runs as soon as the timer fires
            if hits:
                break
            time.sleep(0.01)
        signal.signal(signal.SIGUSR1, lambda s, f: hits.append(s))
        os.kill(os.getpid(), signal.SIGUSR1)
        signal.raise_signal(signal.SIGUSR1)
        print("signals", hits == [signal.SIGALRM, signal.SIGUSR1, signal.SIGUSR1])
        old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
        os.kill(os.getpid(), signal.SIGUSR2)
        print("sigpending", signal.SIGUSR2 in signal.sigpending(), signal.sigwait([signal.SIGUSR2]) == signal.SIGUSR2)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)

        print("getrandom", len(os.getrandom(8)))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        new = min(soft, 256)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        print("rlimit", resource.getrlimit(resource.RLIMIT_NOFILE) == (new, hard))
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        print("rusage", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0)
        print("pwd", pwd.getpwuid(os.getuid()).pw_uid == os.getuid(), grp.getgrgid(os.getgid()).gr_gid == os.getgid())
        print("platform", platform.platform().startswith("Linux"), bool(platform.machine()), bool(platform.libc_ver()[0]))
        print("uname", os.uname().sysname, os.cpu_count() > 0, len(os.sched_getaffinity(0)) > 0, os.getloadavg()[0] >= 0)
        print("ids", os.getppid() > 0, os.getpgrp() >= 0, os.getsid(0) >= 0, isinstance(os.getgroups(), list))
        os.nice(0)
        print("priority", os.getpriority(os.PRIO_PROCESS, 0) >= -20)

        doc = {"a": [1, 2.5, None, True], "b": {"c": "d\\u00e9"}}
        print("json", json.loads(json.dumps(doc)) == doc)
        zpath = os.path.join(WD, "x.zip")
        with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("a.txt", "zipped " * 100)
            z.writestr("dir/b.bin", bytes(range(256)))
        with zipfile.ZipFile(zpath) as z:
            print("zipfile", z.testzip(), sorted(z.namelist()), z.read("a.txt")[:6].decode())
        gpath = os.path.join(WD, "x.gz")
        with gzip.open(gpath, "wt") as g:
            g.write("gz " * 1000)
        with gzip.open(gpath, "rt") as g:
            print("gzip", len(g.read()), gzip.decompress(gzip.compress(b"abc")).decode())
        import shelve, tarfile, datetime
        with shelve.open(os.path.join(WD, "shelf")) as sh_:
            sh_["k"] = {"v": [1, 2]}
        with shelve.open(os.path.join(WD, "shelf")) as sh_:
            print("shelve", sh_["k"])
        tpath = os.path.join(WD, "x.tar.gz")
        with tarfile.open(tpath, "w:gz") as t:
            t.add(zpath, arcname="x.zip")
        os.mkdir(os.path.join(WD, "untar"))
        with tarfile.open(tpath) as t:
            if hasattr(tarfile, "data_filter"):  # 3.11.4+
                t.extraction_filter = tarfile.data_filter
            t.extractall(os.path.join(WD, "untar"))
        print("tarfile", os.listdir(os.path.join(WD, "untar")), os.path.getsize(os.path.join(WD, "untar", "x.zip")) == os.path.getsize(zpath))
        time.tzset()
        print("datetime", datetime.datetime.now().astimezone().tzinfo is not None, time.strftime("%Y", time.localtime(0)) in ("1969", "1970"))
        import bz2, lzma, zlib
        print("compress", bz2.decompress(bz2.compress(b"b")) + lzma.decompress(lzma.compress(b"l")) + zlib.decompress(zlib.compress(b"z")))

        a, b = socket.socketpair()
        b.send(b"x")
        print("select", select.select([a], [], [], 5)[0] == [a])
        p = select.poll(); p.register(a, select.POLLIN)
        print("poll", p.poll(5000)[0][0] == a.fileno())
        ep = select.epoll(); ep.register(a.fileno(), select.EPOLLIN)
        print("epoll", ep.poll(5)[0][0] == a.fileno())
        ep.close()
        import selectors
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ)
            print("selectors", len(sel.select(5)))
        a.close(); b.close()
        print("sysconf", os.sysconf("SC_PAGE_SIZE") > 0, os.confstr("CS_PATH") is not None)
        import uuid, getpass, shutil as sh
        print("uuid", uuid.uuid4().version, uuid.uuid1().version, bool(getpass.getuser()), sh.disk_usage(WD).total > 0)
        import fcntl, struct, termios, tty
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        tty.setraw(slave)
        os.write(master, b"typed")
        print("pty", os.isatty(slave), tuple(os.get_terminal_size(slave)), os.read(slave, 5).decode(), os.ttyname(slave).startswith("/dev/pts/"))
        os.close(master); os.close(slave)
        import faulthandler, tracemalloc, gc
        faulthandler.enable(); tracemalloc.start(); gc.collect(); tracemalloc.stop()
        print("debug-modules", faulthandler.is_enabled())
        """,
        WD=str(tmp_path),
    )
    check(r, """
        ctypes True 3
        ctypes-callback 42
        locale True True
        sleep True True True True
        clock True True
        alarm 0 100
        signals True
        sigpending True True
        getrandom 8
        rlimit True
        rusage True
        pwd True True
        platform True True True
        uname Linux True True True
        ids True True True True
        priority True
        json True
        zipfile None ['a.txt', 'dir/b.bin'] zipped
        gzip 3000 abc
        shelve {'v': [1, 2]}
        tarfile ['x.zip'] True
        datetime True True
        compress b'blz'
        select True
        poll True
        epoll True
        selectors 1
        sysconf True True
        uuid 4 1 True True
        pty True (80, 24) typed True
        debug-modules True
    """)


# ---------------------------------------------------------------------------------------------------- CLI runs


def test_cli_runs_pytest_on_a_throwaway_project(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "test_tiny.py").write_text(textwrap.dedent("""
        import os, subprocess, sys, threading

        def test_filtered_and_files(tmp_path):
            st = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
            assert st["Seccomp"].strip() == "2" and st["NoNewPrivs"].strip() == "1"
            (tmp_path / "f").write_text("x")
            assert (tmp_path / "f").read_text() == "x"

        def test_threads_and_subprocess():
            out = []
            t = threading.Thread(target=out.append, args=(1,)); t.start(); t.join()
            r = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True, timeout=30)
            assert out == [1] and r.stdout == "42\\n"
    """))
    r = sysfence_cli("run", "--profile", "default", "--required", "--", sys.executable, "-m", "pytest", "-q",
                     "-p", "no:cacheprovider", str(proj), cwd=str(tmp_path), timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "2 passed" in r.stdout, r.stdout + r.stderr


def test_cli_blocked_call_is_a_catchable_permission_error():
    from sysfence import syscalls

    ptrace_nr = syscalls.number("ptrace")
    code = f"PTRACE_NR = {ptrace_nr!r}\n" + textwrap.dedent("""
        import ctypes, errno, os
        st = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
        print("seccomp", st["Seccomp"].strip())
        try:
            os.chroot("/")
        except PermissionError as e:
            print("chroot", errno.errorcode[e.errno])
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        rc = libc.syscall(ctypes.c_long(PTRACE_NR), *[ctypes.c_long(0)] * 4)  # ptrace(PTRACE_TRACEME)
        print("ptrace", rc, errno.errorcode[ctypes.get_errno()])
        print("still-running")
    """)
    r = sysfence_cli("run", "--required", "--", sys.executable, "-c", code, timeout=60)
    check(r, """
        seccomp 2
        chroot EPERM
        ptrace -1 EPERM
        still-running
    """)


def test_cli_uncaught_permission_error_exits_1():
    r = sysfence_cli("run", "--required", "--", sys.executable, "-c",
                     "import os; print('before', flush=True); os.chroot('/'); print('after')", timeout=60)
    assert r.returncode == 1, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert r.stdout == "before\n", r.stdout + r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"PermissionError: [Errno {errno.EPERM}] Operation not permitted"), r.stderr
