"""systemd and Kubernetes exports: what they enforce matches the profile, and what they cannot enforce is said."""

from __future__ import annotations

import errno
import re
import shutil
import subprocess
import sys

import pytest
from conftest import child_env
from hypothesis import given, settings
from hypothesis import strategies as st

from sysfence import profile, syscalls
from sysfence.formats import k8s, systemd
from sysfence.rules import ALLOW, ENOSYS, EPERM, KILL_PROCESS, Action, ArgCondition, Kind, Op, Rule, RuleSet

DIRECTIVES = {
    "NoNewPrivileges", "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber",
    "RestrictNamespaces", "SystemCallLog",
}


@pytest.fixture(scope="module")
def rs() -> RuleSet:
    return profile.load("default").ruleset()


def directives(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        key, sep, value = line.partition("=")
        assert sep and key in DIRECTIVES, f"unexpected line {line!r}"
        out.append((key, value))
    return out


def filter_names(text: str) -> list[str]:
    """Names of the allow-list lines (after the empty reset); fails on any deny-list line or group."""
    names = []
    for key, value in directives(text):
        if key == "SystemCallFilter" and value:
            assert not value.startswith("~") and "@" not in value, value
            names += value.split()
    return names


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


# ------------------------------------------------------------------ systemd


def test_systemd_allows_exactly_what_the_profile_allows(rs):
    text = systemd.export_systemd(rs, systemd_version=250)  # 251+ also lists clone3: see below
    names = filter_names(text)
    assert len(names) == len(set(names))
    assert sorted(names) == rs.allowed()
    assert all(syscalls.number(n) is not None for n in names)  # every name exists on this architecture


def test_systemd_resets_then_sets_arch_errno_and_nnp(rs):
    d = directives(systemd.export_systemd(rs))
    assert d.index(("SystemCallFilter", "")) < min(i for i, (k, v) in enumerate(d) if k == "SystemCallFilter" and v)
    assert d.index(("SystemCallArchitectures", "")) < d.index(("SystemCallArchitectures", "native"))
    assert [v for k, v in d if k == "SystemCallErrorNumber"] == ["EPERM"]
    assert ("NoNewPrivileges", "yes") in d
    assert "RestrictNamespaces" not in dict(directives(systemd.export_systemd(rs, systemd_version=250)))


def test_systemd_comments_every_argument_rule(rs):
    text = systemd.export_systemd(rs, systemd_version=250)  # 251+ approximates clone: see below
    notes = comments(text)
    assert rs.conditional, "the default profile has argument rules"
    for r in rs.conditional:
        when = " and ".join(str(c) for c in r.conditions)
        hits = [c for c in notes if c.startswith(f"# NOT ENFORCED: {r.syscall} when {when} -> {r.action}")]
        assert len(hits) == 1, (r, hits)
        assert f"systemd allows every call of {r.syscall}" in hits[0]
    for s in {r.syscall for r in rs.conditional}:
        assert any(c.startswith(f"#   closest systemd setting for {s}: ") for c in notes), s
    ioctl = next(c for c in notes if c.startswith("#   closest systemd setting for ioctl"))
    assert "none" in ioctl and "legacy_tiocsti" in ioctl
    assert "LockPersonality=yes" in next(c for c in notes if "setting for personality" in c)
    assert "RestrictNamespaces=yes" in next(c for c in notes if "setting for clone" in c)


def test_systemd_reports_clone3_enosys_it_cannot_express(rs):
    assert rs.decide("clone3") == ENOSYS
    notes = "\n".join(comments(systemd.export_systemd(rs, systemd_version=250)))
    assert "LOST: errno(ENOSYS) in the profile, EPERM under systemd" in notes
    assert re.search(r"^#   clone3$", notes, re.M)
    assert "Python cannot start threads" in notes and "export with --systemd-version 251" in notes
    assert "LOST: syscalls the profile does not name get errno(ENOSYS) here, EPERM under systemd 250." in notes


def test_systemd_255_answers_syscalls_it_does_not_know_with_enosys(rs):
    notes = "\n".join(comments(systemd.export_systemd(rs, systemd_version=255)))
    assert ("LOST: syscalls the profile does not name get errno(ENOSYS) here, EPERM under systemd for the ones "
            "its table (@known) has; ENOSYS for the others (systemd 255+).") in notes


def test_systemd_default_target_is_this_hosts_systemd_else_current(rs):
    """Without --systemd-version the export is for the systemd of the machine it runs on, else CURRENT."""
    out = ""
    for cmd in ("systemctl", "systemd-analyze"):
        if shutil.which(cmd):
            out = subprocess.run([cmd, "--version"], capture_output=True, text=True).stdout
            break
    m = re.match(r"systemd (\d+)", out)
    want = (int(m.group(1)), "this host's") if m else (systemd.CURRENT, "sysfence's default, Debian 13's")
    t = systemd.target()
    assert (t.version, t.why) == want
    assert f"# Written for systemd {want[0]} and newer ({want[1]};" in systemd.export_systemd(rs)
    assert systemd.export_systemd(rs) == systemd.export_systemd(rs, systemd_version=want[0]).replace(
        f"{want[0]} and newer (given;", f"{want[0]} and newer ({want[1]};")
    r = subprocess.run([sys.executable, "-m", "sysfence", "export", "default", "--format", "systemd"],
                       capture_output=True, text=True, env=child_env())
    assert r.returncode == 0 and r.stderr == (f"sysfence: note: written for systemd {want[0]} ({want[1]}); give "
                                              "--systemd-version N, the oldest systemd the unit will run on, when "
                                              "that is older\n"), r.stderr


@pytest.mark.parametrize("bad", [0, -1, True, "257", 25.7])
def test_systemd_version_must_be_a_release_number(rs, bad):
    with pytest.raises(ValueError, match="want a release number"):
        systemd.export_systemd(rs, systemd_version=bad)


@pytest.mark.parametrize("given, series", [("257", 257), ("252.38", 252), ("0", None), ("-1", None), ("abc", None),
                                           ("", None), ("\u00b2", None), ("252.38.1", None)])
def test_systemd_version_flag(given, series):
    r = subprocess.run([sys.executable, "-m", "sysfence", "export", "default", "--format", "systemd",
                        "--systemd-version", given], capture_output=True, text=True, env=child_env())
    if series is None:
        assert r.returncode == 2 and r.stdout == "", r
        assert r.stderr.splitlines()[-1] == (f"sysfence: error: argument --systemd-version: {given!r} is not a "
                                             "release number (such as 257 or 252.38)"), r.stderr
    else:
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert f"# Written for systemd {series} and newer (given;" in r.stdout


def test_systemd_251_routes_clone3_to_restrict_namespaces(rs):
    text = systemd.export_systemd(rs, systemd_version=251)
    assert sorted(filter_names(text)) == sorted(rs.allowed() + ["clone3"])
    assert ("RestrictNamespaces", "yes") in directives(text)
    notes = comments(text)
    assert not any("LOST: errno(ENOSYS) in the profile" in c for c in notes)
    clone = [c for c in notes if c.startswith("# APPROXIMATED: clone when")]
    assert len(clone) == len([r for r in rs.conditional if r.syscall == "clone"])


def _rs(rules: list[Rule], default: Action = EPERM, unknown: Action = ENOSYS) -> RuleSet:
    return RuleSet.build("t", "test", rules, unknown, default_action=default)


NS_GUARDS = [
    Rule("clone", EPERM, (ArgCondition(0, Op.MASKED_EQ, f, f),))
    for f in (0x02000000, 0x08000000, 0x40000000, 0x00020000, 0x20000000, 0x10000000, 0x04000000)
]


@pytest.mark.parametrize(
    "rules, exact",
    [
        ([Rule("clone", ALLOW), *NS_GUARDS, Rule("clone3", ENOSYS)], True),  # guards of an allowed clone
        ([Rule("clone", ALLOW), *NS_GUARDS[1:], Rule("clone3", ENOSYS)], False),  # CLONE_NEWCGROUP not refused
        ([Rule("clone", ALLOW), Rule("clone3", ENOSYS)], False),  # clone unchecked
        ([Rule("clone", ALLOW), *NS_GUARDS, Rule("clone3", ENOSYS), Rule("unshare", ALLOW)], False),
        ([Rule("clone", ALLOW), *NS_GUARDS, Rule("clone3", EPERM)], False),  # clone3 would change errno
        ([Rule("clone", EPERM), Rule("clone", ALLOW, (ArgCondition(0, Op.EQ, 0x11),)), Rule("clone3", ENOSYS)], True),
        ([Rule("clone", EPERM), Rule("clone", ALLOW, (ArgCondition(1, Op.EQ, 0),)), Rule("clone3", ENOSYS)], False),
        ([Rule("clone", EPERM), Rule("clone", ALLOW, (ArgCondition(0, Op.GT, 0),)), Rule("clone3", ENOSYS)], False),
    ],
)
def test_systemd_restrict_namespaces_only_when_it_refuses_nothing_the_profile_allows(rules, exact):
    text = systemd.export_systemd(_rs(rules), systemd_version=300)
    assert (("RestrictNamespaces", "yes") in directives(text)) is exact


def test_systemd_restrict_namespaces_needs_systemd_251(rs):
    assert ("RestrictNamespaces", "yes") not in directives(systemd.export_systemd(rs, systemd_version=250))


def test_systemd_other_errnos_and_actions_are_reported():
    rules = [Rule("read", ALLOW), Rule("mount", Action(Kind.ERRNO, errno.EACCES)), Rule("ptrace", KILL_PROCESS)]
    notes = comments(systemd.export_systemd(_rs(rules), systemd_version=257))
    for what in ("errno(EACCES)", "kill-process"):
        i = notes.index(f"# LOST: {what} in the profile, EPERM under systemd "
                        "(an allow list has one errno for everything outside it):")
        assert notes[i + 1] == ("#   mount" if "EACCES" in what else "#   ptrace")


def test_systemd_profile_allowing_nothing_still_filters():
    d = directives(systemd.export_systemd(_rs([Rule("read", EPERM)]), systemd_version=250))
    assert [v for k, v in d if k == "SystemCallFilter"] == ["", "@default"]
    d = directives(systemd.export_systemd(_rs([Rule("read", EPERM)]), systemd_version=251))
    assert [v for k, v in d if k == "SystemCallFilter"] == ["", "@default", "clone3"]  # ENOSYS, as in the profile
    assert ("RestrictNamespaces", "yes") in d


def test_systemd_kill_default():
    text = systemd.export_systemd(_rs([Rule("read", ALLOW)], default=KILL_PROCESS, unknown=KILL_PROCESS))
    assert ("SystemCallErrorNumber", "kill") in directives(text)
    assert filter_names(text) == ["read"]


def test_systemd_deny_list_mode_keeps_each_errno():
    rules = [
        Rule("read", ALLOW), Rule("mount", Action(Kind.ERRNO, errno.EACCES)), Rule("ptrace", KILL_PROCESS),
        Rule("reboot", Action(Kind.TRAP)), Rule("getpid", Action(Kind.LOG)),
    ]
    text = systemd.export_systemd(_rs(rules, default=ALLOW, unknown=ALLOW))
    d = directives(text)
    denies = [v for k, v in d if k == "SystemCallFilter" and v.startswith("~")]
    assert denies == ["~mount:EACCES ptrace:kill reboot:kill"]
    assert "SystemCallErrorNumber" not in dict(d)
    assert ("SystemCallLog", "getpid") in d
    assert any(c.startswith("# APPROXIMATED: trap -> kill") for c in comments(text))


def test_systemd_closed_profile_with_default_allow_is_still_an_allow_list():
    """Unknown syscalls denied: only an allow list keeps them denied under systemd."""
    text = systemd.export_systemd(_rs([Rule("mount", EPERM), Rule("read", ALLOW)], default=ALLOW, unknown=ENOSYS),
                                  systemd_version=250)
    assert filter_names(text) == ["read"]
    assert ("SystemCallErrorNumber", "ENOSYS") in directives(text)
    assert any(c.startswith("# LOST: errno(EPERM) in the profile, ENOSYS under systemd") for c in comments(text))


@pytest.mark.parametrize("version, lost", [
    (245, ""),  # getrandom and mprotect joined @default in 250 (backported to 246+ and 248+), seccomp in 257
    (247, "getrandom"),
    (252, "getrandom mprotect"),
    (257, "getrandom mprotect seccomp"),
])
def test_systemd_reports_denials_of_its_always_allowed_set(version, lost):
    rules = [Rule("read", ALLOW), Rule("getrandom", EPERM), Rule("mprotect", EPERM), Rule("seccomp", EPERM)]
    notes = comments(systemd.export_systemd(_rs(rules), systemd_version=version))
    head = f"# LOST: systemd {version} always permits these (its @default set); the profile denies them:"
    if not lost:
        assert head not in notes
        return
    assert notes[notes.index(head) + 1] == f"#   {lost}"


def test_systemd_always_allowed_grows_and_takes_backports():
    facts = systemd.facts()
    sets = {v: systemd.Target(v, "given").always_allowed() for v in range(240, 270)}
    released = {v: systemd.Target(v, "given").always_allowed(backports=False) for v in sets}
    assert all(released[v] <= released[v + 1] for v in range(240, 269))  # never removed from @default
    for name, series in facts.backported.items():  # a series' point releases took names of later releases
        members = set(facts.groups.get(name, (name,)))
        for v in series:
            assert facts.default_since[name] > v and members <= sets[v] and not members <= released[v], (name, v)
    assert "uretprobe" in sets[252] and "uretprobe" not in released[256]  # Debian 12's 252.38 has it
    assert {"landlock_add_rule", "seccomp"} <= sets[257] and "@sandbox" not in sets[257]  # groups expanded


def test_systemd_newer_versions_permit_more_and_the_export_says_so():
    rules = [Rule("read", ALLOW), Rule("mseal", EPERM), Rule("getrandom", EPERM)]
    notes = comments(systemd.export_systemd(_rs(rules), systemd_version=252))
    i = notes.index(f"# LOST on newer systemd (up to {systemd.facts().newest_checked}), whose @default also "
                    "permits these; the profile denies them:")
    assert notes[i + 1] == "#   mseal" and "#   getrandom" in notes  # mseal joined in 257, getrandom in 250


def test_systemd_before_247_has_no_kill_spelling():
    rules = [Rule("read", ALLOW), Rule("ptrace", KILL_PROCESS), Rule("mount", EPERM), Rule("getpid", Action(Kind.LOG))]
    old = systemd.export_systemd(_rs(rules, default=ALLOW, unknown=ALLOW), systemd_version=246)
    assert [v for k, v in directives(old) if k == "SystemCallFilter" and v] == ["~mount:EPERM ptrace"]
    assert "# NOT ENFORCED before systemd 247: SystemCallLog= (systemd 246 ignores it)" in comments(old)
    new = systemd.export_systemd(_rs(rules, default=ALLOW, unknown=ALLOW), systemd_version=247)
    assert [v for k, v in directives(new) if k == "SystemCallFilter" and v] == ["~mount:EPERM ptrace:kill"]
    killing = _rs([Rule("read", ALLOW)], default=KILL_PROCESS, unknown=KILL_PROCESS)
    assert "SystemCallErrorNumber" not in dict(directives(systemd.export_systemd(killing, systemd_version=246)))
    assert ("SystemCallErrorNumber", "kill") in directives(systemd.export_systemd(killing, systemd_version=247))


def test_systemd_clone3_through_namespaces_says_what_it_needs(rs):
    notes = comments(systemd.export_systemd(rs, systemd_version=251))
    assert "# NEEDS systemd 251 or newer: before that (and before 249.12/250.5) RestrictNamespaces= lets clone3" in notes


def test_systemd_permit_of_denied_syscall_is_commented_in_deny_list_mode():
    rules = [Rule("personality", EPERM), Rule("personality", ALLOW, (ArgCondition(0, Op.EQ, 0),))]
    notes = comments(systemd.export_systemd(_rs(rules, default=ALLOW, unknown=ALLOW)))
    assert any(
        c.startswith("# NOT ENFORCED: personality when arg0 == 0x0 -> allow;")
        and "systemd denies every call of personality" in c
        for c in notes
    )


def test_systemd_profile_text_cannot_inject_directives():
    evil = "x\nExecStartPre=/bin/sh -c evil\\"
    rules = [Rule("ioctl", ALLOW), Rule("ioctl", EPERM, (ArgCondition(1, Op.EQ, 1),), reason=evil)]
    rs = RuleSet.build("n\nExecStart=/bin/evil", "d", rules, default_action=EPERM)
    text = systemd.export_systemd(rs)
    directives(text)  # asserts that every non-comment line is one of ours
    assert not any(line.rstrip().endswith("\\") for line in text.splitlines())


def test_systemd_refuses_names_that_are_not_syscall_names():
    with pytest.raises(ValueError, match="cannot be written"):
        systemd.export_systemd(_rs([Rule("read\x00 write", ALLOW)]))


def _syscall_filter(group: str) -> set[str]:
    """`systemd-analyze syscall-filter GROUP`: its names, with nested groups expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True)
    words = {w for line in out.stdout.splitlines()[1:] if not line.strip().startswith("#") for w in line.split()}
    return set().union(*(_syscall_filter(w) if w.startswith("@") else {w} for w in words))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_always_allowed_matches_this_hosts_systemd():
    """This host's @default lies between its release's set and its series' newest set (backports)."""
    version = systemd.host_version()
    assert version is not None
    host = _syscall_filter("@default")
    at_release = systemd.Target(version, "given").always_allowed(backports=False)
    assert host and host <= systemd.Target(version, "given").always_allowed(), sorted(
        host - systemd.Target(version, "given").always_allowed())
    if version <= systemd.facts().newest_checked:
        assert at_release <= host, sorted(at_release - host)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("version", [None, 250, 252, systemd.CURRENT])
def test_systemd_analyze_verify_accepts_the_unit(rs, tmp_path, version):
    unit = tmp_path / "sysfence-export-test.service"
    body = systemd.export_systemd(rs, systemd_version=version)
    unit.write_text(f"[Unit]\nDescription=sysfence export test\n[Service]\nExecStart=/bin/true\n{body}")
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (res.stdout + res.stderr).splitlines() if unit.name in line]
    assert res.returncode == 0 and not complaints, res.stdout + res.stderr


