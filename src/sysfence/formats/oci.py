"""OCI runtime-spec / Docker seccomp JSON <-> RuleSet.

Import reads a profile the way `docker run --security-opt seccomp=FILE` applies it, so the file means the
same here as under Docker (moby/profiles) with runc or crun:

- Docker's extensions first: `includes`/`excludes` are resolved against a capability set (Docker's default
  container set unless given), the architecture (`arches` uses Docker's names: amd64, arm64, ...) and the
  kernel version (`minKernel`); `archMap` and `architectures` only name extra architectures.
- then the runtime's rules: an entry whose action equals the default action is skipped; an entry with two
  conditions on the same argument becomes one rule per condition (ORed); an unconditional rule for a syscall
  overrides its conditional ones (libseccomp).

What sysfence does differently is reported in `OciImport.notes`: only the native architecture is filtered
(calls from SCMP_ARCH_X86/X32 kill the process, where Docker filters them with the same rules), flags other
than TSYNC and the notify listener are ignored. Syscall names that no architecture knows are errors, except
real syscalls newer than libseccomp's table (LATER_SYSCALLS): runc and crun skip those too, and sysfence gives
them the unknown action (ENOSYS).

Export writes plain runtime-spec JSON. OCI cannot say "allow, except when": libseccomp lets an unconditional
rule override conditional ones. So a guarded syscall (ioctl allowed except TIOCSTI) is written as allow
rules for exactly the calls its guards do not match, next to the guards themselves (runtimes skip them when
they equal the default action); guards on several arguments are refused, since the allow rules they need are
what libseccomp 2.5 miscompiles or spins on. Import reads any two conditional actions, one allowing and one
denying, whose rules split every call between them as a base decision plus guards.
"""

from __future__ import annotations

import difflib
import errno as _errno
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, NoReturn

from .. import syscalls
from ..errors import ProfileError, UnknownSyscallError
from ..rules import ENOSYS, EPERM, Action, ArgCondition, Kind, Op, Rule, RuleSet

DOCKER_DEFAULT_CAPABILITIES = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
})
CAPABILITIES = DOCKER_DEFAULT_CAPABILITIES | {
    "CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_LEASE",
    "CAP_AUDIT_CONTROL", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

# Real syscalls libseccomp 2.5.4 cannot resolve (Linux 6.8 and later, and riscv_hwprobe).
LATER_SYSCALLS = frozenset({
    "statmount", "listmount", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "mseal",
    "uretprobe", "uprobe", "setxattrat", "getxattrat", "listxattrat", "removexattrat", "open_tree_attr",
    "file_getattr", "file_setattr", "riscv_hwprobe",
})

_ACTIONS = {
    "SCMP_ACT_ALLOW": Kind.ALLOW,
    "SCMP_ACT_ERRNO": Kind.ERRNO,
    "SCMP_ACT_KILL": Kind.KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": Kind.KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": Kind.KILL_PROCESS,
    "SCMP_ACT_TRAP": Kind.TRAP,
    "SCMP_ACT_LOG": Kind.LOG,
}
_ACTION_NAMES = {kind: name for name, kind in _ACTIONS.items() if name != "SCMP_ACT_KILL"}
_UNSUPPORTED = {
    "SCMP_ACT_TRACE": "needs a ptrace supervisor",
    "SCMP_ACT_NOTIFY": "needs a user-notification agent (sysfence uses notification for tracing only)",
}
_OPS = {f"SCMP_CMP_{op.name}": op for op in Op}
_OP_NAMES = {op: name for name, op in _OPS.items()}
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": "",
    "SECCOMP_FILTER_FLAG_LOG": "denials are not written to the audit log",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": "the speculative store bypass mitigation stays on",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": "it only concerns SCMP_ACT_NOTIFY",
}
_SCMP_ARCHES = frozenset(f"SCMP_ARCH_{a}" for a in (
    "NATIVE X86 X86_64 X32 ARM AARCH64 LOONGARCH64 M68K MIPS MIPS64 MIPS64N32 MIPSEL MIPSEL64 MIPSEL64N32 PPC "
    "PPC64 PPC64LE S390 S390X PARISC PARISC64 RISCV64 SH SHEB"
).split())
# Architecture names in Docker's includes/excludes `arches` (moby's names, not GOARCH).
_DOCKER_ARCHES = frozenset(
    "x86 amd64 x32 arm arm64 loong64 loongarch64 m68k mips mipsle mipsel mips64 mips64n32 mipsel64 mipsel64n32 "
    "mips3l64n32 ppc ppc64 ppc64le riscv64 s390 s390x parisc parisc64 sh sheb".split()
)
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "i386": "x86", "386": "x86"}
# AUDIT_ARCH token -> (runtime-spec name, Docker name)
_ARCHES = {
    0xC000003E: ("SCMP_ARCH_X86_64", "amd64"),
    0x40000003: ("SCMP_ARCH_X86", "x86"),
    0x4000003E: ("SCMP_ARCH_X32", "x32"),
    0xC00000B7: ("SCMP_ARCH_AARCH64", "arm64"),
    0x40000028: ("SCMP_ARCH_ARM", "arm"),
    0xC00000F3: ("SCMP_ARCH_RISCV64", "riscv64"),
    0x80000016: ("SCMP_ARCH_S390X", "s390x"),
    0xC0000015: ("SCMP_ARCH_PPC64LE", "ppc64le"),
}
_TOP_KEYS = {"defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap", "flags",
             "listenerPath", "listenerMetadata", "syscalls"}
