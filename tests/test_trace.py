"""sysfence trace / learn: user-notification supervisor against the real kernel.

Every test runs the supervisor in a child `python -m sysfence` (the supervisor is the parent of the traced
command, outside its filter), so nothing here is filtered.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env, sysfence_cli

from sysfence import learn, profile, syscalls, trace

pytestmark = pytest.mark.skipif(
    "user_notif" not in Path("/proc/sys/kernel/seccomp/actions_avail").read_text(),
    reason="the kernel has no seccomp user notification")

PY = sys._base_executable  # the real interpreter: no venv wrapper, no shell shim in the trace

SOCKET_APP = """
import socket, sys
try:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    print("socket ok")
except OSError as e:
    print("socket", e.errno)
"""


def _trace(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return sysfence_cli(*args, cwd=cwd, timeout=timeout)


def _calls(r: subprocess.CompletedProcess) -> dict[str, dict]:
    data = json.loads(r.stdout[r.stdout.index("{"):]) if "{" in r.stdout else {}
    return {c["syscall"] + ("/" + c["detail"] if c["detail"] else ""): c for c in data.get("calls", [])}


def test_notify_program_turns_only_errno_returns_into_notifications():
    from sysfence import compiler

    rs = profile.load("strict").ruleset()
    prog = compiler.compile_ruleset(rs).program
    out = trace.notify_program(prog)
    assert len(out) == len(prog)
    rets = [(prog[i:i + 8], out[i:i + 8]) for i in range(0, len(prog), 8)]
    changed = [(a, b) for a, b in rets if a != b]
    assert changed, "strict has denials"
    for a, b in changed:
        code, _, _, k = __import__("struct").unpack("=HBBI", a)
        assert code == 0x06 and k & 0xFFFF0000 == 0x00050000  # ret ERRNO(...)
        assert __import__("struct").unpack("=HBBI", b)[3] == trace.RET_USER_NOTIF
    # allow and kill returns are untouched
    assert any(__import__("struct").unpack("=HBBI", a)[3] == 0x7FFF0000 for a, _ in rets)
    assert any(__import__("struct").unpack("=HBBI", b)[3] == 0x80000000 for _, b in rets)


def test_trace_names_socket_family_errno_and_capability(tmp_path):
    """strict denies socket: the program sees EPERM (as in production) and the report names the call, its
    family, the errno and the capability that would allow it."""
    (tmp_path / "app.py").write_text(SOCKET_APP)
    r = _trace("trace", "--profile", "strict", "--json", "--", PY, str(tmp_path / "app.py"))
    assert r.returncode == 0, r.stderr
    assert f"socket {errno.EPERM}" in r.stdout
    calls = _calls(r)
    c = calls["socket/AF_INET6, type 1"]
    assert c["verdict"] == "EPERM" and c["count"] == 1
    assert "net-client" in c["capabilities"]
    assert any(e.endswith(os.path.basename(os.path.realpath(PY))) for e in c["executables"]), c


def test_audit_lets_the_call_succeed_and_still_reports_it(tmp_path):
    (tmp_path / "app.py").write_text(SOCKET_APP)
    r = _trace("trace", "--profile", "strict", "--audit", "--json", "--", PY, str(tmp_path / "app.py"))
    assert r.returncode == 0, r.stderr
    assert "socket ok" in r.stdout
    assert _calls(r)["socket/AF_INET6, type 1"]["verdict"] == "EPERM"


def test_trace_table_and_report_file(tmp_path):
    (tmp_path / "app.py").write_text(SOCKET_APP)
    out = tmp_path / "report.json"
    r = _trace("trace", "--profile", "strict", "-o", str(out), "--", PY, str(tmp_path / "app.py"))
    assert r.returncode == 0, r.stderr
    assert "socket" in r.stderr and "AF_INET6" in r.stderr and "net-client" in r.stderr  # table on stderr
    data = json.loads(out.read_text())
    assert data["schema_version"] == 1 and data["profile"] == "strict" and data["mode"] == "trace"
    assert any(c["syscall"] == "socket" for c in data["calls"])


UNSHARE = """
import ctypes, threading
libc = ctypes.CDLL(None, use_errno=True)
def go():
    rc = libc.unshare({flag})
    print("{who} unshare", ctypes.get_errno() if rc else 0, flush=True)