# ------------------------------------------------------------------ Kubernetes


@pytest.fixture(scope="module")
def oci():
    return pytest.importorskip("sysfence.formats.oci", reason="sysfence.formats.oci (export_oci) is not there yet")


SPO_SPEC = {"defaultAction", "architectures", "listenerPath", "listenerMetadata", "syscalls", "flags"}
OPS = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}


def test_k8s_manifest_has_the_operator_shape(rs, oci):
    m, _ = k8s.seccomp_profile(rs, "python-default", "apps")
    assert m["apiVersion"] == "security-profiles-operator.x-k8s.io/v1beta1" and m["kind"] == "SeccompProfile"
    assert m["metadata"]["name"] == "python-default" and m["metadata"]["namespace"] == "apps"
    assert set(m["spec"]) <= SPO_SPEC and m["spec"]["defaultAction"].startswith("SCMP_ACT_")
    for entry in m["spec"]["syscalls"]:
        assert set(entry) <= {"names", "action", "errnoRet", "args"} and entry["names"]
        assert isinstance(entry.get("errnoRet", 0), int)
        for a in entry.get("args", []):
            assert set(a) == {"index", "value", "valueTwo", "op"} and a["op"] in OPS and 0 <= a["index"] <= 5
    assert "namespace" not in k8s.seccomp_profile(rs, "x")[0]["metadata"]