_ENTRY_KEYS = {"names", "name", "action", "errnoRet", "errno", "args", "comment", "includes", "excludes"}
_ARG_KEYS = {"index", "value", "valueTwo", "op"}
_FILTER_KEYS = {"caps", "arches", "minKernel"}
_U64 = (1 << 64) - 1
_MAX_COMPLEMENT = 512

Term = tuple[ArgCondition, ...]  # conditions that AND together, at most one per argument


@dataclass(frozen=True)
class OciImport:
    ruleset: RuleSet
    notes: tuple[str, ...]  # one line each: what was resolved away, ignored, or behaves unlike Docker


def import_oci(
    data: bytes,
    source: str,
    *,
    capabilities: frozenset[str] | None = None,
    kernel_version: str | None = None,
    arch: str | None = None,
) -> RuleSet:
    """OCI/Docker seccomp JSON -> RuleSet, or ProfileError naming `source`, the JSON path and the value."""
    return read_oci(data, source, capabilities=capabilities, kernel_version=kernel_version, arch=arch).ruleset


def read_oci(
    data: bytes,
    source: str,
    *,
    capabilities: frozenset[str] | None = None,
    kernel_version: str | None = None,
    arch: str | None = None,
) -> OciImport:
    """Like import_oci, with the notes a caller should show (differences from Docker, ignored fields).

    `capabilities` resolves Docker's includes/excludes `caps` (default DOCKER_DEFAULT_CAPABILITIES),
    `kernel_version` their `minKernel` (default: the running kernel), `arch` their `arches` (Docker's names;
    default: the native arch). The rules are always compiled for the native arch only.
    """
    return _Reader(source, capabilities, kernel_version, arch).read(data)


