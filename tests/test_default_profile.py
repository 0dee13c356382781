"""The embedded default profile as data: complete for its table, checklist syscalls denied with the right
errno, hot syscalls free of argument rules. (Enforcement itself is tested in test_security.py.)"""

from __future__ import annotations

import errno
import tomllib
from pathlib import Path

import pytest

from sysfence import profile, syscalls
from sysfence.rules import ALLOW, ENOSYS, EPERM, Action, ArgCondition, Kind, Op, Rule, RuleSet

TABLE_MAX_NR = 456  # futex_requeue, Linux 6.7: the table default.toml was written against
LATE_GAP_FILLERS = {"uretprobe", "uprobe"}  # added in 6.11 and 6.16 with low x86_64 numbers (335, 336)


@pytest.fixture(scope="module")
def rs():
    return profile.load("default").ruleset()


def test_every_syscall_of_the_table_is_named(rs):
    """Nothing the profile was written against falls to ENOSYS by accident."""
    missing = [n for n, nr in syscalls.table().items()
               if nr <= TABLE_MAX_NR and n not in LATE_GAP_FILLERS and n not in rs.base]
    assert missing == []


def test_no_name_is_newer_than_libseccomp_2_5_4():
    """Built-in names must resolve with the oldest libseccomp we support (2.5.4) on some arch."""
    from sysfence import capabilities

    for cap in capabilities.catalog().values():
        for s in list(cap.syscalls) + [r.syscall for r in cap.rules]:
            syscalls.number(s)  # raises UnknownSyscallError otherwise
    for s in syscalls.profile_table()[1]:
        syscalls.number(s)


CHECKLIST_EPERM = """
io_uring_setup io_uring_enter io_uring_register unshare setns ptrace process_vm_readv process_vm_writev kcmp
pidfd_getfd mount umount2 open_tree move_mount fsopen fsconfig fsmount fspick mount_setattr pivot_root chroot bpf
perf_event_open userfaultfd keyctl add_key request_key kexec_load kexec_file_load init_module finit_module
delete_module create_module reboot swapon swapoff acct quotactl quotactl_fd settimeofday clock_settime adjtimex
clock_adjtime syslog iopl ioperm open_by_handle_at lookup_dcookie uselib sysfs _sysctl nfsservctl vm86 vm86old
""".split()


@pytest.mark.parametrize("name", [n for n in CHECKLIST_EPERM if n not in ("vm86", "vm86old")])
def test_checklist_syscalls_denied_with_eperm(rs, name):
    assert rs.decide(name) == EPERM
    assert rs.decide(name, (2**64 - 1,) * 6) == EPERM


def test_clone3_gets_enosys(rs):
    assert rs.decide("clone3") == ENOSYS


@pytest.mark.parametrize("flag", [0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000])
def test_clone_namespace_flags(rs, flag):
    sigchld = 17
    assert rs.decide("clone", (flag | sigchld, 0, 0, 0, 0, 0)) == EPERM
    assert rs.decide("clone", (0x003D0F00 | sigchld, 0, 0, 0, 0, 0)) == ALLOW  # glibc's pthread_create flags


def test_personality_values(rs):
    for ok in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF, 1 << 32):
        assert rs.decide("personality", (ok, 0, 0, 0, 0, 0)) == ALLOW, hex(ok)
    for bad in (0x40000, 0x400000, 1, 0x1_0004_0000):
        assert rs.decide("personality", (bad, 0, 0, 0, 0, 0)) == EPERM, hex(bad)


def test_ioctl_tiocsti_low_32_bits(rs):
    for req in (0x5412, 0x541C, 0x1_0000_5412, 0xFFFFFFFF_0000541C):
        assert rs.decide("ioctl", (0, req, 0, 0, 0, 0)) == EPERM, hex(req)
    for req in (0x5411, 0x5413, 0x541B, 0x541D, 0x5401):
        assert rs.decide("ioctl", (0, req, 0, 0, 0, 0)) == ALLOW, hex(req)


def test_mknod_device_nodes(rs):
    for mode, want in ((0o020644, EPERM), (0o060644, EPERM), (0o010644, ALLOW), (0o100644, ALLOW),
                       (0o140644, ALLOW), (0o644, ALLOW), (0x1_0000_0000 | 0o020644, EPERM)):
        assert rs.decide("mknod", (0, mode, 0, 0, 0, 0)) == want, oct(mode)
        assert rs.decide("mknodat", (0, 0, mode, 0, 0, 0)) == want, oct(mode)


HOT = """read write readv writev pread64 pwrite64 close openat newfstatat fstat lseek futex epoll_wait epoll_pwait
epoll_ctl poll ppoll select pselect6 clock_gettime clock_nanosleep nanosleep mmap munmap mprotect madvise brk
getpid gettid rt_sigprocmask rt_sigaction recvfrom sendto recvmsg sendmsg getrandom sched_yield""".split()


@pytest.mark.parametrize("name", HOT)
def test_hot_syscalls_allowed_without_argument_rules(rs, name):
    assert rs.base[name].action == ALLOW
    assert not [r for r in rs.conditional if r.syscall == name]


def test_every_denial_is_eperm_or_enosys(rs):
    for s, r in rs.base.items():
        if r.action.denies:
            assert r.action.kind is Kind.ERRNO and r.action.errno in (errno.EPERM, errno.ENOSYS), s


def _v1_ruleset() -> RuleSet:
    """The default profile as first written (one group per decision), kept as test data."""
    doc = tomllib.loads((Path(__file__).parent / "data" / "default-v1.toml").read_text())

    def act(d):
        return ALLOW if d["action"] == "allow" else Action(Kind.ERRNO, getattr(errno, d["errno"]))

    rules = [Rule(s, act(g)) for g in doc["group"] for s in g["syscalls"]]
    rules += [
        Rule(r["syscall"], act(r), tuple(ArgCondition(c["arg"], Op(c["op"]), c["value"], c.get("mask", 2**64 - 1))
                                         for c in r["when"]))
        for r in doc["rule"]
    ]
    return RuleSet.build("v1", "", rules)


def test_composition_of_capabilities_decides_exactly_like_the_first_default(rs):
    """Every syscall of this arch, with zero/all-ones arguments and the edge values of every argument rule
    of either version (value, value | 1<<32, neighbours, other flag combinations)."""
    old = _v1_ruleset()
    vectors = [(0,) * 6, (2**64 - 1,) * 6]
    for r in old.conditional + rs.conditional:
        for c in r.conditions:
            for v in {c.value, c.value | 1 << 32, c.value + 1, max(c.value - 1, 0), c.value ^ c.mask, c.mask,
                      0x10000 | c.value, 0x3D0F00, 0x1200011, 0x7E020000}:
                a = [0] * 6
                a[c.index] = v % 2**64
                vectors.append(tuple(a))
    diffs = [(n, a) for n in syscalls.table() for a in vectors if old.decide(n, a) != rs.decide(n, a)]
    assert diffs == []
