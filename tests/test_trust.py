"""Group-writable files of a user's private group: trusted (Debian 13's default umask 002 makes every new file of
a user group-writable); group-writable through a group anybody else belongs to: refused.

The rule (store._private_group) is checked on a simulated user database, then end to end as root: a project
file owned by another account, group-writable through that account's private group (found by asking the
platform with getent, not with the code under test), configures `sysfence status` run as that account; the same
file made group-writable through a group with other members is refused with one line.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import child_env, python_for, world_readable_package

from sysfence import store


def _db(monkeypatch, passwd: list[tuple[str, int, int]], groups: list[tuple[str, int, list[str]]]) -> None:
    """A user database of (name, uid, gid) accounts and (name, gid, members) groups."""
    users = [pwd.struct_passwd((n, "x", u, g, "", "/", "/bin/sh")) for n, u, g in passwd]
    entries = [grp.struct_group((n, "x", g, m)) for n, g, m in groups]

    def getpwuid(uid: int):
        for u in users:
            if u.pw_uid == uid:
                return u
        raise KeyError(uid)

    monkeypatch.setattr(grp, "getgrall", lambda: list(entries))
    monkeypatch.setattr(pwd, "getpwuid", getpwuid)
    monkeypatch.setattr(pwd, "getpwall", lambda: list(users))


@pytest.mark.parametrize("passwd, groups, gid, uid, private", [
    ([("ann", 1000, 1000)], [("ann", 1000, [])], 1000, 1000, True),  # the usual private group
    ([("ann", 1000, 1000)], [("ann", 1000, ["ann"])], 1000, 1000, True),  # listed as its member too
    ([("ann", 1000, 100)], [("ann", 1001, ["ann"])], 1001, 1000, False),  # not her primary group
    ([("ann", 1000, 1000)], [("devs", 1000, [])], 1000, 1000, False),  # not named after her
    ([("ann", 1000, 1000), ("bob", 1001, 1000)], [("ann", 1000, [])], 1000, 1000, False),  # bob's primary too
    ([("ann", 1000, 1000), ("bob", 1001, 1001)], [("ann", 1000, ["bob"])], 1000, 1000, False),  # bob listed
    ([("ann", 1000, 1000), ("bob", 1001, 1001)], [("ann", 1000, ["ann", "bob"])], 1000, 1000, False),
    # a second entry with the same gid: login (initgroups) gives bob gid 1000 although getgrgid shows ann's
    ([("ann", 1000, 1000), ("bob", 1001, 1001)], [("ann", 1000, []), ("devs", 1000, ["bob"])], 1000, 1000, False),
    ([("ann", 1000, 1000)], [("ann", 1000, []), ("ann2", 1000, [])], 1000, 1000, False),
    ([("ann", 1000, 1000)], [("ann", 1000, [])], 4242, 1000, False),  # no such group
    ([("ann", 1000, 1000)], [("ann", 1000, [])], 1000, 4242, False),  # no such user
])
def test_private_group_rule(monkeypatch, passwd, groups, gid, uid, private):
    _db(monkeypatch, passwd, groups)
    assert store._private_group(gid, uid) is private


def test_root_world_writable_and_acls_never_use_the_rule(monkeypatch, tmp_path):
    _db(monkeypatch, [("root", 0, 0), ("ann", 1000, 1000)], [("root", 0, []), ("ann", 1000, [])])
    f = tmp_path / "f"
    f.write_text("x")
    fd = os.open(f, os.O_RDONLY)
    try:
        for uid, gid, mode, why in ((0, 0, 0o664, "group-writable"), (1000, 1000, 0o666, "world-writable")):
            st = os.stat_result((0o100000 | mode, 0, 0, 1, uid, gid, 1, 0, 0, 0))
            with pytest.raises(store.UntrustedError, match=why):
                store._check(st, str(f), "file", frozenset({0, 1000}), fd)
        st = os.stat_result((0o100664, 0, 0, 1, 1000, 1000, 1, 0, 0, 0))
        store._check(st, str(f), "file", frozenset({0, 1000}), fd)  # ann's private group: trusted
        monkeypatch.setattr(store, "_has_acl", lambda fd: True)
        with pytest.raises(store.UntrustedError, match="group-writable"):
            store._check(st, str(f), "file", frozenset({0, 1000}), fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ end to end, as another account


def _acl(other_uid: int) -> bytes:
    """system.posix_acl_access granting `other_uid` read and write (linux/posix_acl_xattr.h, version 2):
    user::rw- user:OTHER:rw- group::r-- mask::rw- other::r--."""
    undefined = 0xFFFFFFFF
    entries = [(0x01, 6, undefined), (0x02, 6, other_uid), (0x04, 4, undefined), (0x10, 6, undefined),
               (0x20, 4, undefined)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, who) for tag, perm, who in entries)


def _getent(db: str) -> list[list[str]]:
    r = subprocess.run(["getent", db], capture_output=True, text=True, check=True)
    return [line.split(":") for line in r.stdout.splitlines()]


def _accounts() -> tuple[int, int, int] | None:
    """(uid, private gid, shared gid) from the platform's user database: a non-root account whose primary group
    has no other member, and a group somebody else belongs to."""
    users = [(u[0], int(u[2]), int(u[3])) for u in _getent("passwd")]
    groups = [(g[0], int(g[2]), [m for m in g[3].split(",") if m]) for g in _getent("group")]
    for name, uid, gid in users:
        if uid == 0:
            continue
        primary = {u for _, u, g in users if g == gid}
        same_gid = [(n, m) for n, g, m in groups if g == gid]
        if primary != {uid} or len(same_gid) != 1 or same_gid[0][0] != name or set(same_gid[0][1]) - {name}:
            continue
        for _, g, m in groups:
            if g != gid and ({u for _, u, pg in users if pg == g} - {uid} or set(m) - {name}):
                return uid, gid, g
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (files owned by another account)")
@pytest.mark.skipif(shutil.which("getent") is None, reason="needs getent")
@pytest.mark.skipif(os.path.lexists("/etc/sysfence"), reason="a system policy would configure the child too")
def test_project_file_group_writable_through_a_private_group():
    found = _accounts()
    if found is None:
        pytest.skip("no account with a private group and no shared group in this user database")
    uid, private, shared = found
    exe = python_for(uid, private)
    if exe is None:
        pytest.skip(f"no Python >= 3.11 that uid {uid} can run")
    d = Path(tempfile.mkdtemp(prefix="sysfence-trust-"))  # world-searchable, unlike pytest's tmp_path
    try:
        os.chmod(d, 0o755)
        lib = world_readable_package(d)
        proj = d / "proj"
        proj.mkdir()
        os.chown(proj, uid, private)
        os.chmod(proj, 0o775)  # as umask 002 makes it: group-writable too
        f = proj / "sysfence.toml"
        f.write_text('profile = "no-network"\n')
        os.chmod(f, 0o664)

        def status(gid: int) -> dict:
            os.chown(f, uid, gid)
            r = subprocess.run([exe, "-S", "-m", "sysfence", "status", "--json"], cwd=proj, user=uid, group=private,
                               extra_groups=[], env=child_env(PYTHONPATH=str(lib)), capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout)["configuration"]

        conf = status(private)
        assert (conf.get("profile"), conf.get("chosen_by")) == ("no-network", f"{f}: profile = 'no-network'"), conf
        refused = {"error": f"{f}: untrusted file: group-writable (owner uid {uid}, mode 0664)"}
        assert status(shared) == refused
        # an ACL entry letting another account write: the group bits are then the ACL's mask
        try:
            os.setxattr(f, "system.posix_acl_access", _acl(other_uid=65534))
        except OSError as exc:
            pytest.skip(f"cannot set a POSIX ACL here: {exc.strerror}")
        assert os.stat(f).st_mode & 0o777 == 0o664
        assert status(private) == refused
        os.removexattr(f, "system.posix_acl_access")
        os.chmod(f, 0o664)
        assert status(private)["profile"] == "no-network"  # the control: the same file without the ACL
    finally:
        shutil.rmtree(d)