def test_k8s_spec_is_the_oci_profile(rs, oci):
    spec = k8s.seccomp_profile(rs, "p")[0]["spec"]
    ref = oci.export_oci(rs)
    assert spec["defaultAction"] == ref["defaultAction"]
    assert [e["names"] for e in spec["syscalls"]] == [e["names"] for e in ref["syscalls"]]
    assert [e["action"] for e in spec["syscalls"]] == [e["action"] for e in ref["syscalls"]]


def test_k8s_contains_every_allowed_syscall(rs, oci):
    spec = k8s.seccomp_profile(rs, "p")[0]["spec"]
    allowed = {n for e in spec["syscalls"] if e["action"] == "SCMP_ACT_ALLOW" for n in e["names"]}
    assert set(rs.allowed()) <= allowed


def test_k8s_argument_encoding(rs, oci):
    """runtime-spec / libseccomp order for SCMP_CMP_MASKED_EQ: value = mask, valueTwo = datum."""
    spec = k8s.seccomp_profile(rs, "p")[0]["spec"]
    args = [(e["names"], e["action"], a) for e in spec["syscalls"] for a in e.get("args", [])]
    assert args
    for _, _, a in args:
        if a["op"] == "SCMP_CMP_MASKED_EQ":
            assert a["valueTwo"] & ~a["value"] == 0, a  # the datum lies inside the mask
    for r in rs.permits:  # conditional allows are plain runtime-spec rules
        (c,) = r.conditions
        want = {"index": c.index, "value": c.mask, "valueTwo": c.value, "op": "SCMP_CMP_MASKED_EQ"}
        assert any(r.syscall in names and act == "SCMP_ACT_ALLOW" and a == want for names, act, a in args), r


