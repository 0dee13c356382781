"""RuleSet -> settings for a systemd unit's [Service] section (SystemCallFilter= and friends).

systemd builds its own seccomp filter from syscall *names*. It cannot look at arguments, and in allow-list
mode every syscall outside the list gets one errno (SystemCallErrorNumber=): `~name:errno` only carries an
errno in deny-list mode; after an allow list it merely removes the name. Whatever the profile decides that
systemd cannot express is written as a `#` comment saying what is lost and which systemd setting comes
closest, so that nobody believes more is enforced than is. What systemd does depends on its version (the
always-permitted @default set, clone3 through RestrictNamespaces=, ENOSYS for syscalls it does not know):
the facts per version are data (systemd.toml), read from systemd's sources; the export targets one version.
"""

from __future__ import annotations

import errno as _errno
import functools
import importlib.resources
import re
import subprocess
import tomllib
from dataclasses import dataclass

from ..rules import ENOSYS, Action, ArgCondition, Kind, Op, RuleSet

# The systemd an export targets when neither the caller nor the host says: Debian 13's (also Fedora 42's).
CURRENT = 257


@dataclass(frozen=True)
class Facts:
    """systemd.toml: what systemd's @default set holds per version, and when behaviours changed."""

    newest_checked: int
    oldest_checked: int
    default_since: dict[str, int]  # name or nested group -> first release whose @default has it
    backported: dict[str, tuple[int, ...]]  # name -> older series that took it in a point release
    groups: dict[str, tuple[str, ...]]  # nested group -> its syscalls
    since: dict[str, int]  # behaviour -> first release


@functools.cache
def facts() -> Facts:
    doc = tomllib.loads(importlib.resources.files(__package__).joinpath("systemd.toml").read_text())
    return Facts(doc["newest_checked"], doc["oldest_checked"], dict(doc["default_since"]),
                 {k: tuple(v) for k, v in doc["backported"].items()}, {k: tuple(v) for k, v in doc["groups"].items()},
                 dict(doc["since"]))


@dataclass(frozen=True)
class Target:
    """The systemd an export is written for, and what that version does."""

    version: int
    why: str  # "given", "this host's", "sysfence's default, Debian 13's"

    def always_allowed(self, *, backports: bool = True) -> frozenset[str]:
        """Syscalls every SystemCallFilter= allow list permits on this version (its @default, groups expanded).

        A version names a stable series whose later point releases gained names from newer releases
        (Debian 12's 252.38 has uretprobe from 257): the series' newest set is used, so that nothing some point
        release permits is reported as enforced; `backports=False` gives the set of the .0 release."""
        f = facts()
        names: set[str] = set()
        for name, since in f.default_since.items():
            taken = backports and self.version in f.backported.get(name, ())
            if since <= max(self.version, f.oldest_checked) or taken:
                names.update(f.groups.get(name, (name,)))
        return frozenset(names)

    @property
    def clone3_through_namespaces(self) -> bool:
        return self.version >= facts().since["restrict_namespaces_clone3_enosys"]

    @property
    def unknown_enosys(self) -> bool:
        return self.version >= facts().since["unknown_syscalls_enosys"]

    @property
    def knows_kill(self) -> bool:
        """`kill` as SystemCallErrorNumber= or after `name:` (older systemd ignores the setting or the name)."""
        return self.version >= facts().since["kill_action"]

    @property
    def knows_syscall_log(self) -> bool:
        return self.version >= facts().since["system_call_log"]

    @property
    def newer_than_checked(self) -> bool:
        return self.version > facts().newest_checked