def export_oci(rs: RuleSet) -> dict[str, Any]:
    """RuleSet -> runtime-spec seccomp object for the native architecture (Docker/Podman `seccomp=FILE`).

    Every syscall the RuleSet names gets an entry, the ones with the default action too (runtimes skip
    those; they say what is denied on purpose). OCI has no field for `unknown_action`: runc and crun return
    ENOSYS for syscalls numbered above every syscall the profile names, which is what sysfence's ENOSYS means
    for a profile naming its whole table. Syscalls of this arch's table the RuleSet leaves to its unknown
    action are listed with that action. Only the native arch is listed; the runtime kills the thread for
    calls of any other arch (libseccomp's default bad-arch action), sysfence kills the process.
    """
    default = rs.default_action
    doc: dict[str, Any] = {"defaultAction": _ACTION_NAMES[default.kind]}
    if default.kind is Kind.ERRNO:
        doc["defaultErrnoRet"] = default.errno
    doc["architectures"] = [_native()[0]]
    entries: dict[tuple[Action, Term], set[str]] = {}
    for name, base in rs.base.items():
        rules = [r for r in rs.conditional if r.syscall == name]
        if not rules:
            entries.setdefault((base.action, ()), set()).add(name)
            continue
        terms = sorted({r.conditions for r in rules}, key=_term_key)
        for t in terms:
            entries.setdefault((rules[0].action, t), set()).add(name)
        if base.action != default:
            try:
                rest = _allow_rest(terms)
            except _Inexpressible as exc:
                raise ProfileError(
                    f"profile {rs.name!r}: cannot export {name!r} as OCI JSON: OCI has no 'allow except', so the "
                    f"calls its conditional rules do not match must be written as allow rules, but {exc}"
                ) from None
            for t in rest:
                entries.setdefault((base.action, t), set()).add(name)
    if rs.unknown_action != default:
        for name in syscalls.table():
            if name not in rs.base:
                entries.setdefault((rs.unknown_action, ()), set()).add(name)

    def order(item: tuple[tuple[Action, Term], set[str]]) -> tuple[Any, ...]:
        (action, term), names = item  # unconditional entries first, then each syscall's rules together
        return bool(term), min(names) if term else "", action.denies, action.errno, _term_key(term)

    doc["syscalls"] = [_entry(sorted(ns), action, term) for (action, term), ns in sorted(entries.items(), key=order)]
    return doc


def dumps_oci(rs: RuleSet) -> str:
    """export_oci as JSON text (two-space indent, trailing newline)."""
    return json.dumps(export_oci(rs), indent=2) + "\n"


def _allow_rest(terms: list[Term]) -> list[Term]:
    """The calls no term matches, as rules container runtimes compile correctly (or _Inexpressible)."""
    args = sorted({c.index for t in terms for c in t})
    if len(args) > 1:
        raise _Inexpressible(
            f"its rules test arguments {', '.join(map(str, args))}: libseccomp 2.5 (in Docker and Podman) can "
            "miscompile or hang on allow rules over several arguments"
        )
    return _complement(terms)


def _entry(names: list[str], action: Action, term: Term) -> dict[str, Any]:
    e: dict[str, Any] = {"names": names, "action": _ACTION_NAMES[action.kind]}
    if action.kind is Kind.ERRNO:
        e["errnoRet"] = action.errno
    if term:
        e["args"] = [
            {"index": c.index, "value": c.mask, "valueTwo": c.value, "op": _OP_NAMES[c.op]}
            if c.op is Op.MASKED_EQ
            else {"index": c.index, "value": c.value, "op": _OP_NAMES[c.op]}
            for c in term
        ]
    return e


def _native() -> tuple[str, str]:
    token = syscalls.native_arch()
    if token not in _ARCHES:
        raise ProfileError(f"no OCI architecture name for the native arch {syscalls.arch_name(token)}")
    return _ARCHES[token]


# ------------------------------------------------------------------ import


@dataclass(frozen=True)
class _Entry:
    where: str  # JSON path, e.g. syscalls[12]
    action: Action
    terms: tuple[Term, ...]  # () = unconditional; otherwise ORed
    comment: str