def test_k8s_yaml_is_the_manifest(rs, oci):
    yaml = pytest.importorskip("yaml")
    text = k8s.export_k8s(rs, "python-default", "apps")
    assert yaml.safe_load(text) == k8s.seccomp_profile(rs, "python-default", "apps")[0]


def test_k8s_yaml_structure_without_a_parser(rs, oci):
    text = k8s.export_k8s(rs, "python-default", "apps")
    lines = text.splitlines()
    body = [line for line in lines if not line.startswith("#")]
    assert body[:2] == ["apiVersion: security-profiles-operator.x-k8s.io/v1beta1", "kind: SeccompProfile"]
    assert "\t" not in text and all(line == line.rstrip() for line in lines)
    assert "localhostProfile: operator/apps/python-default.json" in text
    listed = {m.group(1) for line in body if (m := re.fullmatch(r" {8}- ([a-z0-9_]+)", line))}
    assert set(rs.allowed()) <= listed


def test_kubelet_json_is_the_oci_profile(rs, oci):
    import json

    assert json.loads(k8s.export_kubelet_json(rs)) == oci.export_oci(rs)


def fake_oci(monkeypatch, doc):
    monkeypatch.setattr(k8s, "_export_oci", lambda rs: doc)


def test_k8s_drops_what_the_operator_does_not_know_and_says_so(monkeypatch):
    fake_oci(monkeypatch, {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "x", "includes": {}},
            {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 1, "value": 0xFFFFFFFF, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0x5412}]},
            {"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1 << 63, "op": "SCMP_CMP_EQ"}]},
        ],
    })
    m, notes = k8s.seccomp_profile(_rs([Rule("read", ALLOW)]), "p")
    assert "defaultErrnoRet" not in m["spec"]
    assert m["spec"]["syscalls"][0] == {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    assert m["spec"]["syscalls"][1]["args"] == [{"index": 1, "value": 0xFFFFFFFF, "valueTwo": 0x5412, "op": "SCMP_CMP_MASKED_EQ"}]
    assert m["spec"]["syscalls"][2]["args"][0]["valueTwo"] == 0
    text = "\n".join(notes)
    assert "defaultErrnoRet 38" in text and "2**63" in text and "ENOSYS" in text


@pytest.mark.parametrize("name, namespace", [("Bad_Name", None), ("ok", "Bad.NS"), ("-x", None), ("a" * 254, None)])
def test_k8s_refuses_invalid_names(name, namespace):
    with pytest.raises(ValueError, match="Kubernetes"):
        k8s.seccomp_profile(_rs([Rule("read", ALLOW)]), name, namespace)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(max_size=100))  # YAML limits implicit keys to 1024 characters; ours are fixed names
def test_yaml_scalars_read_back_unchanged(s, key):
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(f"k: {k8s._scalar(s)}\n{k8s._scalar(key)}: 1\n") == {"k": s, key: 1}


@pytest.mark.parametrize("s", ["yes", "No", "on", "OFF", "y", "null", "~", "", "1", "0x10", "1e3", "-", "a: b", "#x",
                               "@x", "*x", "&x", "!x", "%x", "|", ">", "'", '"', "x #y", " x", "2001-01-01", ".inf"])
def test_yaml_ambiguous_words_are_quoted(s):
    assert k8s._scalar(s).startswith('"')