@functools.cache
def host_version() -> int | None:
    """This machine's systemd version (`systemctl --version`), or None without systemd (asked once)."""
    for cmd in ("systemctl", "systemd-analyze"):
        try:
            out = subprocess.run([cmd, "--version"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        m = re.match(r"systemd (\d+)\b", out)
        if m:
            return int(m.group(1))
    return None


def target(systemd_version: int | None = None) -> Target:
    """The version given, else this host's systemd, else CURRENT."""
    if systemd_version is not None:
        if isinstance(systemd_version, bool) or not isinstance(systemd_version, int) or systemd_version < 1:
            raise ValueError(f"systemd version {systemd_version!r}: want a release number such as {CURRENT}")
        return Target(systemd_version, "given")
    host = host_version()
    if host is not None:
        return Target(host, "this host's")
    return Target(CURRENT, "sysfence's default, Debian 13's")


# The namespace flags RestrictNamespaces= checks on clone/unshare (cgroup ipc net mnt pid user uts).
_NS_FLAGS = (0x02000000, 0x08000000, 0x40000000, 0x00020000, 0x20000000, 0x10000000, 0x04000000)
_NAMESPACES = "RestrictNamespaces=yes (refuses clone/unshare with namespace flags and setns; clone3 gets ENOSYS)"
_CLOSEST = {
    "clone": _NAMESPACES,
    "clone3": _NAMESPACES,
    "unshare": _NAMESPACES,
    "setns": _NAMESPACES,
    "personality": "LockPersonality=yes (allows only the unit's own persona: stricter than a list of values)",
    "mknod": "CapabilityBoundingSet=~CAP_MKNOD or PrivateDevices=yes (without CAP_MKNOD the kernel refuses "
    "device nodes; this only matters for services running as root)",
    "ioctl": "none: no systemd setting inspects ioctl requests (for TIOCSTI, the host-wide sysctl "
    "dev.tty.legacy_tiocsti=0 on Linux 6.2+ makes it require CAP_SYS_ADMIN)",
    "mmap": "MemoryDenyWriteExecute=yes (refuses writable+executable mappings)",
    "mprotect": "MemoryDenyWriteExecute=yes (refuses making memory executable)",
    "socket": "RestrictAddressFamilies= (allow-list of socket families)",
    "sched_setscheduler": "RestrictRealtime=yes",
    "sched_setattr": "RestrictRealtime=yes",
    "chmod": "RestrictSUIDSGID=yes (refuses set-user-ID/set-group-ID modes)",
}
_CLOSEST.update({"mknodat": _CLOSEST["mknod"], "pkey_mprotect": _CLOSEST["mprotect"]})
_CLOSEST.update(dict.fromkeys(("fchmod", "fchmodat", "fchmodat2"), _CLOSEST["chmod"]))
_NAME = re.compile(r"[A-Za-z0-9_]+")
_WIDTH = 110


def export_systemd(rs: RuleSet, *, systemd_version: int | None = None) -> str:
    """Unit-file lines for a [Service] section (or a drop-in made with `systemctl edit UNIT`).

    The lines are portable across a fleet: names that do not exist on a host's architecture are ignored
    there. `systemd_version` is the oldest systemd you deploy to (default: this host's, else CURRENT): from
    251, when the profile refuses every namespace operation, `RestrictNamespaces=yes` is set and clone3 is
    listed, so that clone3 gets ENOSYS (RestrictNamespaces' answer) as in the profile; what that version
    always permits and how it answers syscalls it does not know decide which comments say LOST.
    """
    tgt = target(systemd_version)
    for s in rs.base:
        if not _NAME.fullmatch(s):
            raise ValueError(f"profile {rs.name!r}: syscall name {s!r} cannot be written to a unit file")
    allow_list = rs.default_action.denies or rs.unknown_action.denies
    fallback = rs.default_action if rs.default_action.denies else rs.unknown_action
    allowed = set(rs.allowed())
    namespaces = tgt.clone3_through_namespaces and _namespaces_exact(rs)
    extra = ["clone3"] if namespaces and "clone3" not in allowed else []
    out = [
        f"# systemd settings for sysfence profile {_text(rs.name)!r}"
        + (f" (syscall table: {_text(rs.table)})" if rs.table else ""),
        "# for the [Service] section of a unit or a drop-in (systemctl edit UNIT); check the result with",
        "# `systemd-analyze verify UNIT` and `systemd-analyze security UNIT`. Lines starting with # are NOT enforced.",
        f"# Written for systemd {tgt.version} and newer ({tgt.why}; --systemd-version N: the oldest the unit runs on)."
        + (f" sysfence knows systemd up to {facts().newest_checked}." if tgt.newer_than_checked else ""),
        "# Empty assignments first: they reset what the unit set before, which could widen or invert this filter.",
        "NoNewPrivileges=yes",
        "SystemCallArchitectures=",
        "SystemCallArchitectures=native",
        "SystemCallFilter=",
    ]
    if allow_list:
        if fallback.kind is Kind.ERRNO or tgt.knows_kill:
            out.append(f"SystemCallErrorNumber={_spelling(fallback)}")
        else:
            out.append("# no SystemCallErrorNumber=: systemd before 247 knows no `kill` there, and kills by default")
        out += _allow_lines(rs, allowed)
        if extra:
            out += [
                "# clone3 is listed only so that RestrictNamespaces= decides it: it answers ENOSYS (systemd 251+).",
                "# NEEDS systemd 251 or newer: before that (and before 249.12/250.5) RestrictNamespaces= lets clone3",
                "# through with any namespace flag. For older hosts export with --systemd-version 250.",
                "RestrictNamespaces=yes",
                "SystemCallFilter=clone3",
            ]
        out += _allow_list_losses(rs, allowed | set(extra), fallback, namespaces, tgt)
        enforced = allowed | set(extra) | tgt.always_allowed()
    else:
        out += _deny_lines(rs, tgt)
        enforced = {s for s in rs.base if not rs.base[s].action.denies}
    logged = sorted(s for s, r in rs.base.items() if r.action.kind is Kind.LOG)
    if logged:
        if not tgt.knows_syscall_log:
            out.append(f"# NOT ENFORCED before systemd 247: SystemCallLog= (systemd {tgt.version} ignores it)")
        out += ["SystemCallLog="] + _wrap("SystemCallLog=", logged)
    out += _rule_comments(rs, enforced, namespaces)
    return "\n".join(out) + "\n"


def _allow_lines(rs: RuleSet, allowed: set[str]) -> list[str]:
    """One SystemCallFilter= line (or several, wrapped) per group; systemd merges repeated allow lists."""
    groups: dict[str, list[str]] = {}
    for s in sorted(allowed):
        partly = rs.base[s].action.denies  # allowed only through argument rules
        groups.setdefault("allowed for some arguments only" if partly else rs.base[s].group or "allowed", []).append(s)
    out = [f"# allowed: {len(allowed)} syscalls"]
    if not allowed:  # an empty SystemCallFilter= would mean no filter at all
        out += ["# the profile allows nothing; systemd still permits its @default set", "SystemCallFilter=@default"]
    for group, names in sorted(groups.items()):
        out.append(f"# {_text(group)} ({len(names)})")
        out += _wrap("SystemCallFilter=", names)
    return out


def _deny_lines(rs: RuleSet, tgt: Target) -> list[str]:
    """Deny-list mode (the profile allows by default): each name carries its own errno or `kill` (a bare name
    before systemd 247, which drops `name:kill` as unparsable and kills by default)."""
    items = sorted(s if r.action.kind is not Kind.ERRNO and not tgt.knows_kill else f"{s}:{_spelling(r.action)}"
                   for s, r in rs.base.items() if r.action.denies)
    out = [f"# the profile allows by default: deny list of {len(items)} syscalls, each with its own errno"]
    out += _wrap("SystemCallFilter=~", items)
    approximated = sorted({str(r.action) for r in rs.base.values() if r.action.kind in (Kind.TRAP, Kind.KILL_THREAD)})
    if approximated:
        out.append(f"# APPROXIMATED: {', '.join(approximated)} -> kill (systemd only knows killing the whole process)")
    return out


def _allow_list_losses(rs: RuleSet, listed: set[str], fallback: Action, namespaces: bool, tgt: Target) -> list[str]:
    """Comments for every decision an allow list cannot carry."""
    out = []
    by_action: dict[Action, list[str]] = {}
    for s, r in sorted(rs.base.items()):
        if s not in listed and r.action != fallback and not (namespaces and s == "clone3"):
            by_action.setdefault(r.action, []).append(s)
    for action, names in sorted(by_action.items(), key=lambda kv: str(kv[0])):
        out.append(
            f"# LOST: {action} in the profile, {_spelling(fallback)} under systemd "
            "(an allow list has one errno for everything outside it):"
        )
        out += _wrap("#   ", names)
    if "clone3" in by_action.get(ENOSYS, []):
        out += [
            "#   clone3 matters: glibc 2.34+ creates threads and processes with clone3 and falls back to clone only",
            f"#   on ENOSYS, so with {_spelling(fallback)} Python cannot start threads.",
        ]
        if not tgt.clone3_through_namespaces:
            out.append(f"#   systemd {tgt.version} cannot help: RestrictNamespaces= answers clone3 with ENOSYS from "
                       "systemd 251 (export with --systemd-version 251 if every host has it).")
        else:
            out.append("#   RestrictNamespaces=yes would answer it with ENOSYS, but it also refuses namespace "
                       "operations this profile allows.")
    denied = {s for s, r in rs.base.items() if r.action.denies}
    here = tgt.always_allowed()
    if here & denied:
        out.append(f"# LOST: systemd {tgt.version} always permits these (its @default set); the profile denies them:")
        out += _wrap("#   ", sorted(here & denied))
    newest = Target(max(tgt.version, facts().newest_checked), "").always_allowed()
    if (newest - here) & denied:
        out.append(f"# LOST on newer systemd (up to {max(tgt.version, facts().newest_checked)}), whose @default also "
                   "permits these; the profile denies them:")
        out += _wrap("#   ", sorted((newest - here) & denied))
    if rs.unknown_action != fallback:
        if tgt.unknown_enosys and rs.unknown_action == ENOSYS:
            how = (f"{_spelling(fallback)} under systemd for the ones its table (@known) has; ENOSYS for the others "
                   "(systemd 255+)")
        else:
            how = f"{_spelling(fallback)} under systemd {tgt.version}"
        out += [
            f"# LOST: syscalls the profile does not name get {rs.unknown_action} here, {how}.",
            "#   Listed names that a host's libseccomp does not know are ignored there with a warning: not allowed.",
        ]
    return out


def _rule_comments(rs: RuleSet, enforced: set[str], namespaces: bool) -> list[str]:
    """One comment per argument rule: systemd decides the whole syscall one way."""
    out = []
    for s in sorted({r.syscall for r in rs.conditional}):
        label, verdict = "NOT ENFORCED", f"systemd allows every call of {s}"
        if s not in enforced:
            verdict = f"systemd denies every call of {s} ({rs.base[s].action})"
        if namespaces and s == "clone":
            label = "APPROXIMATED"
            verdict = "systemd allows every clone without a namespace flag (RestrictNamespaces=yes refuses the rest)"
        for r in (r for r in rs.conditional if r.syscall == s):
            when = " and ".join(str(c) for c in r.conditions)
            why = f" ({_text(r.reason)})" if r.reason else ""
            out.append(f"# {label}: {s} when {when} -> {r.action}{why}; {verdict}")
        closest = _CLOSEST.get(s, "none: no systemd setting checks this argument")
        if namespaces and closest == _NAMESPACES:
            closest = "RestrictNamespaces=yes, set above"
        out.append(f"#   closest systemd setting for {s}: {closest}")
    return out


def _namespaces_exact(rs: RuleSet) -> bool:
    """Whether RestrictNamespaces=yes refuses nothing the profile allows and clone3 gets ENOSYS in both."""
    if rs.decide("clone3") != ENOSYS or {"unshare", "setns"} & set(rs.allowed()):
        return False
    return all(_flag_always_denied(rs, "clone", 0, flag) for flag in _NS_FLAGS)


def _flag_always_denied(rs: RuleSet, syscall: str, arg: int, bit: int) -> bool:
    """Every call of `syscall` with `bit` set in argument `arg` is denied (checked on the rules, not sampled)."""
    base = rs.base.get(syscall)
    if base is None:
        return rs.unknown_action.denies
    rules = [r for r in rs.conditional if r.syscall == syscall]
    if base.action.denies:  # every permit must require the bit to be clear
        return all(any(_forces_clear(c, arg, bit) for c in r.conditions) for r in rules)
    return any(len(r.conditions) == 1 and _holds_when_set(r.conditions[0], arg, bit) for r in rules)


def _forces_clear(c: ArgCondition, arg: int, bit: int) -> bool:
    if c.index != arg:
        return False
    if c.op is Op.MASKED_EQ:
        return bool(c.mask & bit) and not c.value & bit
    return c.op is Op.EQ and not c.value & bit


def _holds_when_set(c: ArgCondition, arg: int, bit: int) -> bool:
    return c.index == arg and c.op is Op.MASKED_EQ and c.mask == c.value and c.mask & ~bit == 0


def _spelling(action: Action) -> str:
    """How systemd spells an action after SystemCallErrorNumber= or `name:`."""
    if action.kind is Kind.ERRNO:
        return _errno.errorcode.get(action.errno, str(action.errno))
    return "kill"  # kill-process, kill-thread, trap: systemd only knows killing the whole process


def _wrap(prefix: str, items: list[str]) -> list[str]:
    lines: list[str] = []
    row: list[str] = []
    for item in items:
        if row and len(prefix) + len(" ".join(row + [item])) > _WIDTH:
            lines.append(prefix + " ".join(row))
            row = []
        row.append(item)
    if row:
        lines.append(prefix + " ".join(row))
    return lines


def _text(s: str) -> str:
    """Profile text made safe for a comment line: one line, no control characters, no trailing backslash."""
    return "".join(ch if ch.isprintable() else " " for ch in s).rstrip(" \\")