t = threading.Thread(target=go); t.start(); t.join()
"""


def test_trace_follows_threads_and_children(tmp_path):
    app = tmp_path / "app.py"
    child = tmp_path / "child.py"
    child.write_text(UNSHARE.format(flag=0x40000000, who="child"))  # CLONE_NEWNET
    app.write_text(UNSHARE.format(flag=0x04000000, who="thread").replace("def go():", "def go():  # in a thread")
                   + f"import subprocess\nprint(subprocess.run([{PY!r}, {str(child)!r}], capture_output=True, "
                   "text=True).stdout.strip())\n")
    r = _trace("trace", "--json", "--", PY, str(app))
    assert r.returncode == 0, r.stderr
    assert f"thread unshare {errno.EPERM}" in r.stdout and f"child unshare {errno.EPERM}" in r.stdout
    calls = _calls(r)
    assert calls["unshare/CLONE_NEWUTS"]["count"] == 1 and calls["unshare/CLONE_NEWNET"]["count"] == 1
    assert calls["unshare/CLONE_NEWUTS"]["pids"] != calls["unshare/CLONE_NEWNET"]["pids"]


def test_trace_keeps_the_exit_status_and_allowed_calls_never_reach_the_supervisor(tmp_path):
    r = _trace("trace", "--json", "--", PY, "-c", "import os, sys\nfor _ in range(20000): os.getppid()\nsys.exit(7)")
    assert r.returncode == 7, r.stderr
    data = json.loads(r.stdout[r.stdout.index("{"):])
    assert data["exit_status"] == 7 and data["notifications"] == 0  # getppid is allowed: no notification


def test_trace_unknown_and_clone3_get_enosys(cc):
    probe = cc("newer", """
        #include <stdio.h>
        #include <errno.h>
        #include <unistd.h>
        #include <sys/syscall.h>
        int main(void) {
            long r = syscall(463, 0, 0, 0);  /* newer than the profile's table */
            printf("463 %ld %d\\n", r, errno);
            errno = 0;
            r = syscall(435, 0, 0);          /* clone3 */
            printf("clone3 %ld %d\\n", r, errno);
            return 0;
        }
    """)
    r = _trace("trace", "--json", "--", str(probe))
    assert r.returncode == 0, r.stderr
    assert f"463 -1 {errno.ENOSYS}" in r.stdout and f"clone3 -1 {errno.ENOSYS}" in r.stdout
    calls = _calls(r)
    # libseccomp 2.6 calls 463 setxattrat, 2.5 has no name for it: the profile names it in neither case
    assert calls[f"{syscalls.name(463) or 'syscall_463'}/unknown to the profile's table"]["verdict"] == "ENOSYS"
    assert calls["clone3"]["verdict"] == "ENOSYS"


def test_learn_leaves_syscalls_newer_than_the_table_out(cc, tmp_path):
    """463 is newer than the profile's table: libseccomp 2.6 calls it setxattrat, 2.5 has no name. Either way the
    learned profile says it was made and does not grant it (a name there would not load with libseccomp 2.5)."""
    probe = cc("newer_learn", """
        #include <unistd.h>
        #include <sys/syscall.h>
        int main(void) { syscall(463, -1, 0, 0, 0, 0, 0); getppid(); return 0; }
    """)
    out = tmp_path / "learned.toml"
    r = _trace("learn", "-o", str(out), "--", str(probe), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    name = syscalls.name(463)
    made = f"463 ({name})" if name else "463"
    assert f"# Syscalls newer than the table were made and will get ENOSYS: {made}." in text, text
    rs = profile.load(str(out)).ruleset()
    assert not rs.decide("getppid").denies  # what the probe did within the table is learned
    assert name is None or (name not in rs.base and rs.decide(name) == rs.unknown_action)


def test_trace_bad_input():
    r = _trace("trace", "--profile", "bogus", "--", "true")
    assert r.returncode == 125 and r.stderr.startswith("sysfence: error: ") and len(r.stderr.splitlines()) == 1
    r = _trace("trace", "--", "/nonexistent/cmd")
    assert r.returncode == 127 and "not found" in r.stderr
    r = _trace("trace")
    assert r.returncode == 2


# ------------------------------------------------------------------ learn

SQLITE = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("create table if not exists t(x)")
c.execute("insert into t values (1)")
c.commit()
print("rows", len(c.execute("select * from t").fetchall()))
"""

HTTP = """
import http.server, threading, urllib.request
srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=srv.handle_request, daemon=True).start()
with urllib.request.urlopen(f"http://127.0.0.1:{srv.server_address[1]}/", timeout=10) as r:
    print("http", r.status)
"""


def _workload(tmp_path: Path, name: str, text: str) -> list[str]:
    app = tmp_path / f"work_{name}.py"
    app.write_text(text)
    return [PY, str(app)] + ([str(tmp_path / "db.sqlite")] if name == "sqlite" else [])


