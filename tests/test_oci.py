"""OCI runtime-spec / Docker seccomp JSON import and export.

Docker's default profile (../shared/data, not copied into the project) must import unchanged and decide what
Docker documents: in the rules, in the compiled program for every syscall number (BPF emulator) and in child
processes against the real kernel. Exported JSON must mean the same to a container runtime: it is compiled here
the way runc and crun compile it (one libseccomp filter) and emulated. Malformed input gives one line naming
the file, the JSON path and the value.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_py

from sysfence import _libseccomp as lib
from sysfence import bpf, compiler, profile, syscalls
from sysfence.errors import ProfileError, UnknownSyscallError
from sysfence.formats import oci
from sysfence.rules import ALLOW, ENOSYS, EPERM, KILL_PROCESS, Action, ArgCondition, Kind, Op, Rule, RuleSet

DOCKER_JSON = Path(__file__).resolve().parents[2] / "shared/data/docker-default-seccomp.json"
X86_64, I386 = 0xC000003E, 0x40000003
WITH_SYS_ADMIN = oci.DOCKER_DEFAULT_CAPABILITIES | {"CAP_SYS_ADMIN"}
CLONE_THREAD, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWNS = 0x10000, 0x10000000, 0x40000000, 0x20000
AF_INET, AF_ALG, AF_NFC, AF_VSOCK = 2, 38, 39, 40

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
    reason="these expectations are written for Linux x86_64",
)


@pytest.fixture(scope="module")
def docker_data() -> bytes:
    if not DOCKER_JSON.exists():
        pytest.skip(f"Docker's default profile is not at {DOCKER_JSON} (it is test data outside the project)")
    return DOCKER_JSON.read_bytes()


@pytest.fixture(scope="module")
def docker(docker_data) -> RuleSet:
    return oci.import_oci(docker_data, "docker.json")


@pytest.fixture(scope="module")
def docker_admin(docker_data) -> RuleSet:
    return oci.import_oci(docker_data, "docker.json", capabilities=WITH_SYS_ADMIN)


def args(a0: int = 0, a1: int = 0) -> tuple[int, ...]:
    return (a0, a1, 0, 0, 0, 0)


def edges(rs: RuleSet):
    """(syscall, args) at and around every value of every argument rule, one argument at a time and, for rules
    on several arguments, every combination of their values."""
    def near(c: ArgCondition) -> set[int]:
        vals = {c.value, c.value | 1 << 32, 0, 2**64 - 1, (c.value + 1) % 2**64, (c.value - 1) % 2**64}
        if c.op is Op.MASKED_EQ:
            vals |= {c.value ^ c.mask, c.mask, c.value | (~c.mask & 2**64 - 1)}
        return vals

    for rule in rs.conditional:
        for c in rule.conditions:
            for v in near(c):
                a = [0] * 6
                a[c.index] = v
                yield rule.syscall, tuple(a)
        if len(rule.conditions) > 1:
            for combo in itertools.product(*[sorted(near(c))[:5] for c in rule.conditions]):
                a = [0] * 6
                for c, v in zip(rule.conditions, combo, strict=True):
                    a[c.index] = v
                yield rule.syscall, tuple(a)


def mismatches(program: bytes, rs: RuleSet, names=None) -> list[str]:
    """Where the program's verdict differs from rs.decide, for every syscall (zero args) and every rule edge."""
    cases = [(n, args()) for n in (names or syscalls.table())] + list(edges(rs))
    wrong = []
    for name, a in cases:
        nr = syscalls.number(name)
        if nr is None:
            continue
        got = bpf.run(program, bpf.seccomp_data(X86_64, nr, a))[0]
        want = compiler.encode(rs.decide(name, a))
        if got != want:
            wrong.append(f"{name}{tuple(hex(x) for x in a if x)}: program {got:#x}, rules {want:#x}")
    return wrong


_RT_ACTIONS = {"SCMP_ACT_ALLOW": lib.ACT_ALLOW, "SCMP_ACT_ERRNO": lib.ACT_ERRNO, "SCMP_ACT_LOG": lib.ACT_LOG,
               "SCMP_ACT_KILL_PROCESS": lib.ACT_KILL_PROCESS, "SCMP_ACT_KILL_THREAD": lib.ACT_KILL_THREAD,
               "SCMP_ACT_TRAP": lib.ACT_TRAP}
_RT_OPS = {"SCMP_CMP_NE": lib.CMP_NE, "SCMP_CMP_LT": lib.CMP_LT, "SCMP_CMP_LE": lib.CMP_LE, "SCMP_CMP_EQ": lib.CMP_EQ,
           "SCMP_CMP_GE": lib.CMP_GE, "SCMP_CMP_GT": lib.CMP_GT, "SCMP_CMP_MASKED_EQ": lib.CMP_MASKED_EQ}


