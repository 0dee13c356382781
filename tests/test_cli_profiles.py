"""CLI commands over profiles: show --capabilities, explain, diff, check, export, import, run --cap."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import sysfence_cli


def test_show_capabilities_lists_the_catalog():
    d = json.loads(sysfence_cli("show", "--capabilities", "--json").stdout)
    caps = {c["name"]: c for c in d["capabilities"]}
    assert caps["io_uring"]["dangerous"] and not caps["file-read"]["dangerous"]
    assert any("0x400243" in w for r in caps["file-read"]["argument_rules"] for w in r["when"])
    text = sysfence_cli("show", "--capabilities").stdout
    assert "io_uring [DANGEROUS]" in text and "note:" in text


def test_explain_names_capabilities_rules_and_decisions():
    r = sysfence_cli("explain", "ioctl", "--arg", "1=0x100005412", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["number"] == 16 and {"stdio", "terminal"} <= set(d["granted_by"]) and d["dangerous"] == []
    assert {p["profile"]: p["decision"] for p in d["profiles"]}["default"] == "errno(EPERM)"
    r = sysfence_cli("explain", "ioctl", "--arg", "1=0x5413", "--profile", "strict", "--json")
    assert [p["decision"] for p in json.loads(r.stdout)["profiles"]] == ["allow"]
    d = json.loads(sysfence_cli("explain", "ptrace", "--json").stdout)
    assert d["granted_by"] == ["debugging"] and d["dangerous"] == ["debugging"]
    assert all(p["decision"] == "errno(EPERM)" for p in d["profiles"])


@pytest.mark.parametrize("args, message", [
    (["explain", "ptrase"], "unknown syscall 'ptrase' (did you mean 'ptrace'?)"),
    (["explain", "ioctl", "--arg", "9=1"], "--arg '9=1': expected N=VALUE"),
    (["explain", "ioctl", "--arg", "1=zz"], "--arg '1=zz': expected N=VALUE"),
    (["run", "--cap", "net-clinet", "--", "true"], "unknown capability 'net-clinet' (did you mean 'net-client'?)"),
    (["diff", "default", "nope"], "unknown profile 'nope'"),
    (["check", "/nonexistent.toml"], "/nonexistent.toml: cannot read profile"),
    (["export", "default", "--format", "yaml"], "invalid choice: 'yaml'"),
    (["import", "/nonexistent.json"], "/nonexistent.json: cannot read profile"),
])
def test_mistakes_are_one_line(args, message):
    r = sysfence_cli(*args)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_diff():
    assert sysfence_cli("diff", "default", "default").stdout.strip() == "default and default decide every syscall the same way"
    d = json.loads(sysfence_cli("diff", "default", "no-spawn", "--json").stdout)
    changed = {c["syscall"]: (c["a"], c["b"]) for c in d["changes"]}
    assert changed["execve"] == ("allow", "errno(EPERM)") and changed["fork"] == ("allow", "errno(EPERM)")
    assert "clone" in changed  # same base decision, different argument rules
    assert "read" not in changed


def test_check_validates_without_loading(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("extends = 'default'\ncapabilities = ['io_uring']\ndeny = ['vm86']\n")
    r = sysfence_cli("check", str(f))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"ok: {f}: profile 'p': ")
    assert "note: not on this architecture (their calls cannot happen here): vm86" in r.stdout
    assert "warning: grants dangerous capabilities: io_uring" in r.stdout
    d = json.loads(sysfence_cli("check", str(f), "--json").stdout)
    assert d["instructions"] > 0 and d["dangerous_capabilities"] == ["io_uring"]
    f.write_text("capabilities = ['stdio']\nallow = ['opn']\n")
    r = sysfence_cli("check", str(f))
    assert r.returncode == 1 and r.stderr.strip() == f"sysfence: error: {f}: allow[0]: unknown syscall 'opn' (did you mean 'open'?)"


@pytest.mark.parametrize("name", ["default", "strict", "read-only", "net-client"])
def test_toml_export_round_trips(tmp_path, name):
    from sysfence import profile, syscalls

    out = tmp_path / f"{name}.toml"
    assert sysfence_cli("export", name, "--format", "toml", "-o", str(out)).returncode == 0
    a, b = profile.load(name).ruleset(), profile.load(str(out)).ruleset()
    assert set(a.conditional) == set(b.conditional)
    for s in syscalls.table():
        assert a.decide(s) == b.decide(s), s
    assert a.default_action == b.default_action and a.unknown_action == b.unknown_action


def test_oci_export_import_round_trip_through_the_cli(tmp_path):
    from sysfence import profile, syscalls

    oci = tmp_path / "default.json"
    toml = tmp_path / "default.toml"
    assert sysfence_cli("export", "default", "--format", "oci", "-o", str(oci)).returncode == 0
    assert json.loads(oci.read_text())["defaultAction"] == "SCMP_ACT_ERRNO"
    r = sysfence_cli("import", str(oci), "-o", str(toml))
    assert r.returncode == 0, r.stderr
    a, b = profile.load("default").ruleset(), profile.load(str(toml)).ruleset()
    for s in syscalls.table():
        for args in [(0,) * 6, (0, 0x5412, 0, 0, 0, 0), (0x10000000,) + (0,) * 5, (0x40000,) + (0,) * 5]:
            assert a.decide(s, args) == b.decide(s, args), (s, args)
    # a JSON profile can be used directly too
    r = sysfence_cli("run", "--profile", str(oci), "--", sys.executable, "-c", "import os; os.chroot('/')")
    assert r.returncode == 1 and "PermissionError" in r.stderr


def test_export_systemd_and_k8s():
    r = sysfence_cli("export", "default", "--format", "systemd")
    assert r.returncode == 0 and "SystemCallArchitectures=native" in r.stdout
    r = sysfence_cli("export", "default", "--format", "k8s", "--name", "py-default", "--namespace", "apps")
    assert r.returncode == 0 and "kind: SeccompProfile" in r.stdout and "name: py-default" in r.stdout
    r = sysfence_cli("export", "default", "--format", "k8s", "--name", "Bad_Name")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = sysfence_cli("export", "default", "--format", "kubelet")
    assert r.returncode == 0 and json.loads(r.stdout)["defaultAction"] == "SCMP_ACT_ERRNO"


def test_run_cap_grants_and_warns():
    code = "import ctypes; l=ctypes.CDLL(None, use_errno=True); print(l.syscall(425, 0, 0), ctypes.get_errno())"
    denied = sysfence_cli("run", "--", sys.executable, "-c", code)
    granted = sysfence_cli("run", "--cap", "io_uring", "--", sys.executable, "-c", code)
    assert denied.stdout.split() == ["-1", "1"]  # EPERM from the filter
    assert granted.stdout.split() == ["-1", "14"]  # EFAULT from the kernel: the call got through
    assert "warning: profile 'default' grants the dangerous capability 'io_uring'" in granted.stderr


def test_run_refuses_profiles_that_cannot_exec():
    r = sysfence_cli("run", "--profile", "strict", "--", "true")
    assert r.returncode == 125
    assert r.stderr.strip() == ("sysfence: error: profile 'strict' denies execve, so no program can be started "
                                "under it; call sysfence.enable('strict') inside the program, or start a Python "
                                "program with SYSFENCE_PROFILE=strict python ...")