@pytest.mark.parametrize("name, text, expect, needed", [
    ("sqlite", SQLITE, "rows", "openat"),
    ("http", HTTP, "http 200", "socket"),
], ids=["sqlite", "http.server"])
def test_learned_profile_runs_the_workload_and_a_stricter_one_does_not(tmp_path, name, text, expect, needed):
    cmd = _workload(tmp_path, name, text)
    out = tmp_path / "learned.toml"
    r = _trace("learn", "-o", str(out), "--", *cmd, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = out.read_text()
    assert doc.startswith("# Learned by sysfence") and "Only the code paths" in doc and cmd[1] in doc
    learned = profile.load(str(out))
    rs = learned.ruleset()
    assert rs.decide("execve").kind.value == "allow"
    assert rs.decide("ptrace").denies and rs.decide("mount").denies and rs.decide("clone3").denies
    r = sysfence_cli("run", "--profile", str(out), "--", *cmd, cwd=tmp_path)
    assert r.returncode == 0 and expect in r.stdout, (r.returncode, r.stdout, r.stderr)
    r = sysfence_cli("run", "--profile", str(out), "--deny", needed, "--", *cmd, cwd=tmp_path)
    assert r.returncode != 0 or expect not in r.stdout, (r.stdout, r.stderr)


def test_learned_socket_rules_allow_only_the_observed_families(tmp_path):
    cmd = _workload(tmp_path, "http", HTTP)
    out = tmp_path / "learned.toml"
    assert _trace("learn", "-o", str(out), "--", *cmd, cwd=tmp_path).returncode == 0
    rs = profile.load(str(out)).ruleset()
    assert not rs.decide("socket", (socket.AF_INET, socket.SOCK_STREAM, 0, 0, 0, 0)).denies
    assert rs.decide("socket", (socket.AF_PACKET, socket.SOCK_RAW, 0, 0, 0, 0)).denies
    assert rs.decide("socket", (socket.AF_NETLINK, socket.SOCK_RAW, 0, 0, 0, 0)).denies
    assert rs.decide("ioctl", (0, 0x5412, 0, 0, 0, 0)).denies  # TIOCSTI guard kept if ioctl was learned
    assert rs.decide("clone", (0x10000000, 0, 0, 0, 0, 0)).denies  # no namespaces


def test_learn_merges_runs(tmp_path):
    out = tmp_path / "learned.toml"
    assert _trace("learn", "-o", str(out), "--", *_workload(tmp_path, "sqlite", SQLITE), cwd=tmp_path).returncode == 0
    first = profile.load(str(out)).ruleset()
    assert first.decide("socket", (socket.AF_INET, socket.SOCK_STREAM, 0, 0, 0, 0)).denies
    r = _trace("learn", "--merge", str(out), "-o", str(out), "--", *_workload(tmp_path, "http", HTTP), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    both = profile.load(str(out)).ruleset()
    assert not both.decide("socket", (socket.AF_INET, socket.SOCK_STREAM, 0, 0, 0, 0)).denies
    assert set(first.allowed()) <= set(both.allowed())
    for cmd in (_workload(tmp_path, "sqlite", SQLITE), _workload(tmp_path, "http", HTTP)):
        r = sysfence_cli("run", "--profile", str(out), "--", *cmd, cwd=tmp_path)
        assert r.returncode == 0, r.stderr


def test_learn_with_a_base_profile_extends_it(tmp_path):
    out = tmp_path / "learned.toml"
    r = _trace("learn", "--base", "no-network", "-o", str(out), "--", *_workload(tmp_path, "sqlite", SQLITE),
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert 'extends = "no-network"' in out.read_text()
    assert profile.load(str(out)).ruleset().decide("socket", (2, 1, 0, 0, 0, 0)).denies


def test_infer_never_grants_dangerous_capabilities_whole():
    base = learn.base_profile(None)
    got = learn.infer({"ptrace": [(0,) * 6], "getcwd": [(0,) * 6]}, [], base)
    assert "debugging" not in got.capabilities and "ptrace" in got.allow


def test_learn_output_goes_to_stdout_by_default(tmp_path):
    r = _trace("learn", "--", PY, "-c", "pass", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# Learned by sysfence")
    profile.parse(r.stdout.encode(), "<stdout>")


def test_child_env_is_clean():
    assert not any(k.startswith("SYSFENCE") for k in child_env())


def _default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def test_ctrl_c_stops_the_command_and_learn_still_writes_the_profile(tmp_path):
    """Ctrl-C reaches the whole foreground process group: the command stops, the supervisor stays to write."""
    import signal
    import time

    out = tmp_path / "learned.toml"
    ready = tmp_path / "ready"
    app = tmp_path / "work_sleep.py"
    app.write_text(f"import time, pathlib\npathlib.Path({str(ready)!r}).touch()\ntime.sleep(60)\n")
    # as a terminal's foreground job: Ctrl-C deliverable even when this test runs as a background job of a
    # non-interactive shell (which starts it with SIGINT and SIGQUIT ignored, and Python then keeps ignoring them)
    p = subprocess.Popen([sys.executable, "-m", "sysfence", "learn", "-o", str(out), "--", PY, str(app)],
                         env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 60
    while not ready.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), f"the command did not start: {p.poll()=}"
    os.killpg(p.pid, signal.SIGINT)
    try:
        stdout, stderr = p.communicate(timeout=30)
    except subprocess.TimeoutExpired as exc:
        os.killpg(p.pid, signal.SIGKILL)
        stdout, stderr = p.communicate()
        raise AssertionError(f"still running 30 s after Ctrl-C: {stdout=} {stderr=}") from exc
    assert p.returncode == 130, stderr  # the command's status: killed by SIGINT (128 + 2)
    assert "KeyboardInterrupt" in stderr and "wrote" in stderr
    assert out.read_text().startswith("# Learned by sysfence")