def runtime_program(doc: dict[str, Any]) -> bytes:
    """Compile runtime-spec JSON as runc and crun do: one libseccomp filter; a rule whose action equals the
    default is skipped; conditions sharing an argument become separate rules; libseccomp's bad-arch default."""

    def action(e: dict[str, Any], action_key: str, errno_key: str) -> int:
        a = _RT_ACTIONS[e[action_key]]
        return a | e.get(errno_key, errno.EPERM) if a == lib.ACT_ERRNO else a

    default = action(doc, "defaultAction", "defaultErrnoRet")
    with lib.Filter(default) as f:
        for e in doc["syscalls"]:
            act = action(e, "action", "errnoRet")
            if act == default:
                continue
            conds = [(a["index"], _RT_OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in e.get("args", [])]
            split = len({c[0] for c in conds}) < len(conds)
            for name in e["names"]:
                nr = syscalls.number(name)
                for cs in [[c] for c in conds] if split else [conds]:
                    if nr is not None:
                        f.add_rule(act, nr, cs)
        return f.export_bpf()


def doc(*entries: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO", **top, "syscalls": list(entries)}).encode()


# ------------------------------------------------------------------ Docker's default profile: the rules


def test_docker_socket_rules_are_what_the_file_says(docker_data):
    """The file allows socket for every family below AF_ALG, AF_NFC, and above AF_VSOCK: AF_ALG and AF_VSOCK
    are refused. Checked against the file so a new moby/profiles version shows up here first."""
    entries = [e for e in json.loads(docker_data)["syscalls"] if e.get("names") == ["socket"]]
    assert [(a["op"], a["value"]) for e in entries for a in e["args"]] == [
        ("SCMP_CMP_LT", AF_ALG), ("SCMP_CMP_EQ", AF_NFC), ("SCMP_CMP_GT", AF_VSOCK)]


@pytest.mark.parametrize("name, a, want", [
    ("clone", args(CLONE_NEWUSER | 0x11), EPERM),
    ("clone", args(CLONE_NEWNET), EPERM),
    ("clone", args(CLONE_NEWNS), EPERM),
    ("clone", args(0x11), ALLOW),  # fork: SIGCHLD
    ("clone", args(0x3D0F00), ALLOW),  # pthread_create's flags
    ("clone3", args(), ENOSYS),
    ("personality", args(0), ALLOW),
    ("personality", args(8), ALLOW),
    ("personality", args(0x20000), ALLOW),
    ("personality", args(0x20008), ALLOW),
    ("personality", args(0xFFFFFFFF), ALLOW),
    ("personality", args(0x0040000), EPERM),  # ADDR_NO_RANDOMIZE
    ("personality", args(1), EPERM),
    ("socket", args(AF_INET), ALLOW),
    ("socket", args(AF_ALG), EPERM),
    ("socket", args(AF_NFC), ALLOW),
    ("socket", args(AF_VSOCK), EPERM),
    ("socket", args(41), ALLOW),
    ("io_uring_setup", args(), EPERM),  # in the table, not in the file
    ("mount", args(), EPERM),  # needs CAP_SYS_ADMIN
    ("read", args(), ALLOW),
])
def test_docker_decisions(docker, name, a, want):
    assert docker.decide(name, a) == want


@pytest.mark.parametrize("name, a, want", [
    ("clone", args(CLONE_NEWUSER), ALLOW),
    ("clone3", args(), ALLOW),
    ("mount", args(), ALLOW),
    ("unshare", args(), ALLOW),
    ("personality", args(0x0040000), EPERM),
])
def test_docker_with_cap_sys_admin(docker_admin, name, a, want):
    assert docker_admin.decide(name, a) == want
    assert not [r for r in docker_admin.conditional if r.syscall in ("clone", "clone3")]


def test_syscalls_newer_than_the_table_get_enosys(docker):
    try:
        known = syscalls.number("mseal") is not None
    except UnknownSyscallError:
        known = False
    assert docker.decide("mseal") == (ALLOW if known else ENOSYS)  # the file allows it; libseccomp 2.5.4 cannot
    assert docker.unknown_action == ENOSYS and docker.default_action == EPERM


def test_min_kernel_and_capabilities_resolve(docker_data):
    old = oci.import_oci(docker_data, "docker.json", kernel_version="4.4")
    assert old.decide("ptrace") == EPERM  # "includes": {"minKernel": "4.8"}
    new = oci.import_oci(docker_data, "docker.json", kernel_version="6.1.0-18-amd64")
    assert new.decide("ptrace") == ALLOW
    traced = oci.import_oci(docker_data, "docker.json", kernel_version="4.4", capabilities=frozenset({"CAP_SYS_PTRACE"}))
    assert traced.decide("ptrace") == ALLOW and traced.decide("kcmp") == ALLOW and traced.decide("chroot") == EPERM


def test_docker_notes_say_what_differs(docker_data):
    notes = oci.read_oci(docker_data, "docker.json").notes
    text = "\n".join(notes)
    assert "only SCMP_ARCH_X86_64 is filtered; calls from SCMP_ARCH_X32, SCMP_ARCH_X86 kill the process" in text
    assert "syscalls[17] does not apply: needs CAP_SYS_ADMIN" in notes
    assert "syscalls[19] does not apply: only on s390, s390x" in notes
    assert any(n.startswith("newer than libseccomp") and "statmount" in n for n in notes)
    assert any(n.startswith("not on x86_64") and "_llseek" in n for n in notes)
    assert all("\n" not in n for n in notes)


def test_other_arches_entries(docker_data):
    arm = oci.import_oci(docker_data, "docker.json", arch="arm64")
    assert "breakpoint" in arm.base and "arch_prctl" not in {s for s, r in arm.base.items() if r.action == ALLOW}
    assert "breakpoint" not in oci.import_oci(docker_data, "docker.json").base


# ------------------------------------------------------------------ Docker's default profile: compiled


@pytest.mark.parametrize("caps", ["default", "sys_admin"])
def test_docker_compiled_program_matches_the_rules(docker, docker_admin, caps):
    rs = docker if caps == "default" else docker_admin
    program = compiler.compile_ruleset(rs).program
    assert not mismatches(program, rs)
    for nr in range(1024):  # every number: named ones as the rules say, the rest ENOSYS
        name = syscalls.name(nr)
        want = compiler.encode(rs.decide(name) if name else rs.unknown_action)
        assert bpf.run(program, bpf.seccomp_data(X86_64, nr))[0] == want, nr
    # sysfence filters the native arch only: x32 numbers and i386 calls are killed, Docker's sub-arches or not
    assert bpf.run(program, bpf.seccomp_data(X86_64, 0x40000000 | 39))[0] == lib.ACT_KILL_PROCESS
    assert bpf.run(program, bpf.seccomp_data(I386, 20))[0] == lib.ACT_KILL_PROCESS


_PROBE = r"""
import ctypes, errno, json, os, sys, threading
from sysfence import compiler, kernel, syscalls
from sysfence.formats import oci

caps = frozenset(json.loads(sys.argv[1])) if len(sys.argv) > 1 else None
rs = oci.import_oci(open(PATH, "rb").read(), "docker.json", capabilities=caps)
program = compiler.compile_ruleset(rs).program
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def sc(nr, *a):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(x) for x in a])
    if rc >= 0:
        return "ok"
    return errno.errorcode[ctypes.get_errno()]

kernel.set_no_new_privs()
kernel.load_filter(program, syscalls.number("seccomp"))
with open("/proc/self/status") as f:
    status = dict(line.split(":", 1) for line in f if ":" in line)
assert status["Seccomp"].strip() == "2", status["Seccomp"]

res = {}
# clone with CLONE_THREAD but no CLONE_SIGHAND is EINVAL in the kernel: harmless, and tells "passed the filter"
for flag in (0, 0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000):
    res[f"clone:{flag:#x}"] = sc(56, 0x10000 | flag, 0, 0, 0, 0)
pid = os.fork()
if pid == 0:
    os._exit(7)
res["fork"] = os.waitpid(pid, 0)[1] >> 8
box = []
t = threading.Thread(target=lambda: box.append(1))
t.start(); t.join()
res["thread"] = box
for persona in (0xFFFFFFFF, 0, 8, 0x20000, 0x20008, 0x0040000, 1, 0x100000008):
    res[f"personality:{persona:#x}"] = sc(135, persona)
    sc(135, 0)
for family, kind in ((2, 1), (38, 5), (39, 2), (40, 1)):
    fd = libc.syscall(ctypes.c_long(41), family, kind, 0)
    res[f"socket:{family}"] = "ok" if fd >= 0 else errno.errorcode[ctypes.get_errno()]
    if fd >= 0:
        os.close(fd)
res["clone3"] = sc(435, 0, 0)
res["io_uring_setup"] = sc(425, 0, 0)
res["mseal"] = sc(462, 0, 0, 0)
res["nr1000"] = sc(1000)
print(json.dumps(res))
"""


@pytest.fixture(scope="module")
def probes(docker_data):
    from sysfence import kernel

    if reason := kernel.unsupported_reason():
        pytest.skip(reason)
    out = {}
    for label, caps in (("default", None), ("sys_admin", sorted(WITH_SYS_ADMIN))):
        code = f"PATH = {str(DOCKER_JSON)!r}\n" + _PROBE
        argv = [] if caps is None else [json.dumps(caps)]
        proc = run_py(f"import sys; sys.argv[1:] = {argv!r}\n" + code)
        assert proc.returncode == 0, proc.stderr
        out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("flag", [0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000])
def test_kernel_clone_namespaces(probes, flag):
    assert probes["default"][f"clone:{flag:#x}"] == "EPERM"  # Docker: no CAP_SYS_ADMIN, no namespaces
    assert probes["sys_admin"][f"clone:{flag:#x}"] == "EINVAL"  # passed the filter; refused by the kernel


def test_kernel_fork_and_threads_work(probes):
    for label in ("default", "sys_admin"):
        p = probes[label]
        assert (p["clone:0x0"], p["fork"], p["thread"]) == ("EINVAL", 7, [1])


@pytest.mark.parametrize("persona, want", [
    (0xFFFFFFFF, "ok"), (0, "ok"), (8, "ok"), (0x20000, "ok"), (0x20008, "ok"),
    (0x0040000, "EPERM"), (1, "EPERM"), (0x100000008, "EPERM"),  # Docker compares all 64 bits
])
def test_kernel_personality(probes, persona, want):
    assert probes["default"][f"personality:{persona:#x}"] == want


def test_kernel_socket_families(probes):
    p = probes["default"]
    assert (p["socket:2"], p["socket:38"], p["socket:40"]) == ("ok", "EPERM", "EPERM")
    assert p["socket:39"] != "EPERM"  # AF_NFC passes the filter (the kernel may not support it)


def test_kernel_enosys_and_eperm(probes, docker):
    p = probes["default"]
    assert (p["clone3"], p["io_uring_setup"], p["nr1000"]) == ("ENOSYS", "EPERM", "ENOSYS")
    assert p["mseal"] == "ENOSYS" if docker.decide("mseal") == ENOSYS else p["mseal"] != "ENOSYS"
    assert probes["sys_admin"]["clone3"] == "EINVAL"  # allowed with CAP_SYS_ADMIN: the kernel checks the size


# ------------------------------------------------------------------ export and round trips


def test_export_has_the_runtime_spec_shape():
    rs = profile.load("default").ruleset()
    text = oci.dumps_oci(rs)
    d = json.loads(text)
    assert set(d) == {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}
    assert (d["defaultAction"], d["defaultErrnoRet"], d["architectures"]) == ("SCMP_ACT_ERRNO", 1, ["SCMP_ARCH_X86_64"])
    assert isinstance(d["syscalls"], list) and d["syscalls"]
    for e in d["syscalls"]:
        assert set(e) <= {"names", "action", "errnoRet", "args"} and {"names", "action"} <= set(e)
        assert e["names"] == sorted(e["names"]) and all(isinstance(n, str) for n in e["names"])
        assert e["action"].startswith("SCMP_ACT_") and ("errnoRet" in e) == (e["action"] == "SCMP_ACT_ERRNO")
        for a in e.get("args", []):
            assert {"index", "value", "op"} <= set(a) <= {"index", "value", "valueTwo", "op"}
    assert oci.import_oci(text.encode(), "exported.json")  # accepted by our own importer
    assert text.endswith("}\n")


def _assert_same(rs: RuleSet, back: RuleSet) -> None:
    assert set(back.conditional) == set(rs.conditional)
    cases = [(n, args()) for n in syscalls.table()] + list(edges(rs)) + list(edges(back))
    wrong = [(n, a) for n, a in cases if rs.decide(n, a) != back.decide(n, a)]
    assert not wrong, wrong[:10]
    assert (back.default_action, back.unknown_action) == (rs.default_action, rs.unknown_action)


def test_round_trip_builtin_default():
    rs = profile.load("default").ruleset()
    result = oci.read_oci(oci.dumps_oci(rs).encode(), "default.json")
    _assert_same(rs, result.ruleset)
    assert result.notes == ()
    assert rs.guards and rs.permits  # both directions went through OCI


def test_round_trip_docker(docker):
    _assert_same(docker, oci.import_oci(oci.dumps_oci(docker).encode(), "again.json"))


@pytest.mark.parametrize("which", ["default", "docker", "guards"])
def test_runtime_compiles_the_export_to_the_same_decisions(which, docker_data):
    """What runc/crun make of the exported JSON decides like the RuleSet, guards included."""
    if which == "default":
        rs = profile.load("default").ruleset()
    elif which == "docker":
        rs = oci.import_oci(docker_data, "docker.json")
    else:
        rs = _guarded()
    program = runtime_program(oci.export_oci(rs))
    assert not mismatches(program, rs, [n for n in syscalls.table() if n in rs.base])
    rnd = random.Random(1)  # and rules on several arguments meeting at random values near theirs
    values = sorted({v for _, a in edges(rs) for v in a})
    for name in sorted({r.syscall for r in rs.conditional}):
        for _ in range(300):
            a = tuple(rnd.choice(values) for _ in range(6))
            got = bpf.run(program, bpf.seccomp_data(X86_64, syscalls.number(name), a))[0]
            assert got == compiler.encode(rs.decide(name, a)), (name, a)


def _guarded() -> RuleSet:
    """Guards the complement has to work for: two points, a range, masked values, two actions, a kill."""
    c = ArgCondition
    rules = [Rule(n, ALLOW) for n in ("ioctl", "prctl", "fcntl", "kill", "lseek")] + [
        Rule("ioctl", EPERM, (c(1, Op.EQ, 0x5412),)),
        Rule("ioctl", EPERM, (c(1, Op.EQ, 0x541C),)),
        Rule("prctl", KILL_PROCESS, (c(0, Op.GE, 1000),)),
        Rule("fcntl", Action(Kind.ERRNO, errno.EACCES), (c(2, Op.MASKED_EQ, 0x400, 0x400),)),
        Rule("fcntl", Action(Kind.ERRNO, errno.EACCES), (c(2, Op.MASKED_EQ, 0x3, 0xF),)),
        Rule("kill", EPERM, (c(1, Op.EQ, 9),)),
        Rule("lseek", Action(Kind.ERRNO, errno.EINVAL), (c(2, Op.GT, 4),)),
        Rule("lseek", Action(Kind.ERRNO, errno.EINVAL), (c(2, Op.EQ, 1),)),
    ]
    return RuleSet.build("guards", "", rules, known=[n for n in syscalls.table() if n != "getpid"])


def test_round_trip_guards():
    rs = _guarded()
    doc_ = oci.export_oci(rs)
    assert ["getpid"] in [e["names"] for e in doc_["syscalls"] if e.get("errnoRet") == errno.ENOSYS]
    _assert_same(rs, oci.import_oci(json.dumps(doc_).encode(), "guards.json"))


@pytest.mark.parametrize("conditions, why", [
    ([(ArgCondition(0, Op.EQ, (0x9E3779B97F4A7C15 * (i + 1)) % 2**64),) for i in range(10)],
     "that takes more than 512 rules"),  # allowing all but ten scattered 64-bit values
    ([(ArgCondition(0, Op.EQ, 16), ArgCondition(2, Op.EQ, 9))],
     "its rules test arguments 0, 2: libseccomp 2.5 (in Docker and Podman) can miscompile or hang"),
])
def test_export_refuses_guards_it_cannot_write_safely(conditions, why):
    rules = [Rule("socket", ALLOW)] + [Rule("socket", EPERM, t) for t in conditions]
    with pytest.raises(ProfileError) as exc:
        oci.export_oci(RuleSet.build("x", "", rules))
    msg = str(exc.value)
    assert msg.startswith("profile 'x': cannot export 'socket' as OCI JSON: OCI has no 'allow except'") and why in msg
    assert "\n" not in msg


def test_permits_on_several_arguments_export():
    """Conditional allows need no complement: any number of arguments is fine."""
    rules = [Rule("socket", ALLOW, (ArgCondition(0, Op.EQ, 16), ArgCondition(2, Op.EQ, 0)))]
    rs = RuleSet.build("x", "", rules + [Rule("socket", EPERM)])
    _assert_same(rs, oci.import_oci(oci.dumps_oci(rs).encode(), "x.json"))


# ------------------------------------------------------------------ import semantics (runc's and libseccomp's)


def test_same_argument_twice_becomes_separate_rules():
    rs = oci.import_oci(doc({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}), "p.json")
    assert {r.conditions for r in rs.conditional} == {(ArgCondition(0, Op.EQ, 1),), (ArgCondition(0, Op.EQ, 2),)}
    both = oci.import_oci(doc({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}), "p.json")
    assert [r.conditions for r in both.conditional] == [(ArgCondition(0, Op.EQ, 1), ArgCondition(1, Op.EQ, 2))]


def test_masked_eq_value_is_the_mask():
    rs = oci.import_oci(doc({"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0xF0, "valueTwo": 0x10, "op": "SCMP_CMP_MASKED_EQ"}]}), "c.json")
    assert rs.conditional[0].conditions == (ArgCondition(0, Op.MASKED_EQ, 0x10, 0xF0),)
    assert rs.decide("clone", args(0x1F)) == ALLOW and rs.decide("clone", args(0x20)) == EPERM


def test_unconditional_rule_overrides_conditional_ones():
    r = oci.read_oci(doc({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW"}, {"names": ["ioctl"],
                     "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0x5412, "op": "SCMP_CMP_EQ"}]}), "i.json")
    assert r.ruleset.decide("ioctl", args(0, 0x5412)) == ALLOW and not r.ruleset.conditional
    assert any("syscalls[1]: the conditional SCMP_ACT_ERRNO(EPERM) rule for ioctl has no effect" in n for n in r.notes)


def test_rules_with_the_default_action_are_skipped():
    r = oci.read_oci(doc({"names": ["ioctl"], "action": "SCMP_ACT_ERRNO"},
                         {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [
                             {"index": 1, "value": 5, "op": "SCMP_CMP_EQ"}]}), "i.json")
    assert r.ruleset.decide("ioctl", args(0, 5)) == ALLOW and r.ruleset.decide("ioctl") == EPERM  # as under runc


def test_default_allow_profile():
    rs = oci.import_oci(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ERRNO"}]}).encode(), "spec-example.json")
    assert (rs.decide("getcwd"), rs.decide("read"), rs.decide("mseal"), rs.unknown_action) == (EPERM, ALLOW, ALLOW, ALLOW)


def test_docker_and_podman_spellings():
    rs = oci.import_oci(json.dumps({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EACCES", "defaultErrnoRet": 13,
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"], "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"name": "read", "action": "SCMP_ACT_ALLOW", "args": None, "comment": "", "includes": {}, "excludes": {}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errno": "ENOSYS", "errnoRet": 38},
            {"names": ["ptrace"], "action": "SCMP_ACT_KILL"},
            {"names": ["kcmp"], "action": "SCMP_ACT_LOG"},
        ]}).encode(), "podman.json")
    assert rs.default_action == Action(Kind.ERRNO, errno.EACCES) and rs.decide("write") == rs.default_action
    assert (rs.decide("read"), rs.decide("clone3"), rs.decide("ptrace").kind, rs.decide("kcmp").kind) == (
        ALLOW, ENOSYS, Kind.KILL_THREAD, Kind.LOG)


def test_ignored_fields_are_noted():
    notes = oci.read_oci(doc(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                             listenerPath="/run/agent.sock"), "n.json").notes
    assert any(n.startswith("flags[0]: SECCOMP_FILTER_FLAG_LOG is ignored") for n in notes)
    assert any(n.startswith("flags[1]: SECCOMP_FILTER_FLAG_SPEC_ALLOW is ignored") for n in notes)
    assert any(n.startswith("listenerPath is ignored") for n in notes)


# ------------------------------------------------------------------ errors: one line, file, JSON path, value


_ALLOW_READ = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}


def _arg(**kw: Any) -> bytes:
    return doc({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_EQ",
                                                                           **kw}]})


@pytest.mark.parametrize("data, expect", [
    (b'{"defaultAction": "SCMP_ACT_ERRNO",', "bad.json: not valid JSON: "),
    (b"\xff\xfe\x00", "bad.json: not valid JSON"),
    (b"[" * 100000, "bad.json: not valid JSON: nested too deeply"),
    (b"[]", "bad.json: a seccomp profile must be a JSON object, not an array"),
    (b"{}", "bad.json: defaultAction: missing"),
    (b'{"defaultActon": "SCMP_ACT_ERRNO"}', "bad.json: defaultActon: unknown key (did you mean 'defaultAction'?)"),
    (b'{"defaultAction": 1}', "bad.json: defaultAction: action must be a string, not 1"),
    (b'{"defaultAction": "SCMP_ACT_EROR"}', "bad.json: defaultAction: unknown action 'SCMP_ACT_EROR' (did you mean 'SCMP_ACT_ERRNO'?)"),
    (b'{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}', "bad.json: defaultErrnoRet: an errno is only valid with SCMP_ACT_ERRNO"),
    (b'{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 0}', "bad.json: defaultErrnoRet: errno 0 would make the call return 0"),
    (b'{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}', "bad.json: defaultErrnoRet: errno must be 1-4095"),
    (b'{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EPREM"}', "bad.json: defaultErrno: unknown errno 'EPREM' (did you mean 'EPERM'?)"),
    (b'{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EACCES", "defaultErrnoRet": 1}', "bad.json: defaultErrno: 'EACCES' contradicts defaultErrnoRet 1"),
    (b'{"defaultAction": "SCMP_ACT_NOTIFY"}', "bad.json: defaultAction: SCMP_ACT_NOTIFY is not supported"),
    (b'{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}', "bad.json: syscalls: must be an array, not an object"),
    (doc([]), "bad.json: syscalls[0]: must be an object, not an array"),
    (doc({"action": "SCMP_ACT_ALLOW"}), "bad.json: syscalls[0]: missing 'names'"),
    (doc({"names": [], "action": "SCMP_ACT_ALLOW"}), "bad.json: syscalls[0].names: must name at least one syscall"),
    (doc({"names": ["read"], "name": "read", "action": "SCMP_ACT_ALLOW"}), "bad.json: syscalls[0]: both 'name' and 'names'"),
    (doc(_ALLOW_READ, {"names": ["read", 3], "action": "SCMP_ACT_ALLOW"}), "bad.json: syscalls[1].names[1]: syscall names must be non-empty strings, not 3"),
    (doc({"names": ["read", "ptrase"], "action": "SCMP_ACT_ALLOW"}), "bad.json: syscalls[0].names[1]: unknown syscall 'ptrase' (did you mean 'ptrace'?)"),
    (doc({"name": "mseel", "action": "SCMP_ACT_ALLOW"}), "bad.json: syscalls[0].name: unknown syscall 'mseel' (did you mean"),
    (doc({"names": ["read"]}), "bad.json: syscalls[0].action: missing"),
    (doc({"names": ["read"], "action": "SCMP_ACT_TRACE"}), "bad.json: syscalls[0].action: SCMP_ACT_TRACE is not supported"),
    (doc({"names": ["read"], "action": "SCMP_ACT_ALOW"}), "bad.json: syscalls[0].action: unknown action 'SCMP_ACT_ALOW' (did you mean 'SCMP_ACT_ALLOW'?)"),
    (doc({"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}), "bad.json: syscalls[0].errnoRet: an errno is only valid with SCMP_ACT_ERRNO, not SCMP_ACT_ALLOW"),
    (doc({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": "1"}), "bad.json: syscalls[0].errnoRet: unknown errno '1'"),
    (doc({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": True}), "bad.json: syscalls[0].errnoRet: errno must be 1-4095 or a name like 'EPERM', not True"),
    (doc({"names": ["read"], "action": "SCMP_ACT_ALLOW", "coment": ""}), "bad.json: syscalls[0].coment: unknown key (did you mean 'comment'?)"),
    (doc({"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": {}}), "bad.json: syscalls[0].args: must be an array, not an object"),
    (_arg(index=6), "bad.json: syscalls[0].args[0].index: must be an integer 0-0x5, not 6"),
    (_arg(op="SCMP_CMP_EQQ"), "bad.json: syscalls[0].args[0].op: unknown operator 'SCMP_CMP_EQQ' (did you mean 'SCMP_CMP_EQ'?)"),
    (_arg(value=-1), "bad.json: syscalls[0].args[0].value: must be an integer 0-0xffffffffffffffff, not -1"),
    (_arg(value=1.5), "bad.json: syscalls[0].args[0].value: must be an integer 0-0xffffffffffffffff, not 1.5"),
    (_arg(value=2**64), "bad.json: syscalls[0].args[0].value: must be an integer"),
    (_arg(valueTwo=4), "bad.json: syscalls[0].args[0].valueTwo: 0x4: only SCMP_CMP_MASKED_EQ uses valueTwo"),
    (_arg(op="SCMP_CMP_MASKED_EQ", valueTwo=3), "bad.json: syscalls[0].args[0].valueTwo: 0x3 has bits outside the mask 0x1 ('value'): it never matches"),
    (_arg(inedx=1), "bad.json: syscalls[0].args[0].inedx: unknown key (did you mean 'index'?)"),
    (doc({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 1}]}), "bad.json: syscalls[0].args[0]: missing 'op'"),
    (doc(architectures=["SCMP_ARCH_X86_46"]), "bad.json: architectures[0]: unknown architecture 'SCMP_ARCH_X86_46' (did you mean 'SCMP_ARCH_X86_64'?)"),
    (doc(architectures=["SCMP_ARCH_X86_64"], archMap=[{"architecture": "SCMP_ARCH_X86_64"}]), "bad.json: archMap: 'architectures' and 'archMap' are both set"),
    (doc(archMap=[{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["x86"]}]), "bad.json: archMap[0].subArchitectures[0]: unknown architecture 'x86'"),
    (doc(flags=["SECCOMP_FILTER_FLAG_TSNYC"]), "bad.json: flags[0]: unknown flag 'SECCOMP_FILTER_FLAG_TSNYC' (did you mean 'SECCOMP_FILTER_FLAG_TSYNC'?)"),
    (doc(listenerPath=3), "bad.json: listenerPath: must be a string, not int"),
    (doc({**_ALLOW_READ, "includes": {"caps": ["CAP_SYS_ADMN"]}}), "bad.json: syscalls[0].includes.caps[0]: unknown capability 'CAP_SYS_ADMN' (did you mean 'CAP_SYS_ADMIN'?)"),
    (doc({**_ALLOW_READ, "excludes": {"arches": ["amd46"]}}), "bad.json: syscalls[0].excludes.arches[0]: unknown architecture 'amd46' (did you mean 'amd64'?)"),
    (doc({**_ALLOW_READ, "includes": {"minKernel": "4.8.1"}}), "bad.json: syscalls[0].includes.minKernel: '4.8.1' is not a kernel version"),
    (doc({**_ALLOW_READ, "includes": {"minKernel": 4}}), "bad.json: syscalls[0].includes.minKernel: 4 is not a kernel version"),
    (doc({**_ALLOW_READ, "includes": {"kernel": "4.8"}}), "bad.json: syscalls[0].includes.kernel: unknown key"),
    (doc({**_ALLOW_READ, "includes": []}), "bad.json: syscalls[0].includes: must be an object, not an array"),
    (doc(_ALLOW_READ, {"names": ["read"], "action": "SCMP_ACT_KILL_PROCESS"}), "bad.json: syscalls[1]: 'read' is SCMP_ACT_KILL_PROCESS here but SCMP_ACT_ALLOW in syscalls[0]"),
    (doc({"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
         {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97, "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}),
     "bad.json: syscalls[1]: 'socket' has conditional rules with two actions (SCMP_ACT_ALLOW in syscalls[0], SCMP_ACT_ERRNO(EAFNOSUPPORT) here)"),
    (doc({"names": ["socket"], "action": "SCMP_ACT_KILL_PROCESS", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}),
     "bad.json: syscalls[0]: a conditional SCMP_ACT_KILL_PROCESS for 'socket' on top of the default SCMP_ACT_ERRNO(EPERM) cannot be represented"),
])
def test_malformed_input(data, expect):
    with pytest.raises(ProfileError) as exc:
        oci.import_oci(data, "bad.json")
    msg = str(exc.value)
    assert msg.startswith(expect), msg
    assert "\n" not in msg


def test_unknown_syscall_is_an_unknown_syscall_error():
    with pytest.raises(UnknownSyscallError):
        oci.import_oci(doc({"names": ["ptrase"], "action": "SCMP_ACT_ALLOW"}), "bad.json")


@pytest.mark.parametrize("kw, expect", [
    ({"capabilities": frozenset({"SYS_ADMIN"})}, "x.json: capabilities: unknown capability 'SYS_ADMIN' (did you mean 'CAP_SYS_ADMIN'?)"),
    ({"kernel_version": "six"}, "x.json: kernel_version: 'six' is not a kernel version"),
    ({"arch": "amd46"}, "x.json: arch: unknown architecture 'amd46' (did you mean 'amd64'?)"),
])
def test_bad_parameters(kw, expect):
    with pytest.raises(ProfileError, match="^" + expect.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        oci.import_oci(doc(), "x.json", **kw)


def test_mutated_docker_profile_never_raises_anything_else(docker_data):
    """Random type and value damage to Docker's profile: a RuleSet or one ProfileError line, never a traceback."""
    rnd = random.Random(7)
    junk = [None, 0, -1, 1.5, True, "", "x", "SCMP_ACT_ALLOW", [], [1], {}, {"a": 1}, 2**64, "EPERM", "4.8"]
    original = json.loads(docker_data)
    for _ in range(300):
        d = json.loads(json.dumps(original))
        node: Any = d
        for _depth in range(rnd.randint(1, 4)):  # walk to a random container, then damage one slot
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            k = rnd.choice(keys)
            if not isinstance(node[k], (dict, list)) or rnd.random() < 0.3:
                node[k] = rnd.choice(junk)
                break
            node = node[k]
        try:
            oci.import_oci(json.dumps(d).encode(), "fuzz.json")
        except ProfileError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("fuzz.json: ")


def test_two_actions_that_split_every_call_are_a_base_and_guards():
    """Podman's profile refuses socket(AF_NETLINK, *, NETLINK_AUDIT) with EINVAL and allows the rest with two
    overlapping rules, under a default of ENOSYS: that is socket allowed, with one guard."""
    eq = [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]
    profile_ = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": eq},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 9, "op": "SCMP_CMP_NE"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]},
    ]}).encode()
    rs = oci.import_oci(profile_, "podman.json")
    assert rs.base["socket"].action == ALLOW
    assert rs.guards == (Rule("socket", Action(Kind.ERRNO, errno.EINVAL), (ArgCondition(0, Op.EQ, 16),
                                                                           ArgCondition(2, Op.EQ, 9))),)
    assert rs.decide("socket", (16, 3, 9, 0, 0, 0)).errno == errno.EINVAL and rs.decide("socket", (16, 3, 0, 0, 0, 0)) == ALLOW
    overlap = json.loads(profile_)
    overlap["syscalls"][1]["args"][0]["op"] = "SCMP_CMP_GE"  # now (16, 9) matches both actions
    with pytest.raises(ProfileError, match=r"podman.json: syscalls\[1\]: 'socket' has conditional rules with two actions"):
        oci.import_oci(json.dumps(overlap).encode(), "podman.json")
