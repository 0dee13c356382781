"""Profile data (TOML) -> validated RuleSet.

Parsing, validation and resolution happen completely before anything is compiled or loaded: a profile with
any error raises ProfileError naming the file and key, and nothing is applied.
"""

from __future__ import annotations

import difflib
import errno as _errno
import importlib.resources
import os
import tomllib
from dataclasses import dataclass
from typing import Any

from . import syscalls
from .errors import ProfileError, UnknownSyscallError
from .rules import ALLOW, Action, ArgCondition, Kind, Op, Rule, RuleSet

_TOP_KEYS = {"name", "description", "table", "unknown_errno", "extends", "group", "rule"}
_GROUP_KEYS = {"name", "action", "errno", "reason", "syscalls"}
_RULE_KEYS = {"syscall", "action", "errno", "reason", "when"}
_COND_KEYS = {"arg", "op", "value", "mask"}
_ACTIONS = {"allow": Kind.ALLOW, "errno": Kind.ERRNO, "kill-process": Kind.KILL_PROCESS, "log": Kind.LOG}


@dataclass(frozen=True)
class Group:
    """A named set of syscalls sharing one decision and one reason: the unit `sysfence show` reports."""

    name: str
    action: Action
    reason: str
    syscalls: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source: str
    table: str
    groups: tuple[Group, ...]
    rules: tuple[Rule, ...]  # conditional rules ([[rule]] entries)
    unknown_action: Action

    def ruleset(self) -> RuleSet:
        rules = [Rule(s, g.action, (), g.name, g.reason) for g in self.groups for s in g.syscalls]
        try:
            return RuleSet.build(self.name, self.description, rules + list(self.rules), self.unknown_action, self.table)
        except ValueError as exc:
            raise ProfileError(f"{self.source}: {exc}") from None