class _Reader:
    def __init__(self, source: str, caps: frozenset[str] | None, kernel: str | None, arch: str | None) -> None:
        self.source = source
        self.notes: list[str] = []
        self.caps = DOCKER_DEFAULT_CAPABILITIES if caps is None else caps
        for c in sorted(self.caps):
            self._check_word(c, CAPABILITIES, "capabilities", "capability")
        self.arch = _native()[1] if arch is None else _ARCH_ALIASES.get(arch, arch)
        self._check_word(self.arch, _DOCKER_ARCHES, "arch", "architecture")
        release = os.uname().release if kernel is None else kernel
        m = re.match(r"(\d+)\.(\d+)", release)
        if m is None and kernel is not None:
            self.fail("kernel_version", f"{kernel!r} is not a kernel version like '6.8' or '6.8.0-31-generic'")
        self.kernel = (int(m.group(1)), int(m.group(2))) if m else None
        self.later: set[str] = set()

    def fail(self, where: str, msg: str) -> NoReturn:
        raise ProfileError(f"{self.source}: {where}: {msg}")

    def _check_word(self, word: Any, valid: Iterable[str], where: str, what: str) -> str:
        if not isinstance(word, str):
            self.fail(where, f"{what} must be a string, not {word!r}")
        if word not in valid:
            close = difflib.get_close_matches(word, sorted(valid), n=1, cutoff=0.6)
            self.fail(where, f"unknown {what} {word!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return word

    def _keys(self, d: Any, allowed: set[str], where: str) -> dict[str, Any]:
        if not isinstance(d, dict):
            self.fail(where, f"must be an object, not {_kind(d)}")
        for k in d:
            if k not in allowed:
                close = difflib.get_close_matches(k, sorted(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; valid: {', '.join(sorted(allowed))}"
                self.fail(_at(where, k), f"unknown key{hint}")
        return {k: v for k, v in d.items() if v is not None}  # Go reads null as "not set"

    def _list(self, d: dict[str, Any], key: str, where: str) -> list[Any]:
        v = d.get(key, [])
        if not isinstance(v, list):
            self.fail(_at(where, key), f"must be an array, not {_kind(v)}")
        return v

    def _strings(self, d: dict[str, Any], key: str, where: str, valid: Iterable[str], what: str) -> list[str]:
        items = enumerate(self._list(d, key, where))
        return [self._check_word(s, valid, f"{_at(where, key)}[{i}]", what) for i, s in items]

    def _uint(self, v: Any, where: str, top: int = _U64) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
            self.fail(where, f"must be an integer 0-{top:#x}, not {v!r}")
        return v

    # -------------------------------------------------------------- document

    def read(self, data: bytes) -> OciImport:
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(f"{self.source}: not valid JSON: {exc}") from None
        except RecursionError:
            raise ProfileError(f"{self.source}: not valid JSON: nested too deeply") from None
        if not isinstance(doc, dict):
            raise ProfileError(f"{self.source}: a seccomp profile must be a JSON object, not {_kind(doc)}")
        doc = self._keys(doc, _TOP_KEYS, "")
        if "defaultAction" not in doc:
            self.fail("defaultAction", "missing (the action for syscalls no rule names)")
        default = self._action(doc, "", "defaultAction", "defaultErrnoRet", "defaultErrno")
        self._architectures(doc)
        for i, flag in enumerate(self._list(doc, "flags", "")):
            self._check_word(flag, _FLAGS, f"flags[{i}]", "flag")
            if _FLAGS[flag]:
                self.notes.append(f"flags[{i}]: {flag} is ignored: {_FLAGS[flag]}")
        for key in ("listenerPath", "listenerMetadata"):
            if key in doc:
                if not isinstance(doc[key], str):
                    self.fail(key, f"must be a string, not {_kind(doc[key])}")
                self.notes.append(f"{key} is ignored: it only serves SCMP_ACT_NOTIFY, which sysfence does not support")
        entries: dict[str, list[_Entry]] = {}
        for i, e in enumerate(self._list(doc, "syscalls", "")):
            names, entry, skip = self._entry(e, f"syscalls[{i}]")
            if skip:
                self.notes.append(f"syscalls[{i}] does not apply: {skip}")
                continue
            for name in names:
                entries.setdefault(name, []).append(entry)
        rules = [r for name, es in entries.items() for r in self._resolve(name, es, default)]
        self._name_notes(entries)
        unknown = default if default.kind in (Kind.ALLOW, Kind.LOG) else ENOSYS  # runc: no ENOSYS stub then
        table, known = syscalls.profile_table()
        try:
            rs = RuleSet.build(
                PurePath(self.source).stem or "oci", f"imported from OCI seccomp JSON {self.source}", rules,
                unknown, table, default_action=default, known=known,
            )
        except ValueError as exc:
            raise ProfileError(f"{self.source}: {exc}") from None
        return OciImport(rs, tuple(self.notes))

    def _architectures(self, doc: dict[str, Any]) -> None:
        scmp = self._strings(doc, "architectures", "", _SCMP_ARCHES, "architecture")
        arch_map = self._list(doc, "archMap", "")
        if scmp and arch_map:
            self.fail("archMap", "'architectures' and 'archMap' are both set; Docker accepts only one of them")
        native = _native()[0]
        for i, a in enumerate(arch_map):
            w = f"archMap[{i}]"
            a = self._keys(a, {"architecture", "subArchitectures"}, w)
            main = self._check_word(a.get("architecture"), _SCMP_ARCHES, _at(w, "architecture"), "architecture")
            subs = self._strings(a, "subArchitectures", w, _SCMP_ARCHES, "architecture")
            if main == native:
                scmp = [main, *subs]
        foreign = sorted(set(scmp) - {native, "SCMP_ARCH_NATIVE"})
        if foreign:
            self.notes.append(
                f"architectures: only {native} is filtered; calls from {', '.join(foreign)} kill the process "
                "(Docker would filter them with the same rules)"
            )

    def _action(self, d: dict[str, Any], where: str, key: str, ret_key: str, name_key: str) -> Action:
        if key not in d:
            self.fail(_at(where, key), "missing")
        name = d[key]
        if isinstance(name, str) and name in _UNSUPPORTED:
            self.fail(_at(where, key), f"{name} is not supported: it {_UNSUPPORTED[name]}")
        kind = _ACTIONS[self._check_word(name, [*_ACTIONS, *_UNSUPPORTED], _at(where, key), "action")]
        errno = None
        for k in (ret_key, name_key):
            if k in d:
                e = self._errno(d[k], _at(where, k))
                if errno is not None and e != errno:
                    self.fail(_at(where, k), f"{d[k]!r} contradicts {ret_key} {errno}")
                errno = e
        if kind is Kind.ERRNO:
            return Action(kind, EPERM.errno if errno is None else errno)
        if errno is not None:
            k = ret_key if ret_key in d else name_key
            self.fail(_at(where, k), f"an errno is only valid with SCMP_ACT_ERRNO, not {name} (runtimes refuse it)")
        return Action(kind)

    def _errno(self, v: Any, where: str) -> int:
        if isinstance(v, str):
            code = getattr(_errno, v, None) if v.startswith("E") else None
            if not isinstance(code, int):
                close = difflib.get_close_matches(v, sorted(_errno.errorcode.values()), n=1)
                self.fail(where, f"unknown errno {v!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            return code
        if v == 0 and not isinstance(v, bool):
            self.fail(where, "errno 0 would make the call return 0 without running it; sysfence does not allow that")
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 4095:
            self.fail(where, f"errno must be 1-4095 or a name like 'EPERM', not {v!r}")
        return v

    def _entry(self, e: Any, w: str) -> tuple[list[str], _Entry, str]:
        """(names, entry, why it does not apply here or '')."""
        e = self._keys(e, _ENTRY_KEYS, w)
        if "name" in e and "names" in e:
            self.fail(w, "both 'name' and 'names' are set; Docker accepts only one of them")
        if "names" in e:
            raw, paths = self._list(e, "names", w), [f"{w}.names[{k}]" for k in range(len(e["names"]))]
            if not raw:
                self.fail(_at(w, "names"), "must name at least one syscall")
        elif "name" in e:
            raw, paths = [e["name"]], [_at(w, "name")]
        else:
            self.fail(w, "missing 'names'")
        names = [n for n, p in zip(raw, paths, strict=True) if self._syscall(n, p)]
        action = self._action(e, w, "action", "errnoRet", "errno")
        conds = [self._arg(a, f"{w}.args[{j}]") for j, a in enumerate(self._list(e, "args", w))]
        if len({c.index for c in conds}) < len(conds):  # runc/crun: then every condition is a rule of its own
            terms: tuple[Term, ...] = tuple(sorted({(c,) for c in conds}, key=_term_key))
        else:
            terms = (tuple(sorted(conds, key=lambda c: c.index)),) if conds else ()
        comment = e.get("comment", "")
        if not isinstance(comment, str):
            self.fail(_at(w, "comment"), f"must be a string, not {_kind(comment)}")
        return names, _Entry(w, action, terms, comment), self._skip(e, w)

    def _syscall(self, name: Any, where: str) -> bool:
        """True for a name to keep; False for a real syscall newer than libseccomp (left to the unknown action)."""
        if not isinstance(name, str) or not name:
            self.fail(where, f"syscall names must be non-empty strings, not {name!r}")
        try:
            syscalls.number(name)
        except UnknownSyscallError as exc:
            if name in LATER_SYSCALLS:
                self.later.add(name)
                return False
            raise UnknownSyscallError(f"{self.source}: {where}: {exc}") from None
        return True

    def _arg(self, a: Any, w: str) -> ArgCondition:
        a = self._keys(a, _ARG_KEYS, w)
        for k in ("index", "value", "op"):
            if k not in a:
                self.fail(w, f"missing {k!r}")
        index = self._uint(a["index"], _at(w, "index"), 5)
        op = _OPS[self._check_word(a["op"], _OPS, _at(w, "op"), "operator")]
        value = self._uint(a["value"], _at(w, "value"))
        two = self._uint(a.get("valueTwo", 0), _at(w, "valueTwo"))
        if op is not Op.MASKED_EQ:
            if two:
                self.fail(_at(w, "valueTwo"), f"{two:#x}: only SCMP_CMP_MASKED_EQ uses valueTwo")
            return ArgCondition(index, op, value)
        if two & ~value:
            self.fail(_at(w, "valueTwo"), f"{two:#x} has bits outside the mask {value:#x} ('value'): it never matches")
        return ArgCondition(index, op, two, value)  # libseccomp: datum_a is the mask, datum_b the value

    def _skip(self, e: dict[str, Any], w: str) -> str:
        """Docker's includes/excludes, validated in full; why the entry does not apply here, or ''."""
        f: dict[str, dict[str, Any]] = {}
        for key in ("includes", "excludes"):
            d = f[key] = self._keys(e.get(key, {}), _FILTER_KEYS, _at(w, key))
            self._strings(d, "caps", _at(w, key), CAPABILITIES, "capability")
            self._strings(d, "arches", _at(w, key), _DOCKER_ARCHES, "architecture")
            if "minKernel" in d:
                d["minKernel"] = self._min_kernel(d["minKernel"], f"{w}.{key}.minKernel")
        inc, exc = f["includes"], f["excludes"]
        if self.arch in exc.get("arches", []):
            return f"excluded on {self.arch}"
        if present := [c for c in exc.get("caps", []) if c in self.caps]:
            return f"excluded with {', '.join(present)}"
        if exc.get("minKernel") and self._kernel_at_least(exc["minKernel"], w):
            return f"excluded from kernel {'.'.join(map(str, exc['minKernel']))}"
        if inc.get("arches") and self.arch not in inc["arches"]:
            return f"only on {', '.join(inc['arches'])}"
        if missing := [c for c in inc.get("caps", []) if c not in self.caps]:
            return f"needs {', '.join(missing)}"
        if inc.get("minKernel") and not self._kernel_at_least(inc["minKernel"], w):
            return f"needs kernel {'.'.join(map(str, inc['minKernel']))}"
        return ""

    def _min_kernel(self, v: Any, where: str) -> tuple[int, int] | None:
        if v == "":
            return None
        m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})", v) if isinstance(v, str) else None
        if m is None or (int(m.group(1)), int(m.group(2))) == (0, 0) or max(map(int, m.groups())) > 255:
            self.fail(where, f"{v!r} is not a kernel version '<kernel>.<major>' like '4.8'")
        return int(m.group(1)), int(m.group(2))

    def _kernel_at_least(self, version: tuple[int, int], w: str) -> bool:
        if self.kernel is None:
            self.fail(w, f"minKernel needs the kernel version, and {os.uname().release!r} cannot be parsed")
        return self.kernel >= version

    # -------------------------------------------------------------- per syscall

    def _resolve(self, name: str, entries: list[_Entry], default: Action) -> list[Rule]:
        """One syscall's entries -> its base rule and conditional rules, as libseccomp under runc applies them."""
        firm = [e for e in entries if not e.terms and e.action != default]
        cond = [e for e in entries if e.terms]
        if firm:
            for e in firm[1:]:
                if e.action != firm[0].action:
                    self.fail(
                        e.where, f"{name!r} is {_show(e.action)} here but {_show(firm[0].action)} in {firm[0].where} "
                        "(libseccomp would silently keep the first): say which one you mean"
                    )
            base = firm[0]
            for e in cond:
                if e.action != base.action:
                    self.notes.append(
                        f"{e.where}: the conditional {_show(e.action)} rule for {name} has no effect: the "
                        f"unconditional {_show(base.action)} in {base.where} overrides it (libseccomp does the same)"
                    )
            return [Rule(name, base.action, (), base.where, base.comment)]
        by_action: dict[Action, list[_Entry]] = {}
        for e in cond:
            by_action.setdefault(e.action, []).append(e)
        if len(by_action) == 2:
            pair = self._partition(by_action)
            if pair is not None:
                base_entry, guards = pair
                return [Rule(name, base_entry.action, (), base_entry.where, base_entry.comment)] + _rules(name, guards)
        for e in by_action.pop(default, []):
            self.notes.append(f"{e.where}: the conditional rule for {name} has no effect: its action is the default")
        named = [e for e in entries if not e.terms]  # only with the default action: skipped by runtimes, but said
        base_rule = Rule(name, default, (), *((named[0].where, named[0].comment) if named else ("defaultAction", "")))
        if not by_action:
            return [base_rule]
        if len(by_action) > 1:
            (a, ea), (b, eb) = list(by_action.items())[:2]
            self.fail(
                eb[0].where, f"{name!r} has conditional rules with two actions ({_show(a)} in {ea[0].where}, "
                f"{_show(b)} here) that do not split every call between them: sysfence gives a syscall one base "
                "decision plus conditional rules the other way"
            )
        (action, es), = by_action.items()
        if action.denies == default.denies:
            self.fail(
                es[0].where, f"a conditional {_show(action)} for {name!r} on top of the default {_show(default)} "
                "cannot be represented: sysfence's conditional rules take a syscall the other way (allow vs deny)"
            )
        return [base_rule] + _rules(name, es)

    @staticmethod
    def _partition(by_action: dict[Action, list[_Entry]]) -> tuple[_Entry, list[_Entry]] | None:
        """(base, guards) when an allowing and a denying action split every call between their rules: a guarded
        syscall as OCI must write it (export does so; Podman's socket rules for NETLINK_AUDIT do too)."""
        (a, ea), (b, eb) = by_action.items()
        if a.denies == b.denies:
            return None
        guards, allows = (ea, eb) if a.denies else (eb, ea)
        gt, at = {t for e in guards for t in e.terms}, {t for e in allows for t in e.terms}
        try:
            if _complement(gt | at) or any(_meet_all(x, y) for x in at for y in gt):
                return None  # some calls get the default action, or some match both
        except _Inexpressible:
            return None
        return allows[0], guards

    def _name_notes(self, entries: dict[str, list[_Entry]]) -> None:
        if self.later:
            self.notes.append(
                f"newer than libseccomp's syscall table, so left to the unknown action: {', '.join(sorted(self.later))}"
            )
        absent = sorted(n for n in entries if syscalls.number(n) is None)
        if absent:
            native = syscalls.arch_name(syscalls.native_arch())
            self.notes.append(f"not on {native}, so never matched here: {', '.join(absent)}")


def _rules(name: str, entries: list[_Entry]) -> list[Rule]:
    return [Rule(name, e.action, t, e.where, e.comment) for e in entries for t in e.terms]


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(v), type(v).__name__)


def _show(a: Action) -> str:
    name = _ACTION_NAMES[a.kind]
    return f"{name}({_errno.errorcode.get(a.errno, a.errno)})" if a.kind is Kind.ERRNO else name


# ------------------------------------------------------------------ argument conditions: complement


class _Inexpressible(Exception):
    pass


_OPPOSITE = {Op.EQ: Op.NE, Op.NE: Op.EQ, Op.LT: Op.GE, Op.GE: Op.LT, Op.LE: Op.GT, Op.GT: Op.LE}


def _term_key(t: Term) -> tuple[tuple[int, str, int, int], ...]:
    return tuple((c.index, c.op.value, c.value, c.mask) for c in t)


def _complement(terms: Iterable[Term]) -> list[Term]:
    """Disjoint terms matching exactly the calls that no term in `terms` matches (_Inexpressible past the cap).

    Disjoint because libseccomp 2.5 miscompiles, or takes minutes over, overlapping rules on several arguments.
    """
    out: list[Term] = [()]
    for t in sorted(set(terms), key=_term_key):
        # not (c1 and c2) = (not c1) or (c1 and not c2)
        negations = [t[:i] + (n,) for i, c in enumerate(t) for n in _negate(c)]
        out = sorted({m for a in out for n in negations for m in _meet_all(a, n)}, key=_term_key)
        if len(out) > _MAX_COMPLEMENT:
            raise _Inexpressible(f"that takes more than {_MAX_COMPLEMENT} rules")
    return out


def _meet_all(term: Term, conditions: Term) -> list[Term]:
    terms = [term]
    for c in conditions:
        terms = [m for x in terms for m in _meet(x, c)]
    return terms


def _negate(c: ArgCondition) -> list[ArgCondition]:
    if c.op is not Op.MASKED_EQ:
        return [ArgCondition(c.index, _OPPOSITE[c.op], c.value)]
    # not (arg & m == v): the first mask bit, from the top, where arg differs from v. Disjoint, one per bit.
    out, seen = [], 0
    for bit in (1 << i for i in range(63, -1, -1)):
        if c.mask & bit:
            out.append(ArgCondition(c.index, Op.MASKED_EQ, (c.value & seen) | (~c.value & bit), seen | bit))
            seen |= bit
    return out


def _meet(term: Term, c: ArgCondition) -> list[Term]:
    """`term` and `c` as terms (one condition per argument): none if nothing matches both, several when two
    conditions on one argument are not one condition (`!= 1 and != 2`: then as masked comparisons)."""
    rest = [x for x in term if x.index != c.index]
    same = [x for x in term if x.index == c.index]
    if not same:
        merged = [c]
    else:
        try:
            m = _meet1(same[0], c)
            merged = [] if m is None else [m]
        except _Inexpressible:
            merged = [m for x in _cubes(same[0]) for y in _cubes(c) if (m := _meet1(x, y)) is not None]
    merged = [ArgCondition(m.index, Op.EQ, m.value) if m.op is Op.MASKED_EQ and m.mask == _U64 else m for m in merged]
    return [tuple(sorted(rest + [m], key=lambda x: x.index)) for m in merged]


def _cubes(c: ArgCondition) -> list[ArgCondition]:
    """`c` as disjoint masked comparisons."""
    if c.op in (Op.MASKED_EQ, Op.EQ):
        return [ArgCondition(c.index, Op.MASKED_EQ, c.value, c.mask)]
    if c.op is Op.NE:
        return _negate(ArgCondition(c.index, Op.MASKED_EQ, c.value))
    lo, hi = _interval(c) or (1, 0)
    out = []
    while lo <= hi:  # the largest aligned block starting at lo that fits
        size = lo & -lo or 1 << 64
        while size > hi - lo + 1:
            size >>= 1
        out.append(ArgCondition(c.index, Op.MASKED_EQ, lo, _U64 & ~(size - 1)))
        lo += size
    return out


def _meet1(a: ArgCondition, b: ArgCondition) -> ArgCondition | None:
    if a == b:
        return a
    for p, q in ((a, b), (b, a)):
        if p.op is Op.EQ:
            return p if q.matches(p.value) else None
        if p.op is Op.NE and q.op is not Op.NE and not q.matches(p.value):
            return q
    if a.op is Op.MASKED_EQ and b.op is Op.MASKED_EQ:
        if (a.value ^ b.value) & a.mask & b.mask:
            return None
        return ArgCondition(a.index, Op.MASKED_EQ, a.value | b.value, a.mask | b.mask)
    ra, rb = _interval(a), _interval(b)
    if ra and rb:
        lo, hi = max(ra[0], rb[0]), min(ra[1], rb[1])
        if lo > hi:
            return None
        if lo == hi:
            return ArgCondition(a.index, Op.EQ, lo)
        if hi == _U64:
            return ArgCondition(a.index, Op.GE, lo)
        if lo == 0:
            return ArgCondition(a.index, Op.LE, hi)
    raise _Inexpressible(f"'{a}' and '{b}' cannot be one condition")


def _interval(c: ArgCondition) -> tuple[int, int] | None:
    return {
        Op.LT: (0, c.value - 1),
        Op.LE: (0, c.value),
        Op.GT: (c.value + 1, _U64),
        Op.GE: (c.value, _U64),
    }.get(c.op)
