"""The system profile store (SYSFENCE_ETC, else /etc/sysfence): trust checks, shadowing, install/uninstall, policy.

Every test works on a private store under pytest's tmp_path (passed to children as SYSFENCE_ETC) and never
touches the real /etc/sysfence. Tampering is simulated with chmod/chown to uid 65534 ("nobody", the attacker),
so those tests need root. Refusals are checked both in-process (store.read_trusted) and through
`sysfence run --profile NAME`, which must exit 125 with one line naming the path, owner and mode, without
running the command (a marker file it would create stays absent). `sysfence list` (text and --json) marks what
is refused and exits 1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import child_env, python_for, run_enforced, run_py, sysfence_cli, world_readable_package

from sysfence import store as sfstore
from sysfence.errors import SysfenceError

ATTACKER = 65534  # nobody
NAME = "mine"
GOOD = b'# trusted\nextends = "default"\ndeny = ["getcwd"]\n'
EVIL = b'# attacker\nextends = "default"\nallow = ["ptrace"]\n'

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown to another uid, install into the store)")
pytestmark = [
    needs_root,
    pytest.mark.skipif(os.path.lexists("/etc/sysfence/policy.toml"),
                       reason="SYSFENCE_ETC is refused where /etc/sysfence/policy.toml exists"),
]
PROFILES = "profiles: default, net-client, net-server, no-network, no-spawn, read-only, strict"

# Run under a filter: prints getcwd's errno (or "ok") and the kernel's view of this process's seccomp state, so a
# filter that silently failed to load cannot pass.
PROBE = textwrap.dedent("""
    import os
    try:
        os.getcwd()
        print("getcwd ok")
    except OSError as e:
        print("getcwd errno", e.errno)
    with open("/proc/self/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    print("Seccomp", st["Seccomp"].strip(), "NoNewPrivs", st["NoNewPrivs"].strip())
""")
DENIED_GETCWD = "getcwd errno 1\nSeccomp 2 NoNewPrivs 1\n"


class Store:
    """A private store: tmp/etc (the SYSFENCE_ETC root) and tmp/etc/profiles, both root:root 0755."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "etc"
        self.profiles = self.root / "profiles"
        self.profiles.mkdir(parents=True)
        for d in (self.root, self.profiles):
            os.chmod(d, 0o755)
        self.marker = tmp / "marker"

    def path(self, name: str = NAME) -> Path:
        return self.profiles / f"{name}.toml"

    def put(self, name: str = NAME, data: bytes = GOOD, mode: int = 0o644, uid: int = 0) -> Path:
        """Write a store file directly, as an administrator (or an attacker) would."""
        p = self.path(name)
        p.write_bytes(data)
        os.chown(p, uid, uid)
        os.chmod(p, mode)
        return p

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(SYSFENCE_ETC=str(self.root), **extra)

    def cli(self, *args: str, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        return sysfence_cli(*args, env=self.env(), cwd=str(self.tmp), timeout=timeout, **kw)

    def run_probe(self, profile: str = NAME) -> subprocess.CompletedProcess:
        return self.cli("run", "--profile", profile, "--", sys.executable, "-c", PROBE)

    def run_marker(self, profile: str = NAME, timeout: float = 30) -> subprocess.CompletedProcess:
        """`sysfence run` of a command that would create the marker file if it ran."""
        code = f"open({str(self.marker)!r}, 'w').close()"
        return self.cli("run", "--profile", profile, "--", sys.executable, "-c", code, timeout=timeout)

    def assert_refused(self, res: subprocess.CompletedProcess, error: str) -> None:
        """Exit 125 with exactly `sysfence: error: ERROR`, and the command never ran."""
        assert res.returncode == 125, (res.returncode, res.stdout, res.stderr)
        assert res.stderr == f"sysfence: error: {error}\n", (res.stderr, error)
        assert res.stdout == ""
        assert not self.marker.exists(), "the command ran although its profile was refused"

    def assert_profile_refused(self, res: subprocess.CompletedProcess, reason: str, name: str = NAME) -> None:
        """`run --profile NAME` refused because store file NAME is: the flag, the profile, then the store's reason."""
        self.assert_refused(res, f"--profile: profile {name!r}: {reason}")

    def list_json(self) -> tuple[int, dict]:
        r = self.cli("list", "--json")
        return r.returncode, json.loads(r.stdout)


@pytest.fixture
def st(tmp_path: Path) -> Store:
    return Store(tmp_path)


def untrusted(path: Path | str, kind: str, why: str, uid: int, mode: int) -> str:
    """The exact refusal text of store._check / the symlink checks."""
    who = f"owner uid {uid}, mode {mode:04o}"
    if why == "owner":
        return f"{path}: untrusted {kind}: owned by uid {uid}, not uid 0 ({who})"
    if why == "symlink":
        return f"{path}: untrusted symlink: owned by uid {uid} ({who})"
    return f"{path}: untrusted {kind}: {why} ({who})"


def read(path: Path | str) -> bytes:
    return sfstore.read_trusted(str(path))


# ------------------------------------------------------------------ 1. a good store


def test_install_run_and_list_a_good_store_profile(st: Store):
    src = st.tmp / "input.toml"
    src.write_bytes(GOOD)
    st.profiles.rmdir()
    st.root.rmdir()
    # install creates the directories itself; a restrictive umask must not change the modes it sets
    r = st.cli("install", str(src), "--name", NAME, preexec_fn=lambda: os.umask(0o077))
    assert r.returncode == 0, r.stderr
    path = st.path()
    assert r.stdout.startswith(f"installed {path}: profile {NAME!r}"), r.stdout
    for p, mode, kind in ((st.root, 0o755, stat.S_ISDIR), (st.profiles, 0o755, stat.S_ISDIR), (path, 0o644, stat.S_ISREG)):
        s = os.lstat(p)
        assert kind(s.st_mode) and (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode)) == (0, 0, mode), (p, s)
    assert path.read_bytes() == GOOD
    assert sorted(os.listdir(st.profiles)) == [f"{NAME}.toml"]  # no temp file left behind

    r = st.run_probe()
    assert (r.returncode, r.stdout, r.stderr) == (0, DENIED_GETCWD, "")

    rc, d = st.list_json()
    assert rc == 0 and d["store"] == str(st.root)
    assert {"name": NAME, "source": "store", "path": str(path), "shadowed": False, "problem": ""} in d["profiles"]
    assert [row["name"] for row in d["profiles"] if row["source"] == "store"] == [NAME]


def test_show_names_the_store_file_as_source(st: Store):
    path = st.put()
    r = st.cli("show", NAME, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["source"] == str(path) and d["profile"] == NAME


# ------------------------------------------------------------------ 2. tampering


def _file_mode(mode: int):
    def make(s: Store) -> tuple[Path, str]:
        p = s.put(mode=mode)
        why = "group-writable" if mode & 0o020 else "world-writable"
        return p, untrusted(p, "file", why, 0, mode)
    return make


def _file_owner(s: Store) -> tuple[Path, str]:
    p = s.put(uid=ATTACKER)
    return p, untrusted(p, "file", "owner", ATTACKER, 0o644)


def _dir_mode(which: str, mode: int):
    def make(s: Store) -> tuple[Path, str]:
        p = s.put()
        d = s.root if which == "root" else s.profiles
        os.chmod(d, mode)
        why = "group-writable" if mode & 0o020 else "world-writable"
        return p, untrusted(d, "directory", why, 0, mode)
    return make


def _dir_owner(which: str):
    def make(s: Store) -> tuple[Path, str]:
        p = s.put()
        d = s.root if which == "root" else s.profiles
        os.chown(d, ATTACKER, ATTACKER)
        return p, untrusted(d, "directory", "owner", ATTACKER, 0o755)
    return make


def _elsewhere(s: Store, owner: int = 0) -> Path:
    d = s.tmp / ("attacker" if owner else "elsewhere")
    d.mkdir(exist_ok=True)
    os.chown(d, owner, owner)
    os.chmod(d, 0o755)
    return d


def _link_to_attacker_file(s: Store) -> tuple[Path, str]:
    target = _elsewhere(s) / "evil.toml"
    target.write_bytes(EVIL)
    os.chown(target, ATTACKER, ATTACKER)
    os.symlink(target, s.path())  # the link itself is root's (an admin was tricked into it)
    return s.path(), untrusted(target, "file", "owner", ATTACKER, 0o644)


def _link_into_attacker_dir(s: Store) -> tuple[Path, str]:
    d = _elsewhere(s, ATTACKER)
    target = d / "evil.toml"
    target.write_bytes(EVIL)
    os.chmod(target, 0o644)  # root-owned, but the attacker's directory lets them replace it at will
    os.symlink(target, s.path())
    return s.path(), untrusted(d, "directory", "owner", ATTACKER, 0o755)


def _attacker_link_to_good_file(s: Store) -> tuple[Path, str]:
    target = _elsewhere(s) / "good.toml"
    target.write_bytes(GOOD)
    os.chmod(target, 0o644)
    os.symlink(target, s.path())
    os.lchown(s.path(), ATTACKER, ATTACKER)
    return s.path(), untrusted(s.path(), "file", "symlink", ATTACKER, 0o777)


def _profiles_dir_links_to_attacker_dir(s: Store) -> tuple[Path, str]:
    d = _elsewhere(s, ATTACKER)
    (d / f"{NAME}.toml").write_bytes(GOOD)
    os.rmdir(s.profiles)
    os.symlink(d, s.profiles)
    return s.path(), untrusted(d, "directory", "owner", ATTACKER, 0o755)


def _attacker_link_as_profiles_dir(s: Store) -> tuple[Path, str]:
    d = _elsewhere(s)
    good = d / f"{NAME}.toml"
    good.write_bytes(GOOD)
    os.chmod(good, 0o644)
    os.rmdir(s.profiles)
    os.symlink(d, s.profiles)
    os.lchown(s.profiles, ATTACKER, ATTACKER)
    return s.path(), untrusted(s.profiles, "directory", "symlink", ATTACKER, 0o777)


def _fifo(s: Store) -> tuple[Path, str]:
    os.mkfifo(s.path(), 0o644)
    return s.path(), f"{s.path()}: not a regular file"


def _directory(s: Store) -> tuple[Path, str]:
    os.mkdir(s.path(), 0o755)
    return s.path(), f"{s.path()}: not a regular file"


def _symlink_loop(s: Store) -> tuple[Path, str]:
    os.symlink("loop.toml", s.path("loop"))
    os.symlink("loop.toml", s.path())
    return s.path(), f"{s.path()}: too many symbolic links"


TAMPERING = {
    "file-group-writable": _file_mode(0o664),
    "file-world-writable": _file_mode(0o646),
    "file-owned-by-attacker": _file_owner,
    "profiles-dir-group-writable": _dir_mode("profiles", 0o775),
    "profiles-dir-world-writable": _dir_mode("profiles", 0o757),
    "store-root-group-writable": _dir_mode("root", 0o775),
    "store-root-world-writable": _dir_mode("root", 0o757),
    "profiles-dir-owned-by-attacker": _dir_owner("profiles"),
    "store-root-owned-by-attacker": _dir_owner("root"),
    "root-symlink-to-attacker-file": _link_to_attacker_file,
    "root-symlink-into-attacker-dir": _link_into_attacker_dir,
    "attacker-symlink-to-good-file": _attacker_link_to_good_file,
    "profiles-dir-is-root-symlink-to-attacker-dir": _profiles_dir_links_to_attacker_dir,
    "profiles-dir-is-attacker-symlink": _attacker_link_as_profiles_dir,
    "fifo": _fifo,
    "directory": _directory,
    "symlink-loop": _symlink_loop,
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampered_store_is_refused_with_its_reason(st: Store, case: str):
    path, reason = TAMPERING[case](st)
    with pytest.raises(sfstore.UntrustedError) as exc:
        read(path)
    assert str(exc.value) == reason
    assert isinstance(exc.value, SysfenceError)
    res = st.run_marker(timeout=15)  # timeout: a FIFO must not block the open
    if case.startswith("store-root-"):
        st.assert_refused(res, reason)  # `run` reads ROOT/policy.toml first, and is refused there
    else:
        st.assert_profile_refused(res, reason)
    rc, d = st.list_json()
    assert rc == 1, d
    if case.startswith("store-root-"):
        assert d["policy"] == {"path": str(st.root / "policy.toml"), "error": reason}, d
    assert [row for row in d["profiles"] if row["name"] == NAME] == [
        {"name": NAME, "source": "store", "path": str(path), "shadowed": False, "problem": reason}]


def test_list_marks_refused_entries_and_fails(st: Store):
    st.put("ok")
    bad = st.put("bad", mode=0o664)
    os.mkfifo(st.path("fifo"), 0o644)
    os.mkdir(st.path("dir"), 0o755)
    problems = {"bad": untrusted(bad, "file", "group-writable", 0, 0o664),
                "dir": f"{st.path('dir')}: not a regular file", "fifo": f"{st.path('fifo')}: not a regular file"}
    r = st.cli("list", timeout=15)
    assert r.returncode == 1 and r.stderr == "", (r.stdout, r.stderr)
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    assert lines["ok"].split() == ["ok", "store", str(st.path("ok"))]
    for name, problem in problems.items():
        assert lines[name] == f"{name:<16} {'store':<9} {st.path(name)}  REFUSED: {problem}", lines[name]
    # the JSON form fails the same way (exit 1), with the same reasons
    r = st.cli("list", "--json", timeout=15)
    assert r.returncode == 1 and r.stderr == "", (r.stdout, r.stderr)
    rows = {row["name"]: row for row in json.loads(r.stdout)["profiles"] if row["source"] == "store"}
    assert {n: row["problem"] for n, row in rows.items()} == {"ok": "", **problems}


def test_list_json_exits_0_when_nothing_is_refused(st: Store):
    st.put("ok")
    rc, d = st.list_json()
    assert rc == 0 and d["policy"] == {"path": str(st.root / "policy.toml"), "profile": None, "required": None,
                                       "mandatory": None}, d
    assert [row["problem"] for row in d["profiles"]] == [""] * len(d["profiles"])


def test_root_owned_symlinks_to_good_root_files_are_followed(st: Store):
    d = _elsewhere(st)
    target = d / "v2.toml"
    target.write_bytes(GOOD)
    os.chmod(target, 0o644)
    os.symlink(target, st.path())  # absolute, last component
    (st.profiles / "v3.toml").write_bytes(GOOD.replace(b"trusted", b"relative"))
    os.symlink("v3.toml", st.path("rel"))  # relative, same directory
    assert read(st.path()) == GOOD
    assert read(st.path("rel")) == GOOD.replace(b"trusted", b"relative")
    r = st.run_probe()
    assert (r.returncode, r.stdout, r.stderr) == (0, DENIED_GETCWD, "")


def test_root_owned_symlinked_store_directory_is_followed(st: Store):
    real = _elsewhere(st) / "real-etc"
    real.mkdir(mode=0o755)
    (real / "profiles").mkdir(mode=0o755)
    (real / "profiles" / f"{NAME}.toml").write_bytes(GOOD)
    os.rmdir(st.profiles)
    os.rmdir(st.root)
    os.symlink(real, st.root)
    assert read(st.path()) == GOOD
    r = st.run_probe()
    assert (r.returncode, r.stdout, r.stderr) == (0, DENIED_GETCWD, "")


def test_sticky_world_writable_directory_is_accepted_but_not_attacker_files_in_it(st: Store):
    os.chmod(st.profiles, 0o1777)  # like /tmp: others may add entries, never replace root's
    good = st.put()
    assert read(good) == GOOD
    evil = st.put("evil", EVIL, uid=ATTACKER)
    with pytest.raises(sfstore.UntrustedError) as exc:
        read(evil)
    assert str(exc.value) == untrusted(evil, "file", "owner", ATTACKER, 0o644)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_non_regular_file_is_refused_without_leaking_a_descriptor(st: Store, kind: str):
    if kind == "directory":
        os.mkdir(st.path(), 0o755)
    else:
        os.mkfifo(st.path(), 0o644)
    before = _open_fds()
    for _ in range(50):
        with pytest.raises(sfstore.UntrustedError) as exc:
            read(st.path())
        assert str(exc.value) == f"{st.path()}: not a regular file"
        assert type(exc.value) is sfstore.UntrustedError
    assert _open_fds() == before  # 50 refusals, not one descriptor left open


def test_symlink_loop_in_the_store_is_an_error_not_a_crash(st: Store):
    """A loop in the last component stops after MAX_SYMLINKS links with UntrustedError naming the path asked
    for, never RecursionError, and leaks no descriptor."""
    os.symlink("b.toml", st.path("a"))
    os.symlink("a.toml", st.path("b"))
    os.symlink(str(st.path("self")), st.path("self"))  # absolute, to itself
    before = _open_fds()
    for name in ("a", "b", "self"):
        with pytest.raises(sfstore.UntrustedError) as exc:
            read(st.path(name))
        assert str(exc.value) == f"{st.path(name)}: too many symbolic links"
    assert _open_fds() == before
    st.assert_profile_refused(st.run_marker("a", timeout=15), f"{st.path('a')}: too many symbolic links", "a")
    r = st.cli("list", timeout=15)
    assert r.returncode == 1 and r.stderr == "" and "Traceback" not in r.stdout, (r.stdout, r.stderr)
    store_lines = [line for line in r.stdout.splitlines() if " store " in line]
    assert store_lines == [f"{n:<16} {'store':<9} {st.path(n)}  REFUSED: {st.path(n)}: too many symbolic links"
                           for n in ("a", "b", "self")], r.stdout


def test_a_long_but_finite_symlink_chain_is_followed(st: Store):
    """MAX_SYMLINKS (40) links are followed, one more is refused."""
    st.put("end")
    for i in range(sfstore.MAX_SYMLINKS):
        os.symlink("end.toml" if i == 0 else f"l{i - 1}.toml", st.path(f"l{i}"))
    last = sfstore.MAX_SYMLINKS - 1
    assert read(st.path(f"l{last}")) == GOOD
    os.symlink(f"l{last}.toml", st.path("over"))
    with pytest.raises(sfstore.UntrustedError) as exc:
        read(st.path("over"))
    assert str(exc.value) == f"{st.path('over')}: too many symbolic links"


def test_missing_file_is_not_in_store(st: Store):
    with pytest.raises(sfstore.NotInStore):
        read(st.path())
    with pytest.raises(sfstore.NotInStore):
        read(st.root / "nowhere" / "x.toml")


# ------------------------------------------------------------------ 3. shadowing built-ins


def test_store_profile_shadows_the_builtin_of_the_same_name(st: Store):
    st.put("strict")  # default + deny getcwd: unlike the built-in strict, it lets `run` exec a program
    r = st.run_probe("strict")
    assert (r.returncode, r.stdout, r.stderr) == (0, DENIED_GETCWD, "")
    rc, d = st.list_json()
    rows = {(row["name"], row["source"]): row for row in d["profiles"]}
    assert rc == 0 and rows[("strict", "built-in")]["shadowed"] is True
    assert rows[("strict", "store")]["path"] == str(st.path("strict"))


def test_untrusted_store_profile_never_falls_back_to_the_builtin(st: Store):
    p = st.put("strict", mode=0o664)
    reason = untrusted(p, "file", "group-writable", 0, 0o664)
    st.assert_profile_refused(st.run_marker("strict"), reason, "strict")
    r = run_enforced("print('ran')", profile="strict", env=st.env())
    assert r.returncode != 0 and "ran" not in r.stdout and reason in r.stderr, (r.stdout, r.stderr)


def test_builtin_prefix_skips_the_store(st: Store):
    st.put("strict", EVIL, mode=0o664)
    # the built-in strict denies execve, so `run` refuses it for that reason, not for the untrusted store file
    st.assert_refused(st.run_marker("builtin:strict"), "profile 'strict' denies execve, so no program can be started "
                      "under it; call sysfence.enable('strict') inside the program, or start a Python program with "
                      "SYSFENCE_PROFILE=strict python ...")
    # and inside a program it is the real built-in: directory walking allowed, sockets and spawning denied
    r = run_enforced("""
        import errno, os, socket
        os.getcwd()
        for call in (lambda: socket.socket(), os.fork):
            try:
                call()
                print("allowed")
            except OSError as e:
                print(errno.errorcode[e.errno])
    """, profile="builtin:strict", env=st.env())
    assert (r.returncode, r.stdout, r.stderr) == (0, "EPERM\nEPERM\n", "")


# ------------------------------------------------------------------ 4. check-then-use


class _OsProxy:
    """The os module as store.py sees it, with some functions replaced (the real os module stays untouched)."""

    def __init__(self, **replaced) -> None:
        self.__dict__.update(replaced)

    def __getattr__(self, name: str):
        return getattr(os, name)


def _swap_after_open(monkeypatch, component: str, swap) -> list[bool]:
    done: list[bool] = []

    def opening(path, flags, mode=0o777, *, dir_fd=None):
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
        if path == component and not done:
            swap()
            done.append(True)
        return fd

    monkeypatch.setattr(sfstore, "os", _OsProxy(open=opening))
    return done


def test_file_replaced_after_open_reads_the_checked_descriptor(st: Store, monkeypatch):
    good = st.put()
    evil = st.profiles / "evil.tmp"
    evil.write_bytes(EVIL)
    os.chown(evil, ATTACKER, ATTACKER)
    done = _swap_after_open(monkeypatch, good.name, lambda: os.rename(evil, good))
    assert read(good) == GOOD
    assert done == [True]
    monkeypatch.undo()
    assert good.read_bytes() == EVIL  # the swap really happened; a fresh read now refuses the attacker's file
    with pytest.raises(sfstore.UntrustedError) as exc:
        read(good)
    assert str(exc.value) == untrusted(good, "file", "owner", ATTACKER, 0o644)


def test_attacker_file_replaced_by_a_good_one_after_open_is_still_refused(st: Store, monkeypatch):
    path = st.put(data=EVIL, uid=ATTACKER)
    good = st.profiles / "good.tmp"
    good.write_bytes(GOOD)
    done = _swap_after_open(monkeypatch, path.name, lambda: os.rename(good, path))
    with pytest.raises(sfstore.UntrustedError) as exc:
        read(path)
    assert str(exc.value) == untrusted(path, "file", "owner", ATTACKER, 0o644)
    assert done == [True]


def test_directory_replaced_after_open_reads_the_checked_directory(st: Store, monkeypatch):
    good = st.put()
    evil_dir = _elsewhere(st, ATTACKER)
    evil = evil_dir / good.name
    evil.write_bytes(EVIL)

    def swap() -> None:
        os.rename(st.profiles, st.root / "profiles.old")
        os.rename(evil_dir, st.profiles)

    done = _swap_after_open(monkeypatch, "profiles", swap)
    assert read(good) == GOOD
    assert done == [True] and good.read_bytes() == EVIL


def test_race_between_trusted_and_attacker_file_never_yields_attacker_content(st: Store):
    target = st.put()
    good_src = st.profiles / "good.src"
    evil_src = st.profiles / "evil.src"
    os.link(target, good_src)
    evil_src.write_bytes(EVIL)
    os.chown(evil_src, ATTACKER, ATTACKER)
    os.chmod(evil_src, 0o644)
    refused_text = untrusted(target, "file", "owner", ATTACKER, 0o644)
    stop = threading.Event()
    swaps = [0]

    def swapper() -> None:
        tmp = st.profiles / "swap.tmp"
        while not stop.is_set():
            for src in (evil_src, good_src):
                os.link(src, tmp)
                os.replace(tmp, target)  # atomic: the name always exists, alternately root's and the attacker's
                swaps[0] += 1

    ok = refused = 0
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    t = threading.Thread(target=swapper, daemon=True)
    t.start()
    try:
        for _ in range(2000):
            try:
                data = read(target)
            except sfstore.UntrustedError as exc:
                assert str(exc) == refused_text
                refused += 1
            else:
                assert data == GOOD, data
                ok += 1
    finally:
        stop.set()
        t.join(10)
        sys.setswitchinterval(old)
    assert ok + refused == 2000 and swaps[0] > 0
    print(f"race: {ok} trusted reads, {refused} refusals, {swaps[0]} swaps")


# ------------------------------------------------------------------ 5. install / uninstall


def test_crash_during_install_leaves_the_old_profile_intact(st: Store):
    old = st.tmp / f"{NAME}.toml"
    old.write_bytes(GOOD)
    assert st.cli("install", str(old)).returncode == 0
    new = st.tmp / "new.toml"
    new.write_bytes(b'extends = "default"\n')  # would allow getcwd again
    r = run_py(f"""
        import os, signal, sys
        from sysfence import cli

        def crash(*args, **kwargs):  # the rename that would publish the new file: die right before it
            os.kill(os.getpid(), signal.SIGKILL)

        os.rename = crash
        sys.exit(cli.main(["install", {str(new)!r}, "--name", {NAME!r}]))
    """, env=st.env(), cwd=str(st.tmp))
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stdout, r.stderr)
    assert st.path().read_bytes() == GOOD
    s = os.lstat(st.path())
    assert (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode)) == (0, 0, 0o644)
    leftovers = sorted(p.name for p in st.profiles.iterdir() if p.name != f"{NAME}.toml")
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{NAME}.") and leftovers[0].endswith(".tmp"), leftovers
    assert (st.profiles / leftovers[0]).read_bytes() == new.read_bytes()  # the crash came after the write

    assert read(st.path()) == GOOD
    r = st.run_probe()
    assert (r.returncode, r.stdout, r.stderr) == (0, DENIED_GETCWD, "")
    rc, d = st.list_json()
    assert rc == 0, d
    assert [row["path"] for row in d["profiles"] if row["source"] == "store"] == [str(st.path())]
    r = st.cli("list")
    assert leftovers[0] not in r.stdout and ".tmp" not in r.stdout
    # a later install still works and replaces the profile
    assert st.cli("install", str(new), "--name", NAME).returncode == 0
    assert st.path().read_bytes() == new.read_bytes()


def test_install_as_non_root_is_refused():
    exe = python_for(ATTACKER, ATTACKER)
    if exe is None:
        pytest.skip("no Python >= 3.11 that uid 65534 can run")
    d = Path(tempfile.mkdtemp(prefix="sysfence-store-test-"))  # world-readable, unlike pytest's tmp_path
    try:
        os.chmod(d, 0o755)
        src = d / "p.toml"
        src.write_bytes(GOOD)
        os.chmod(src, 0o644)
        etc = d / "etc"
        lib = world_readable_package(d)
        r = subprocess.run([exe, "-S", "-m", "sysfence", "install", str(src), "--name", NAME],
                           env=child_env(SYSFENCE_ETC=str(etc), PYTHONPATH=str(lib)), user=ATTACKER,
                           group=ATTACKER, extra_groups=[], cwd="/", capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stderr == ("sysfence: error: install must run as root: store files are trusted only when owned "
                            "by root\n")
        assert not etc.exists()
    finally:
        shutil.rmtree(d)


def test_invalid_profile_is_refused_before_anything_is_written(st: Store):
    bad = st.tmp / "bad.toml"
    bad.write_bytes(b'extends = "default"\ndeny = ["getcwdd"]\n')
    r = st.cli("install", str(bad))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"sysfence: error: {bad}: deny[0]") and "'getcwdd'" in r.stderr, r.stderr
    assert "did you mean 'getcwd'" in r.stderr
    assert os.listdir(st.profiles) == []
    notoml = st.tmp / "bad.json"
    notoml.write_text("{}")
    r = st.cli("install", str(notoml), "--name", "x")
    assert r.returncode == 1 and "install takes a TOML profile" in r.stderr
    assert os.listdir(st.profiles) == []


@pytest.mark.parametrize("parent", ["base.toml", "./base.toml", "sub/../base.toml"])
def test_relative_extends_is_refused(st: Store, parent: str):
    (st.tmp / "base.toml").write_bytes(b'extends = "default"\n')
    child = st.tmp / "child.toml"
    child.write_text(f'extends = "{parent}"\ndeny = ["getcwd"]\n')
    (st.tmp / "sub").mkdir()
    r = st.cli("install", str(child))
    assert r.returncode == 1
    assert r.stderr == (f"sysfence: error: {child}: extends = {parent!r}: a relative path would mean another file "
                        "once installed; install that profile too and extend it by name\n")
    assert os.listdir(st.profiles) == []


def test_invalid_names_are_refused(st: Store):
    src = st.tmp / "p.toml"
    src.write_bytes(GOOD)
    for name in ("../x", "a/b", ".hidden", "x.toml"):
        r = st.cli("install", str(src), "--name", name)
        assert r.returncode == 1, (name, r.stderr)
        assert r.stderr.startswith(f"sysfence: error: --name {name!r} is not valid: "), r.stderr
    assert os.listdir(st.profiles) == []
    assert sorted(os.listdir(st.root)) == ["profiles"]
    assert not (st.tmp / "x.toml").exists()
    r = st.cli("uninstall", "../profiles/x")
    assert r.returncode == 1 and "is not valid" in r.stderr


def test_install_into_an_untrusted_store_is_refused(st: Store):
    os.chmod(st.profiles, 0o775)
    src = st.tmp / "p.toml"
    src.write_bytes(b'capabilities = ["runtime", "stdio"]\n')  # no extends: nothing else reads the store first
    r = st.cli("install", str(src), "--name", NAME)
    assert r.returncode == 1
    assert r.stderr == f"sysfence: error: {untrusted(st.profiles, 'directory', 'group-writable', 0, 0o775)}\n"
    assert os.listdir(st.profiles) == []


def test_uninstall(st: Store):
    src = st.tmp / "p.toml"
    src.write_bytes(GOOD)
    assert st.cli("install", str(src), "--name", NAME).returncode == 0
    r = st.cli("uninstall", NAME)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"removed {st.path()}\n", "")
    assert os.listdir(st.profiles) == []
    # the name is gone from the store and no built-in has it
    st.assert_refused(st.run_marker(), f"--profile: unknown profile {NAME!r}; {PROFILES}")
    r = st.cli("uninstall", NAME)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"sysfence: error: {st.path()}: no such store profile\n")


