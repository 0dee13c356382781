"""The capability catalog (capabilities.toml): named, documented syscall groups with argument rules.

A capability is data. Loading validates every name and rule once and flattens `includes`, so callers see
each capability as the complete set of syscalls and rules it grants.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import tomllib
from dataclasses import dataclass, replace

from . import _schema
from .errors import ProfileError
from .rules import Rule

_KEYS = {"description", "syscalls", "includes", "rule", "notes", "dangerous"}
SOURCE = "capabilities.toml"


@dataclass(frozen=True)
class Capability:
    name: str
    description: str
    syscalls: tuple[str, ...]  # allowed outright (includes flattened)
    rules: tuple[Rule, ...]  # argument rules: conditional allows and guards (includes flattened)
    notes: str
    dangerous: bool
    includes: tuple[str, ...]

    @property
    def permits(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if not r.action.denies)

    @property
    def guards(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.action.denies)


@functools.cache
def catalog() -> dict[str, Capability]:
    text = importlib.resources.files(__package__).joinpath("capabilities.toml").read_text()
    return parse(tomllib.loads(text), SOURCE)


def parse(doc: dict[str, object], source: str) -> dict[str, Capability]:
    raw = doc.get("capability")
    if not isinstance(raw, dict):
        raise ProfileError(f"{source}: expected [capability.NAME] tables")
    direct: dict[str, Capability] = {}
    for name, body in raw.items():
        where = f"{source}: capability.{name}"
        if not isinstance(body, dict):
            raise ProfileError(f"{where}: must be a table")
        _schema.keys(body, _KEYS, where)
        includes = body.get("includes", [])
        if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
            raise ProfileError(f"{where}: includes must be an array of capability names")
        rules = tuple(
            replace(_schema.rule(r, f"{where}.rule[{i}]"), group=name)
            for i, r in enumerate(_schema.tables(body, "rule", where))
        )
        dangerous = body.get("dangerous", False)
        if not isinstance(dangerous, bool):
            raise ProfileError(f"{where}: dangerous must be true or false")
        direct[name] = Capability(
            name,
            _schema.string(body, "description", where),
            tuple(_schema.names(body, "syscalls", where)),
            rules,
            _schema.string(body, "notes", where, default=""),
            dangerous,
            tuple(includes),
        )
    return {name: _flatten(name, direct, (), source) for name in direct}


def _flatten(name: str, direct: dict[str, Capability], chain: tuple[str, ...], source: str) -> Capability:
    if name in chain:
        raise ProfileError(f"{source}: capability includes cycle: {' -> '.join(chain + (name,))}")
    cap = direct[name]
    syscalls, rules = list(cap.syscalls), list(cap.rules)
    for inc in cap.includes:
        if inc not in direct:
            hint = suggest(inc, direct)
            raise ProfileError(f"{source}: capability.{name}.includes: unknown capability {inc!r}{hint}")
        sub = _flatten(inc, direct, chain + (name,), source)
        syscalls += [s for s in sub.syscalls if s not in syscalls]
        rules += [r for r in sub.rules if r not in rules]
    # an argument-limited grant is moot where the syscall is granted outright; guards always stay
    rules = [r for r in rules if r.action.denies or r.syscall not in syscalls]
    return replace(cap, syscalls=tuple(syscalls), rules=tuple(rules))


def suggest(name: str, known: dict[str, Capability] | None = None) -> str:
    pool = list((known if known is not None else catalog()).keys())
    close = difflib.get_close_matches(name, pool, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def get(name: str, where: str) -> Capability:
    cat = catalog()
    if name not in cat:
        raise ProfileError(f"{where}: unknown capability {name!r}{suggest(name)}")
    return cat[name]


def granting(syscall: str) -> list[str]:
    """Capabilities that allow `syscall` outright or for some arguments (for explain/show)."""
    return [
        c.name
        for c in catalog().values()
        if syscall in c.syscalls or any(r.syscall == syscall for r in c.permits)
    ]
