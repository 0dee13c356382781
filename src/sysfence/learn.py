"""Learn a minimal profile from what a command actually did (through trace.supervise in audit mode).

The run is filtered by a small base (what any program needs to start and exit: the runtime, stdio and
memory capabilities, or --base PROFILE); everything else reaches the supervisor, is recorded and let
through. The written profile keeps the base, names a whole capability wherever the run used every syscall
of it, and grants the rest one by one -- never more loosely than the catalog would:

- a syscall whose arguments the catalog checks anywhere (socket families, ioctl requests, personality
  values, mmap/mprotect protections, clone flags...) gets argument rules built from the values observed,
  on the same arguments and masks the catalog checks, even where another capability grants it outright;
- a syscall the catalog guards (clone without namespace flags, ioctl without TIOCSTI...) keeps those guards;
- clone3 observed means threads or processes were started: clone is granted (with its guards) and clone3
  keeps ENOSYS, so glibc falls back to the call whose flags the filter can check.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import __version__, capabilities, profile, syscalls, trace
from .errors import ProfileError
from .rules import Op, Rule

BASE_CAPABILITIES = ("runtime", "stdio", "memory")


@dataclass(frozen=True)
class Learned:
    capabilities: tuple[str, ...]
    allow: tuple[str, ...]
    rules: tuple[Rule, ...]
    unknown: tuple[int, ...]  # syscall numbers outside the table that the run made (cannot be named)


def base_profile(base: str | None) -> profile.Profile:
    if base:
        return profile.load(base)
    doc = "name = 'learn-base'\ncapabilities = [" + ", ".join(f"'{c}'" for c in BASE_CAPABILITIES) + "]\n"
    return profile.parse(doc.encode(), "<learn-base>")


def infer(observed: dict[str, list[tuple[int, ...]]], unknown: Sequence[int], base: profile.Profile) -> Learned:
    """From observed calls (name -> distinct argument vectors) to capabilities, syscalls and argument rules."""
    cat = {n: c for n, c in capabilities.catalog().items() if not c.dangerous}
    base_rs = base.ruleset()
    seen = dict(observed)
    if "clone3" in seen:
        seen.pop("clone3")
        seen.setdefault("clone", [])
    have = set(seen) | {s for s in base_rs.allowed()}
    chosen = sorted(n for n, c in cat.items()
                    if c.syscalls and set(c.syscalls) <= have and not c.rules and set(c.syscalls) & set(seen))
    granted = {s for n in chosen for s in cat[n].syscalls}
    allow: list[str] = []
    rules: list[Rule] = []
    for name in sorted(seen):
        if name in granted:
            continue
        permits = [r for c in cat.values() for r in c.permits if r.syscall == name]
        outright = any(name in c.syscalls for c in cat.values())
        if permits and seen[name]:  # the catalog checks these arguments: allow the values observed
            rules += [r for r in _permits_from(name, permits[0], seen[name]) if r not in rules]
            continue
        if permits and not outright:  # seen only through clone3 (flags behind a pointer): the catalog's permits
            rules += [r for r in permits if r not in rules]
            continue
        allow.append(name)
        for c in cat.values():
            for g in c.guards:
                if g.syscall == name and g not in rules:
                    rules.append(g)
    return Learned(tuple(chosen), tuple(allow), tuple(rules), tuple(sorted(set(unknown))))


def _permits_from(name: str, like: Rule, calls: list[tuple[int, ...]]) -> list[Rule]:
    """Allow exactly the observed values, compared the way the catalog compares this syscall."""
    out: list[Rule] = []
    for args in calls:
        conds = []
        for c in like.conditions:
            mask = c.mask if c.op is Op.MASKED_EQ else 0xFFFFFFFFFFFFFFFF
            conds.append(type(c)(c.index, Op.MASKED_EQ if c.op is Op.MASKED_EQ else Op.EQ, args[c.index] & mask,
                                 c.mask))
        r = Rule(name, like.action, tuple(conds), "learned", "observed in the learning run")
        if r not in out:
            out.append(r)
    return out


def render(learned: Learned, command: Sequence[str], base: str | None, previous: dict[str, Any] | None = None) -> str:
    """The profile as TOML, merged with an earlier learned profile's capabilities, syscalls and rules."""
    caps = set(learned.capabilities) | set(BASE_CAPABILITIES if not base else ())
    allow = set(learned.allow)
    rules = [_rule_doc(r) for r in learned.rules]
    runs = [" ".join(command)]
    if previous:
        caps |= set(previous.get("capabilities", []))
        allow |= set(previous.get("allow", []))
        rules += [r for r in previous.get("rule", []) if r not in rules]
    granted = {s for c in caps for s in capabilities.get(c, "learned profile").syscalls}
    allow -= granted
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"# Learned by sysfence {__version__} on {now} from: {runs[0]}",
        "# Only the code paths this run (and the merged runs) exercised are covered: error handling, other",
        "# options and rarely used features may need more. Review before deploying; merge more runs with",
        "# `sysfence learn --merge THIS_FILE -- COMMAND`.",
    ]
    if learned.unknown:
        made = ", ".join(f"{nr} ({syscalls.name(nr)})" if syscalls.name(nr) else str(nr) for nr in learned.unknown)
        lines.append(f"# Syscalls newer than the table were made and will get ENOSYS: {made}. Name them in `allow`")
        lines.append("# only for hosts whose libseccomp knows them.")
    lines += ['name = "learned"', f'description = "learned from: {_esc(runs[0][:200])}"']
    if base:
        lines.append(f'extends = "{_esc(base)}"')
    lines.append("capabilities = [" + ", ".join(f'"{c}"' for c in sorted(caps)) + "]")
    lines.append("allow = [" + ", ".join(f'"{s}"' for s in sorted(allow)) + "]")
    for r in rules:
        lines.append("")
        lines.append("[[rule]]")
        lines.append(f'syscall = "{r["syscall"]}"')
        lines.append(f'action = "{r["action"]}"')
        if "errno" in r:
            lines.append(f'errno = "{r["errno"]}"')
        if r.get("reason"):
            lines.append(f'reason = "{_esc(r["reason"])}"')
        conds = ", ".join("{" + ", ".join(f"{k} = {_val(k, v)}" for k, v in c.items()) + "}" for c in r["when"])
        lines.append(f"when = [{conds}]")
    text = "\n".join(lines) + "\n"
    profile.parse(text.encode(), "<learned>")  # never write what would not load
    return text