# ------------------------------------------------------------------ 6. policy.toml


def test_untrusted_policy_refuses_run_and_status_says_why(st: Store):
    pol = st.root / "policy.toml"
    pol.write_text('profile = "default"\n')
    os.chmod(pol, 0o664)
    reason = untrusted(pol, "file", "group-writable", 0, 0o664)
    r = st.cli("run", "--", sys.executable, "-c", f"open({str(st.marker)!r}, 'w').close()")
    st.assert_refused(r, reason)
    assert r.stderr == f"sysfence: error: {reason}\n"

    # every Python program is refused at start-up, with the same reason ...
    r = run_py(f"open({str(st.marker)!r}, 'w').close()", env=st.env(), cwd=str(st.tmp))
    st.assert_refused(r, reason)

    # ... but not the sysfence command, whichever way it is started: the start-up hook leaves it alone
    for cli in ([sys.executable, "-S", "-m", "sysfence"], [sys.executable, "-m", "sysfence"]):
        r = subprocess.run([*cli, "status"], env=st.env(), cwd=str(st.tmp), capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and r.stderr == "", (cli, r.stdout, r.stderr)
        assert f"configured:  error: {reason}" in r.stdout.splitlines()
        r = subprocess.run([*cli, "list"], env=st.env(), cwd=str(st.tmp), capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and r.stderr == "", (cli, r.stdout, r.stderr)
        assert r.stdout.splitlines()[-1] == f"policy: REFUSED: {reason}"
    rc, d = st.list_json()
    assert rc == 1 and d["policy"] == {"path": str(pol), "error": reason}, d

    os.chmod(pol, 0o644)  # repaired: configured normally again
    r = st.cli("status")
    assert r.returncode == 0, r.stderr
    assert (f"configured:  profile 'default' ({pol}: profile = 'default'); required: no; store: {st.root}"
            in r.stdout.splitlines()), r.stdout
    rc, d = st.list_json()
    assert rc == 0 and d["policy"] == {"path": str(pol), "profile": "default", "required": None, "mandatory": None}


def test_uninstall_refuses_the_profile_the_policy_names(st: Store):
    """Removing the mandatory profile would make every Python process (and run) fail closed: refused."""
    st.put("web")
    (st.root / "policy.toml").write_text('[mandatory]\nprofile = "web"\napplies_to = ["run"]\n')
    os.chmod(st.root / "policy.toml", 0o644)
    r = st.cli("uninstall", "web")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == (f"sysfence: error: {st.root}/policy.toml: [mandatory] profile = 'web' names profile 'web': "
                        "removing it would make that policy fail; change the policy first (or use --force)\n")
    assert st.path("web").exists()
    r = st.cli("uninstall", "web", "--force")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"removed {st.path('web')}\n", "")
    assert not st.path("web").exists()