def builtin_names() -> list[str]:
    files = importlib.resources.files(__package__).joinpath("profiles")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str, _chain: tuple[str, ...] = ()) -> Profile:
    """A built-in profile by name, or a TOML file by path (anything containing '/' or ending in .toml)."""
    if name_or_path in _chain:
        raise ProfileError(f"{_chain[-1]}: extends cycle: {' -> '.join(_chain + (name_or_path,))}")
    if len(_chain) > 8:
        raise ProfileError(f"{_chain[-1]}: extends chain deeper than 8 profiles")
    if "/" in name_or_path or name_or_path.endswith(".toml"):
        try:
            with open(name_or_path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ProfileError(f"{name_or_path}: cannot read profile: {exc.strerror}") from None
        return parse(data, name_or_path, _chain + (name_or_path,))
    if name_or_path not in builtin_names():
        close = difflib.get_close_matches(name_or_path, builtin_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; built-in profiles: {', '.join(builtin_names())}"
        raise ProfileError(f"unknown profile {name_or_path!r}{hint}")
    res = importlib.resources.files(__package__).joinpath("profiles", f"{name_or_path}.toml")
    return parse(res.read_bytes(), f"<builtin:{name_or_path}>", _chain + (name_or_path,))


def parse(data: bytes, source: str, _chain: tuple[str, ...] = ()) -> Profile:
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    _keys(doc, _TOP_KEYS, source)
    base: Profile | None = None
    if "extends" in doc:
        parent = _str(doc, "extends", source)
        if "/" in parent or parent.endswith(".toml"):
            parent = os.path.join(os.path.dirname(source), parent)
        try:
            base = load(parent, _chain or (source,))
        except ProfileError as exc:
            msg = str(exc)
            raise type(exc)(msg if msg.startswith(source) else f"{source}: extends: {msg}") from None
    name = _str(doc, "name", source, default=os.path.basename(source).removesuffix(".toml"))
    groups = [_group(g, f"{source}: group[{i}]") for i, g in enumerate(_list(doc, "group", source))]
    rules = [_rule(r, f"{source}: rule[{i}]") for i, r in enumerate(_list(doc, "rule", source))]
    seen: dict[str, str] = {}
    for g in groups:
        for s in g.syscalls:
            if s in seen:
                raise ProfileError(f"{source}: syscall {s!r} is in both group {seen[s]!r} and group {g.name!r}")
            seen[s] = g.name
    if base is not None:
        # This file's groups override the parent's decision for the syscalls they name.
        inherited = [
            Group(g.name, g.action, g.reason, tuple(s for s in g.syscalls if s not in seen)) for g in base.groups
        ]
        groups = [g for g in inherited if g.syscalls] + groups
        rules = list(base.rules) + rules
    unknown = (
        Action(Kind.ERRNO, _errno_value(doc["unknown_errno"], f"{source}: unknown_errno"))
        if "unknown_errno" in doc
        else (base.unknown_action if base else Action(Kind.ERRNO, _errno.ENOSYS))
    )
    table = _str(doc, "table", source, default=base.table if base else "")
    desc = _str(doc, "description", source, default=base.description if base else "")
    prof = Profile(name, desc, source, table, tuple(groups), tuple(rules), unknown)
    prof.ruleset()  # validate composition now, not at enable() time
    return prof


def check_names(names: list[str], where: str) -> None:
    """Raise UnknownSyscallError (with a suggestion) for the first name no architecture knows."""
    for s in names:
        _check_name(s, f"{where}: {s}")


def with_overrides(prof: Profile, allow: list[str] = (), deny: list[str] = (), where: str = "") -> Profile:  # type: ignore[assignment]
    """The profile with syscalls moved to an 'allowed on the command line' / 'denied ...' group."""
    where = where or "command line"
    for s in list(allow) + list(deny):
        _check_name(s, f"{where}: {'--allow' if s in allow else '--deny'} {s}")
    both = set(allow) & set(deny)
    if both:
        raise ProfileError(f"{where}: {sorted(both)[0]!r} is both allowed and denied")
    moved = set(allow) | set(deny)
    groups = [Group(g.name, g.action, g.reason, tuple(s for s in g.syscalls if s not in moved)) for g in prof.groups]
    groups = [g for g in groups if g.syscalls]
    if allow:
        groups.append(Group("allowed-by-flag", ALLOW, f"allowed on the {where}", tuple(sorted(set(allow)))))
    if deny:
        groups.append(
            Group(
                "denied-by-flag", Action(Kind.ERRNO, _errno.EPERM), f"denied on the {where}", tuple(sorted(set(deny)))
            )
        )
    # --deny means every call of the syscall: drop its conditional permits (and now-redundant guards).
    rules = tuple(r for r in prof.rules if r.syscall not in set(deny))
    out = Profile(prof.name, prof.description, prof.source, prof.table, tuple(groups), rules, prof.unknown_action)
    out.ruleset()
    return out


# ------------------------------------------------------------------ validation helpers


def _keys(d: dict[str, Any], allowed: set[str], where: str) -> None:
    for k in d:
        if k not in allowed:
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; valid keys: {', '.join(sorted(allowed))}"
            raise ProfileError(f"{where}: unknown key {k!r}{hint}")


def _str(d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    if key not in d:
        if default is None:
            raise ProfileError(f"{where}: missing key {key!r}")
        return default
    v = d[key]
    if not isinstance(v, str):
        raise ProfileError(f"{where}: {key} must be a string, not {type(v).__name__} {v!r}")
    return v


def _list(d: dict[str, Any], key: str, where: str) -> list[Any]:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise ProfileError(f"{where}: {key} must be an array of tables ([[{key}]])")
    return v


def _errno_value(v: Any, where: str) -> int:
    if isinstance(v, bool):
        raise ProfileError(f"{where}: errno must be a name like 'EPERM' or a number, not {v!r}")
    if isinstance(v, int):
        if 1 <= v <= 4095:
            return v
        raise ProfileError(f"{where}: errno {v} out of range 1-4095")
    if isinstance(v, str):
        code = getattr(_errno, v, None)
        if isinstance(code, int) and v.startswith("E"):
            return code
        close = difflib.get_close_matches(v, [n for n in _errno.errorcode.values()], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ProfileError(f"{where}: unknown errno {v!r}{hint}")
    raise ProfileError(f"{where}: errno must be a name like 'EPERM' or a number, not {v!r}")


def _check_name(name: str, where: str) -> None:
    if not isinstance(name, str):
        raise ProfileError(f"{where}: syscall names must be strings, not {name!r}")
    try:
        syscalls.number(name)
    except UnknownSyscallError as exc:
        raise UnknownSyscallError(f"{where}: {exc}") from None


def _action(d: dict[str, Any], where: str) -> Action:
    kind_name = _str(d, "action", where)
    if kind_name not in _ACTIONS:
        close = difflib.get_close_matches(kind_name, list(_ACTIONS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; valid: {', '.join(_ACTIONS)}"
        raise ProfileError(f"{where}: unknown action {kind_name!r}{hint}")
    kind = _ACTIONS[kind_name]
    if kind is Kind.ERRNO:
        return Action(kind, _errno_value(d.get("errno", "EPERM"), f"{where}.errno"))
    if "errno" in d:
        raise ProfileError(f"{where}: errno is only meaningful with action = 'errno'")
    return Action(kind)


def _group(g: dict[str, Any], where: str) -> Group:
    _keys(g, _GROUP_KEYS, where)
    name = _str(g, "name", where)
    action = _action(g, where)
    names = g.get("syscalls")
    if not isinstance(names, list) or not names:
        raise ProfileError(f"{where}: syscalls must be a non-empty array of names")
    for i, s in enumerate(names):
        _check_name(s, f"{where}.syscalls[{i}]")
    if len(set(names)) != len(names):
        dup = next(s for s in names if names.count(s) > 1)
        raise ProfileError(f"{where}.syscalls: {dup!r} listed twice")
    return Group(name, action, _str(g, "reason", where, default=""), tuple(names))


def _rule(g: dict[str, Any], where: str) -> Rule:
    _keys(g, _RULE_KEYS, where)
    name = _str(g, "syscall", where)
    _check_name(name, f"{where}.syscall")
    action = _action(g, where)
    when = g.get("when")
    if not isinstance(when, list) or not when or not all(isinstance(c, dict) for c in when):
        raise ProfileError(f"{where}: when must be a non-empty array of {{arg, op, value[, mask]}} tables")
    conds: list[ArgCondition] = []
    for i, c in enumerate(when):
        w = f"{where}.when[{i}]"
        _keys(c, _COND_KEYS, w)
        try:
            op = Op(c.get("op"))
        except ValueError:
            raise ProfileError(
                f"{w}: op must be one of {', '.join(o.value for o in Op)}, not {c.get('op')!r}"
            ) from None
        for k in ("arg", "value") + (("mask",) if op is Op.MASKED_EQ else ()):
            if not isinstance(c.get(k), int) or isinstance(c.get(k), bool):
                raise ProfileError(f"{w}: {k} must be an integer")
        if op is not Op.MASKED_EQ and "mask" in c:
            raise ProfileError(f"{w}: mask is only meaningful with op = 'masked_eq'")
        try:
            cond = ArgCondition(c["arg"], op, c["value"], c.get("mask", 0xFFFFFFFFFFFFFFFF))
        except ValueError as exc:
            raise ProfileError(f"{w}: {exc}") from None
        if op is Op.MASKED_EQ and cond.value & ~cond.mask:
            raise ProfileError(f"{w}: value {cond.value:#x} has bits outside mask {cond.mask:#x}: it can never match")
        if any(c2.index == cond.index for c2 in conds):
            raise ProfileError(
                f"{w}: a second condition on arg {cond.index} in one rule (libseccomp cannot compile it): "
                "write one [[rule]] per value instead"
            )
        conds.append(cond)
    return Rule(name, action, tuple(conds), "rule", _str(g, "reason", where, default=""))
