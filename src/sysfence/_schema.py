"""Validation of TOML-shaped data shared by profiles and the capability catalog.

Every check raises ProfileError with one line: where (file and key path), what was wrong, and a hint.
"""

from __future__ import annotations

import difflib
import errno as _errno
from typing import Any

from . import syscalls
from .errors import ProfileError, UnknownSyscallError
from .rules import Action, ArgCondition, Kind, Op, Rule

ACTIONS = {
    "allow": Kind.ALLOW,
    "errno": Kind.ERRNO,
    "kill-process": Kind.KILL_PROCESS,
    "kill-thread": Kind.KILL_THREAD,
    "trap": Kind.TRAP,
    "log": Kind.LOG,
}
RULE_KEYS = {"syscall", "action", "errno", "reason", "when"}
COND_KEYS = {"arg", "op", "value", "mask"}


def keys(d: dict[str, Any], allowed: set[str], where: str) -> None:
    for k in d:
        if k not in allowed:
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; valid keys: {', '.join(sorted(allowed))}"
            raise ProfileError(f"{where}: unknown key {k!r}{hint}")


def string(d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    if key not in d:
        if default is None:
            raise ProfileError(f"{where}: missing key {key!r}")
        return default
    v = d[key]
    if not isinstance(v, str):
        raise ProfileError(f"{where}: {key} must be a string, not {type(v).__name__} {v!r}")
    return v


def tables(d: dict[str, Any], key: str, where: str) -> list[Any]:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise ProfileError(f"{where}: {key} must be an array of tables ([[{key}]])")
    return v


def errno_value(v: Any, where: str) -> int:
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


def check_name(name: str, where: str) -> None:
    if not isinstance(name, str):
        raise ProfileError(f"{where}: syscall names must be strings, not {name!r}")
    try:
        syscalls.number(name)
    except UnknownSyscallError as exc:
        raise UnknownSyscallError(f"{where}: {exc}") from None


def action(d: dict[str, Any], where: str) -> Action:
    kind_name = string(d, "action", where)
    if kind_name not in ACTIONS:
        close = difflib.get_close_matches(kind_name, list(ACTIONS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; valid: {', '.join(ACTIONS)}"
        raise ProfileError(f"{where}: unknown action {kind_name!r}{hint}")
    kind = ACTIONS[kind_name]
    if kind is Kind.ERRNO:
        return Action(kind, errno_value(d.get("errno", "EPERM"), f"{where}.errno"))
    if "errno" in d:
        raise ProfileError(f"{where}: errno is only meaningful with action = 'errno'")
    return Action(kind)


def rule(g: dict[str, Any], where: str) -> Rule:
    keys(g, RULE_KEYS, where)
    name = string(g, "syscall", where)
    check_name(name, f"{where}.syscall")
    act = action(g, where)
    when = g.get("when")
    if not isinstance(when, list) or not when or not all(isinstance(c, dict) for c in when):
        raise ProfileError(f"{where}: when must be a non-empty array of {{arg, op, value[, mask]}} tables")
    conds: list[ArgCondition] = []
    for i, c in enumerate(when):
        w = f"{where}.when[{i}]"
        keys(c, COND_KEYS, w)
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
    return Rule(name, act, tuple(conds), "rule", string(g, "reason", where, default=""))


def names(d: dict[str, Any], key: str, where: str) -> list[str]:
    """A list of syscall names, each checked (unknown names are errors with a suggestion)."""
    v = d.get(key, [])
    if not isinstance(v, list):
        raise ProfileError(f"{where}: {key} must be an array of syscall names")
    for i, s in enumerate(v):
        if not isinstance(s, str):
            raise ProfileError(f"{where}: {key}[{i}] must be a syscall name, not {s!r}")
        check_name(s, f"{where}: {key}[{i}]")
    return v


def action_spec(v: Any, where: str) -> Action:
    """An action given as a name ("kill-process", "errno" = EPERM, or an errno name like "EACCES") or as a
    table {action = ..., errno = ...}."""
    if isinstance(v, dict):
        keys(v, {"action", "errno"}, where)
        return action(v, where)
    if isinstance(v, str):
        if v in ACTIONS:
            return action({"action": v}, where)
        if v.startswith("E") and v.isupper():
            return Action(Kind.ERRNO, errno_value(v, where))
        close = difflib.get_close_matches(v, list(ACTIONS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; valid: {', '.join(ACTIONS)} or an errno name"
        raise ProfileError(f"{where}: unknown action {v!r}{hint}")
    raise ProfileError(f"{where}: an action must be a name or a table {{action, errno}}, not {v!r}")