def _val(k: str, v: Any) -> str:
    if k == "op":
        return f'"{v}"'
    return hex(v) if k in ("value", "mask") else str(v)


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _rule_doc(r: Rule) -> dict[str, Any]:
    import errno as _errno

    d: dict[str, Any] = {"syscall": r.syscall, "action": r.action.kind.value}
    if r.action.errno:
        d["errno"] = _errno.errorcode.get(r.action.errno, str(r.action.errno))
    d["reason"] = r.reason
    d["when"] = [{"arg": c.index, "op": c.op.value, "value": c.value,
                  **({"mask": c.mask} if c.op is Op.MASKED_EQ else {})} for c in r.conditions]
    return d


def read_previous(path: str) -> dict[str, Any]:
    data = profile.read_file(path)
    try:
        doc = tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    profile.parse(data, path)
    return doc


def observed_from(report: Any) -> tuple[dict[str, list[tuple[int, ...]]], list[int]]:
    seen: dict[str, list[tuple[int, ...]]] = {}
    unknown: list[int] = []
    for call in report.calls.values():
        if call.syscall.startswith("syscall_"):
            unknown.append(int(call.syscall.removeprefix("syscall_")))
            continue
        if call.detail == trace.UNKNOWN:  # newer than the table: granting it by name would not load on an
            nr = syscalls.number(call.syscall)  # older libseccomp, and no capability reviewed it
            if nr is not None:
                unknown.append(nr)
            continue
        if syscalls.number(call.syscall) is None:
            continue
        bucket = seen.setdefault(call.syscall, [])
        bucket += [a for a in call.args if a not in bucket]
    return seen, unknown
