"""isolate(), @sandboxed and SandboxPool on the real kernel. Workers are forkserver children, filtered; the
pytest process itself is never filtered. Functions live in a helper module written to a temporary directory
(workers import them by reference)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap

import pytest
from conftest import child_env, run_py

from sysfence.errors import ProfileError, SysfenceError
from sysfence.sandbox import SandboxError, SandboxPool, SandboxViolation, isolate

HELPERS = '''
import os, socket, subprocess, time
from sysfence.sandbox import sandboxed

class Custom(Exception):
    def __init__(self, msg, code=0):
        super().__init__(msg)
        self.code = code

def add(a, b=0):
    return a + b

class Evil:
    """What a compromised worker could send: unpickling it would run a shell command in the caller."""
    def __init__(self, marker):
        self.marker = marker
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))

def evil_result(marker):
    return {"looks": "harmless", "payload": Evil(marker)}

class EvilError(Exception):
    pass

def evil_exception(marker):
    e = EvilError("boom")
    e.payload = Evil(marker)
    raise e

def fail(x):
    raise Custom(f"bad {x}", 42)

def write(path):
    with open(path, "w") as f:
        f.write("x")

def connect(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    finally:
        s.close()

def spawn():
    subprocess.run(["true"], check=True)

def status():
    with open("/proc/self/status") as f:
        d = dict(l.split(":", 1) for l in f if ":" in l)
    return os.getpid(), d["Seccomp"].strip(), d["NoNewPrivs"].strip()

def pid():
    return os.getpid()

def nap(t):
    time.sleep(t)
    return os.getpid()

def make_socket():
    socket.socket()

def die():
    os._exit(3)

class BadInit(Exception):
    def __init__(self, a, b):
        super().__init__(a)

def bad_init():
    raise BadInit(1, 2)

def unpicklable():
    return lambda: 1

@sandboxed(profile="strict")
def deco_add(a, b):
    return a + b, os.getpid()

@sandboxed(capabilities=[])
def deco_min(a):
    return a * 2

@sandboxed(capabilities=["time"], timeout=0.5)
def deco_nap():
    time.sleep(30)
'''


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    d = tmp_path_factory.mktemp("isolate_helpers")
    (d / "sfiso_helpers.py").write_text(HELPERS)
    sys.path.insert(0, str(d))
    import sfiso_helpers

    yield sfiso_helpers
    sys.path.remove(str(d))


@pytest.fixture(scope="module")
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv.getsockname()[1]
    srv.close()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie would still be there: fail below
    except FileNotFoundError:
        return True


def test_result_crosses(helpers):
    assert isolate(helpers.add, 2, b=3) == 5
    assert isolate(helpers.add, [1], [2], capabilities=[]) == [1, 2]


def test_denied_calls_raise_eperm_inside_and_parent_still_can(helpers, listener, tmp_path):
    target = tmp_path / "out.txt"
    for func, args in ((helpers.write, (str(target),)), (helpers.connect, (listener,)), (helpers.spawn, ())):
        with pytest.raises(PermissionError) as info:
            isolate(func, *args)
        assert info.value.errno == errno.EPERM, func
        assert "sandboxed worker" in "".join(getattr(info.value, "__notes__", []))
    assert not target.exists()
    # the caller was never filtered
    target.write_text("ok")
    socket.create_connection(("127.0.0.1", listener)).close()
    subprocess.run(["true"], check=True)


def test_custom_exception_with_worker_traceback(helpers):
    with pytest.raises(helpers.Custom) as info:
        isolate(helpers.fail, "x", allow_types=[helpers.Custom])
    exc = info.value
    assert str(exc) == "bad x" and exc.code == 42
    assert isinstance(exc.__cause__, SandboxError)
    assert "in fail" in exc.__cause__.tb and "Custom: bad x" in exc.__cause__.tb
    assert any("in fail" in n for n in exc.__notes__)


def test_types_the_caller_did_not_allow_come_back_as_text(helpers):
    with pytest.raises(SandboxError) as info:
        isolate(helpers.fail, "x")
    assert str(info.value).startswith("sandboxed worker ") and "raised sfiso_helpers.Custom: bad x (that type is " \
        "not allowed back into the caller; pass allow_types=[...] to receive it as itself)" in str(info.value)
    assert any("in fail" in n for n in info.value.__notes__)
    with pytest.raises(PermissionError):  # built-in exceptions cross as themselves
        isolate(helpers.write, "/etc/sysfence-should-not-exist")


def test_a_hostile_reply_cannot_run_code_in_the_caller(helpers, tmp_path):
    """The worker is what may be compromised: its reply must never be able to run code here."""
    marker = tmp_path / "pwned"
    with pytest.raises(SandboxError, match=r"contains posix\.system, which is not allowed back into the caller"):
        isolate(helpers.evil_result, str(marker), capabilities=["stdio"])
    with pytest.raises(SandboxError, match="raised sfiso_helpers.EvilError: boom"):
        isolate(helpers.evil_exception, str(marker), capabilities=["stdio"])
    with SandboxPool(capabilities=["stdio"], workers=1, preload=["sfiso_helpers"]) as pool:
        with pytest.raises(SandboxError, match="posix.system"):
            pool.submit(helpers.evil_result, str(marker)).result()
        assert pool.submit(helpers.add, 2, 3).result() == 5
    assert not marker.exists()


def test_worker_is_filtered(helpers):
    pid, seccomp, nnp = isolate(helpers.status)
    assert (seccomp, nnp) == ("2", "1") and pid != os.getpid()
    with SandboxPool(workers=2) as pool:
        seen = {pool.submit(helpers.status).result() for _ in range(6)}
        assert {(s, n) for _, s, n in seen} == {("2", "1")}
        assert {p for p, _, _ in seen} <= set(pool.pids)
    with open("/proc/self/status") as f:
        assert "Seccomp:\t0" in f.read()  # the caller stays unfiltered


def test_timeout_kills_and_reaps(helpers):
    with pytest.raises(TimeoutError):
        isolate(helpers.nap, 30, timeout=0.5)
    with SandboxPool(workers=1, timeout=0.5) as pool:
        old = pool.pids[0]
        with pytest.raises(TimeoutError):
            pool.submit(helpers.nap, 30).result()
        assert _gone(old)
        assert pool.submit(helpers.add, 1, 1).result() == 2  # replaced
        assert pool.pids[0] != old


def test_violation_names_syscall(helpers, tmp_path):
    prof = tmp_path / "kill.toml"
    prof.write_text('extends = "strict"\n[action]\nsocket = "kill-process"\n')
    with pytest.raises(SandboxViolation) as info:
        isolate(helpers.make_socket, profile=str(prof))
    assert info.value.syscall == "socket" and isinstance(info.value, SysfenceError)
    assert "socket" in str(info.value)
    with SandboxPool(profile=str(prof), workers=1) as pool:
        old = pool.pids[0]
        with pytest.raises(SandboxViolation) as info:
            pool.submit(helpers.make_socket).result()
        assert info.value.syscall == "socket" and _gone(old)
        assert pool.submit(helpers.add, 2, 2).result() == 4


def test_crashed_worker_replaced(helpers):
    with SandboxPool(workers=1) as pool:
        with pytest.raises(SandboxError, match="died"):
            pool.submit(helpers.die).result()
        assert pool.submit(helpers.add, 1).result() == 1


def test_decorator(helpers):
    assert helpers.deco_add(2, 3)[0] == 5
    assert helpers.deco_add(1, 1)[1] != os.getpid()
    assert helpers.deco_min(21) == 42  # module imported before a filter that cannot read it
    assert helpers.deco_min.__name__ == "deco_min"
    with pytest.raises(TimeoutError):
        helpers.deco_nap()


def test_pool_from_threads(helpers):
    import concurrent.futures

    with SandboxPool(workers=2) as pool, concurrent.futures.ThreadPoolExecutor(4) as tp:
        outs = list(tp.map(lambda i: list(pool.map(helpers.add, range(i, i + 20), range(20))), range(8)))
    assert outs == [[a + b for a, b in zip(range(i, i + 20), range(20), strict=True)] for i in range(8)]
    with pytest.raises(RuntimeError):
        pool.submit(helpers.add, 1)


def test_fail_closed_when_disabled(helpers):
    r = run_py(
        f"import sys; sys.path.insert(0, {os.path.dirname(helpers.__file__)!r})\n" + textwrap.dedent("""
        import sfiso_helpers
        from sysfence.sandbox import isolate
        try:
            isolate(sfiso_helpers.add, 1)
        except Exception as e:
            print(type(e).__name__)
        else:
            print("RAN UNFILTERED")
        """),
        env=child_env(SYSFENCE="off"),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "UnavailableError", r.stdout + r.stderr


def test_no_zombies_or_fd_leaks_after_1000_pool_calls(helpers):
    r = run_py(
        f"import sys; sys.path.insert(0, {os.path.dirname(helpers.__file__)!r})\n" + textwrap.dedent("""
        import os
        import sfiso_helpers
        from sysfence.sandbox import SandboxPool, isolate

        def zombies():
            out = []
            for p in os.listdir("/proc"):
                if p.isdigit():
                    try:
                        with open(f"/proc/{p}/stat") as f:
                            fields = f.read().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    if fields[0] == "Z" and int(fields[1]) in parents:
                        out.append(p)
            return out

        isolate(sfiso_helpers.add, 0)  # start the forkserver (it keeps one fd per live server)
        parents = {os.getpid()}
        fds = len(os.listdir("/proc/self/fd"))
        with SandboxPool(workers=2) as pool:
            assert sum(pool.map(sfiso_helpers.add, range(1000), range(1000))) == 999000
            pids = pool.pids
        for _ in range(5):
            isolate(sfiso_helpers.add, 1)
        for p in pids:
            assert not os.path.exists(f"/proc/{p}"), p
        for p in os.listdir(f"/proc/{os.getpid()}/task"):
            for c in open(f"/proc/{os.getpid()}/task/{p}/children").read().split():
                parents.add(int(c))  # the forkserver: workers are its children
        print("zombies", zombies())
        print("fds", fds, len(os.listdir("/proc/self/fd")))
        """),
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["zombies"] == "[]", r.stdout
    before, after = lines["fds"].split()
    assert before == after, r.stdout


def test_unpicklable_result_and_exception(helpers):
    with SandboxPool(workers=1) as pool:
        with pytest.raises(SandboxError, match="could not pickle the result"):
            pool.submit(helpers.unpicklable).result()
        with pytest.raises(SandboxError, match="BadInit") as info:
            pool.submit(helpers.bad_init).result()
        assert "in bad_init" in info.value.__cause__.tb
        assert pool.submit(helpers.add, 3).result() == 3
    with pytest.raises(Exception):  # noqa: B017 - unpicklable function: refused in the caller
        isolate(lambda: 1)


def test_profile_arguments(helpers, tmp_path):
    with pytest.raises(ProfileError):
        isolate(helpers.add, 1, capabilities=["no-such-capability"])
    # exactly the worker needs: no file reads, so the pool preloads the function's module before its filter
    with SandboxPool(capabilities=[], workers=1, preload=["sfiso_helpers"]) as pool:
        assert pool.submit(helpers.add, 4, 5).result() == 9
        with pytest.raises(PermissionError):
            pool.submit(helpers.status).result()
    # a profile plus a capability on top
    isolate(helpers.write, str(tmp_path / "granted.txt"), profile="strict", capabilities=["file-create"])
    assert (tmp_path / "granted.txt").read_text() == "x"
    with pytest.raises(PermissionError):
        isolate(helpers.spawn, profile="strict", capabilities=["file-create"])
    pickle_roundtrip = __import__("pickle").loads(__import__("pickle").dumps(SandboxViolation(syscall="socket", nr=41)))
    assert pickle_roundtrip.syscall == "socket" and pickle_roundtrip.nr == 41
