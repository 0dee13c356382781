"""RuleSet -> sysfence profile TOML, for `sysfence import` and round trips.

The output names only what differs from the defaults: allowed syscalls, denials whose errno or action is
not the default, and argument rules. Loading it gives back the same decisions for every syscall.
"""

from __future__ import annotations

import errno as _errno
import json

from ..rules import Action, Kind, RuleSet


def _q(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def _errname(n: int) -> str:
    return _errno.errorcode.get(n, str(n))


def _spec(a: Action) -> str:
    if a.kind is Kind.ERRNO:
        return _q(_errname(a.errno))
    return _q(a.kind.value)


def _names(names: list[str], indent: str = "  ") -> str:
    lines, row = [], ""
    for n in names:
        item = _q(n) + ", "
        if len(row) + len(item) > 100:
            lines.append(indent + row.rstrip())
            row = ""
        row += item
    if row:
        lines.append(indent + row.rstrip())
    return "[\n" + "\n".join(lines) + "\n]"


def dump(rs: RuleSet, comment: str = "") -> str:
    out = [f"# {line}" for line in comment.splitlines()] + ([""] if comment else [])
    out.append(f"name = {_q(rs.name)}")
    if rs.description:
        out.append(f"description = {_q(rs.description)}")
    if rs.table:
        out.append(f"table = {_q(rs.table)}")
    d = rs.default_action
    if d.kind is Kind.ERRNO:
        out.append(f"default_errno = {_q(_errname(d.errno))}")
    else:
        out.append(f"default_action = {_q(d.kind.value)}")
    if rs.unknown_action.kind is Kind.ERRNO:
        out.append(f"unknown_errno = {_q(_errname(rs.unknown_action.errno))}")
    allowed = sorted(s for s, r in rs.base.items() if r.action.kind is Kind.ALLOW)
    out.append(f"allow = {_names(allowed)}")
    by_errno: dict[int, list[str]] = {}
    others: list[tuple[str, Action]] = []
    for s, r in sorted(rs.base.items()):
        if r.action == d or r.action.kind is Kind.ALLOW:
            continue
        if r.action.kind is Kind.ERRNO:
            by_errno.setdefault(r.action.errno, []).append(s)
        else:
            others.append((s, r.action))
    if by_errno:
        items = [f"  {{ syscalls = {json.dumps(v)}, errno = {_q(_errname(e))} }}," for e, v in sorted(by_errno.items())]
        out.append("deny = [\n" + "\n".join(items) + "\n]")
    if others:
        out.append("")
        out.append("[action]")
        out += [f"{s} = {_spec(a)}" for s, a in others]
    for r in rs.conditional:
        out.append("")
        out.append("[[rule]]")
        out.append(f"syscall = {_q(r.syscall)}")
        out.append(f"action = {_q(r.action.kind.value)}")
        if r.action.kind is Kind.ERRNO:
            out.append(f"errno = {_q(_errname(r.action.errno))}")
        if r.reason:
            out.append(f"reason = {_q(r.reason)}")
        conds = []
        for c in r.conditions:
            mask = f", mask = {c.mask:#x}" if c.op.value == "masked_eq" else ""
            conds.append(f"{{ arg = {c.index}, op = {_q(c.op.value)}{mask}, value = {c.value:#x} }}")
        out.append(f"when = [{', '.join(conds)}]")
    return "\n".join(out) + "\n"
