"""Profile data (TOML) -> resolved decisions -> validated RuleSet.

A profile is a stack of layers (the `extends` chain, then overrides such as command-line flags). Each layer
is applied in a fixed order, so composition is predictable:

  1. capabilities and `allow` grant syscalls (a grant replaces an earlier denial of the same syscall);
     argument rules with action "allow" grant some calls of a syscall that is not granted outright
  2. argument rules with a deny action (guards) refuse some calls of granted syscalls; they are never
     dropped by a later grant
  3. `deny` refuses every call of a syscall (beats grants of the same layer and of earlier layers)
  4. `action` overrides set the final action of a syscall (kill-process, trap, log, errno, allow)

Syscalls of the table that no layer grants get `default_action` (EPERM); syscalls outside the table (newer
kernels) get `unknown_errno` (ENOSYS); `clone3` gets ENOSYS unless granted or named explicitly, so glibc
falls back to clone, whose flags can be checked. Nothing is compiled or loaded until all of this succeeded.
"""

from __future__ import annotations

import difflib
import importlib.resources
import os
import stat
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any

from . import _schema, capabilities, syscalls
from .errors import ProfileError, SysfenceError
from .rules import ALLOW, ENOSYS, EPERM, Action, Kind, Rule, RuleSet
from .shortcut import BUILTIN_PREFIX

TOP_KEYS = {
    "name", "description", "table", "extends", "capabilities", "allow", "deny", "rule",
    "default_action", "default_errno", "unknown_errno", "action",
}
_DENY_KEYS = {"syscalls", "errno", "reason"}


@dataclass(frozen=True)
class Decision:
    """The base decision for one syscall and where it came from (for show/explain)."""

    action: Action
    source: str  # "capability:NAME", "allow", "deny", "action", "default", "clone3"
    reason: str = ""


@dataclass(frozen=True)
class Layer:
    """One file's (or the command line's) declarations, validated but not yet applied."""

    source: str
    capabilities: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    deny: tuple[tuple[str, Action, str], ...] = ()  # (syscall, action, reason)
    rules: tuple[Rule, ...] = ()
    actions: tuple[tuple[str, Action], ...] = ()
    default_action: Action | None = None
    unknown_action: Action | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source: str
    table: str
    layers: tuple[Layer, ...]
    decisions: dict[str, Decision] = field(compare=False)
    rules: tuple[Rule, ...]  # conditional rules that apply (permits of denied, guards of allowed syscalls)
    default_action: Action
    unknown_action: Action

    @property
    def capabilities(self) -> list[str]:
        return sorted({c for layer in self.layers for c in layer.capabilities})

    @property
    def dangerous(self) -> list[str]:
        return [c for c in self.capabilities if capabilities.get(c, self.source).dangerous]

    def not_on_arch(self) -> list[str]:
        """Names the profile decides that do not exist on this architecture (reported, never dropped silently)."""
        table = syscalls.table()
        named = {s for s, d in self.decisions.items() if d.source != "default"} | {r.syscall for r in self.rules}
        return sorted(s for s in named if s not in table)

    def ruleset(self) -> RuleSet:
        base = [Rule(s, d.action, (), d.source, d.reason) for s, d in self.decisions.items()]
        try:
            return RuleSet.build(
                self.name, self.description, base + list(self.rules), self.unknown_action, self.table,
                default_action=self.default_action,
            )
        except ValueError as exc:
            raise ProfileError(f"{self.source}: {exc}") from None


# ------------------------------------------------------------------ loading


def builtin_names() -> list[str]:
    files = importlib.resources.files(__package__).joinpath("profiles")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def is_path(name_or_path: str) -> bool:
    return "/" in name_or_path or name_or_path.endswith((".toml", ".json"))




def load(name_or_path: str, _chain: tuple[str, ...] = (), *, trust: frozenset[int] | None = None) -> Profile:
    """A profile by name or by path (anything containing '/' or ending in .toml/.json).

    Names are looked up in the system store first (/etc/sysfence/profiles, see store.py), then among the
    built-in profiles; "builtin:NAME" skips the store. With `trust`, files given by path are read only if
    they and their directories are owned by one of those uids and writable by nobody else (project files).
    """
    return resolve(_layers(name_or_path, _chain, trust))


def parse(data: bytes, source: str, *, trust: frozenset[int] | None = None) -> Profile:
    """Parse and resolve one TOML document (its `extends` are loaded as needed)."""
    return resolve(_parse_layers(data, source, (source,), trust))


def _read(path: str, trust: frozenset[int] | None) -> bytes:
    if trust is None:
        return read_file(path)
    from . import store

    try:
        return store.read_trusted(os.path.abspath(path), trust)
    except store.NotInStore:
        raise ProfileError(f"{path}: cannot read profile: No such file or directory") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror}") from None


def _layers(name_or_path: str, chain: tuple[str, ...], trust: frozenset[int] | None = None
            ) -> list[tuple[Layer, dict[str, str]]]:
    if name_or_path in chain:
        raise ProfileError(f"{chain[-1]}: extends cycle: {' -> '.join(chain + (name_or_path,))}")
    if len(chain) > 8:
        raise ProfileError(f"{chain[-1]}: extends chain deeper than 8 profiles")
    if is_path(name_or_path) and not name_or_path.startswith(BUILTIN_PREFIX):
        data = _read(name_or_path, trust)
        if name_or_path.endswith(".json"):
            from .formats import oci

            rs = oci.import_oci(data, name_or_path)
            name = rs.name or os.path.basename(name_or_path).removesuffix(".json")
            return [(_layer_from_ruleset(rs, name_or_path), {"name": name, "description": rs.description})]
        return _parse_layers(data, name_or_path, chain + (name_or_path,), trust)
    if not name_or_path.startswith(BUILTIN_PREFIX):
        from . import store

        try:
            found = store.lookup(name_or_path)
        except (SysfenceError, OSError) as exc:
            raise ProfileError(f"profile {name_or_path!r}: {getattr(exc, 'strerror', None) or exc}") from None
        if found is not None:
            data, path = found
            return _parse_layers(data, path, chain + (name_or_path,), store.TRUSTED_UIDS)
    name = name_or_path.removeprefix(BUILTIN_PREFIX)
    if name not in builtin_names():
        known = sorted(set(builtin_names()) | set(_store_names()))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; profiles: {', '.join(known)}"
        raise ProfileError(f"unknown profile {name_or_path!r}{hint}")
    res = importlib.resources.files(__package__).joinpath("profiles", f"{name}.toml")
    return _parse_layers(res.read_bytes(), f"<builtin:{name}>", chain + (name_or_path,), None)


def _store_names() -> list[str]:
    from . import store

    try:
        return [e.name for e in store.entries()]
    except Exception:  # only for a "did you mean" hint
        return []


MAX_PROFILE_BYTES = 1 << 20


def read_file(path: str) -> bytes:
    """A profile file's bytes: a regular file of at most 1 MiB (not /dev/zero, a FIFO or a directory)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ProfileError(f"{path}: cannot read profile: not a regular file")
            data = f.read(MAX_PROFILE_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(f"{path}: cannot read profile: larger than {MAX_PROFILE_BYTES} bytes")
    return data


def _parse_layers(data: bytes, source: str, chain: tuple[str, ...], trust: frozenset[int] | None = None
                  ) -> list[tuple[Layer, dict[str, str]]]:
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ProfileError(f"{source}: not valid TOML: nested too deeply") from None
    _schema.keys(doc, TOP_KEYS, source)
    parents: list[tuple[Layer, dict[str, str]]] = []
    if "extends" in doc:
        parent = _schema.string(doc, "extends", source)
        if is_path(parent) and not os.path.isabs(parent) and not source.startswith("<"):
            parent = os.path.join(os.path.dirname(source), parent)
        try:
            parents = _layers(parent, chain, trust)
        except ProfileError as exc:
            msg = str(exc)
            raise type(exc)(msg if msg.startswith(source) else f"{source}: extends: {msg}") from None
    meta: dict[str, str] = {
        k: _schema.string(doc, k, source)
        for k in ("name", "description", "table")
        if k in doc
    }
    meta.setdefault("name", os.path.basename(source).removesuffix(".toml").strip("<>").removeprefix(BUILTIN_PREFIX))
    return parents + [(layer_from_doc(doc, source), meta)]


def layer_from_doc(doc: dict[str, Any], source: str) -> Layer:
    """The grant/deny/rule/action keys of a profile-shaped table (profiles, project files, the system policy)."""
    caps = doc.get("capabilities", [])
    if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
        raise ProfileError(f"{source}: capabilities must be an array of capability names")
    for i, c in enumerate(caps):
        capabilities.get(c, f"{source}: capabilities[{i}]")
    default = None
    if "default_action" in doc or "default_errno" in doc:
        spec: dict[str, Any] = {"action": doc.get("default_action", "errno")}
        if "default_errno" in doc:
            spec["errno"] = doc["default_errno"]
        default = _schema.action(spec, f"{source}: default_action")
    unknown = (
        Action(Kind.ERRNO, _schema.errno_value(doc["unknown_errno"], f"{source}: unknown_errno"))
        if "unknown_errno" in doc
        else None
    )
    actions_doc = doc.get("action", {})
    if not isinstance(actions_doc, dict):
        raise ProfileError(f"{source}: action must be a table of syscall = action")
    actions = []
    for name, spec in actions_doc.items():
        _schema.check_name(name, f"{source}: action.{name}")
        actions.append((name, _schema.action_spec(spec, f"{source}: action.{name}")))
    return Layer(
        source,
        tuple(caps),
        tuple(_schema.names(doc, "allow", source)),
        tuple(_denies(doc.get("deny", []), source)),
        tuple(_schema.rule(r, f"{source}: rule[{i}]") for i, r in enumerate(_schema.tables(doc, "rule", source))),
        tuple(actions),
        default,
        unknown,
    )


def _denies(v: Any, source: str) -> list[tuple[str, Action, str]]:
    """`deny = ["ptrace", {syscalls = ["mount"], errno = "EACCES", reason = "..."}]`."""
    if not isinstance(v, list):
        raise ProfileError(f"{source}: deny must be an array of syscall names or {{syscalls, errno, reason}} tables")
    out = []
    for i, item in enumerate(v):
        where = f"{source}: deny[{i}]"
        if isinstance(item, str):
            _schema.check_name(item, where)
            out.append((item, EPERM, ""))
        elif isinstance(item, dict):
            _schema.keys(item, _DENY_KEYS, where)
            act = Action(Kind.ERRNO, _schema.errno_value(item.get("errno", "EPERM"), f"{where}.errno"))
            reason = _schema.string(item, "reason", where, default="")
            for s in _schema.names(item, "syscalls", where):
                out.append((s, act, reason))
        else:
            raise ProfileError(f"{where}: must be a syscall name or a {{syscalls, errno, reason}} table, not {item!r}")
    return out


# ------------------------------------------------------------------ resolution


def resolve(layers: list[tuple[Layer, dict[str, str]]]) -> Profile:
    """Apply layers in order (see the module docstring) and validate the result."""
    known = syscalls.profile_table()[1]
    base: dict[str, Decision] = {}
    permits: dict[str, list[Rule]] = {}
    guards: dict[str, list[Rule]] = {}
    default, unknown = EPERM, ENOSYS
    meta: dict[str, str] = {}

    def grant(s: str, source: str, reason: str) -> None:
        if _allowed(base.get(s)) and source.startswith("capability:"):
            return  # keep the first capability that granted it (for show/explain)
        base[s] = Decision(ALLOW, source, reason)
        permits.pop(s, None)

    def permit(r: Rule) -> None:
        d = base.get(r.syscall)
        if _allowed(d):
            return  # granted outright already: the argument-limited grant is moot
        if d is not None:
            del base[r.syscall]  # a grant replaces an earlier denial; the other calls get the default again
        permits.setdefault(r.syscall, []).append(r)

    for layer, layer_meta in layers:
        meta.update(layer_meta)
        default = layer.default_action or default
        unknown = layer.unknown_action or unknown
        for c in layer.capabilities:
            cap = capabilities.get(c, layer.source)
            for s in cap.syscalls:
                grant(s, f"capability:{c}", cap.description)
            for r in cap.permits:
                permit(r)
            for r in cap.guards:
                guards.setdefault(r.syscall, []).append(r)
        for s in layer.allow:
            grant(s, "allow", f"allowed by {layer.source}")
        for r in layer.rules:
            if r.action.denies:
                guards.setdefault(r.syscall, []).append(r)
            else:
                permit(r)
        for s, act, reason in layer.deny:
            base[s] = Decision(act, "deny", reason or f"denied by {layer.source}")
            permits.pop(s, None)
        for s, act in layer.actions:
            base[s] = Decision(act, "action", f"action set by {layer.source}")
            if act.denies:
                permits.pop(s, None)

    decisions: dict[str, Decision] = {}
    for s in known:
        decisions[s] = Decision(default, "default", "not granted by the profile")
    decisions.update(base)
    if decisions.get("clone3", Decision(ALLOW, "")).source == "default":
        why = "flags behind a pointer; ENOSYS makes glibc fall back to clone"
        decisions["clone3"] = Decision(ENOSYS, "clone3", why)
    rules: list[Rule] = []
    for s, d in decisions.items():
        if d.action.denies:
            if s in permits and d.source in ("default", "clone3") and d.action == default:
                rules += _unique(permits[s])
        else:
            rules += _unique(guards.get(s, []))
    last = layers[-1][0].source if layers else "<empty>"
    prof = Profile(
        meta.get("name", ""), meta.get("description", ""), last, meta.get("table", syscalls.profile_table()[0]),
        tuple(layer for layer, _ in layers), decisions, tuple(rules), default, unknown,
    )
    prof.ruleset()  # validate now, not at enable() time
    return prof


def _allowed(d: Decision | None) -> bool:
    return d is not None and not d.action.denies


def _unique(rules: list[Rule]) -> list[Rule]:
    seen: list[Rule] = []
    for r in rules:
        if r not in seen:
            seen.append(r)
    return seen


def _layer_from_ruleset(rs: RuleSet, source: str) -> Layer:
    """An imported (OCI) policy as one layer: its decisions become allow/deny/action entries."""
    allow = tuple(s for s, r in rs.base.items() if r.action == ALLOW)
    actions = tuple((s, r.action) for s, r in rs.base.items() if r.action != ALLOW and r.action != rs.default_action)
    return Layer(source, (), allow, (), tuple(rs.conditional), actions, rs.default_action, rs.unknown_action)


# ------------------------------------------------------------------ overrides (flags, environment)


def check_names(names: list[str], where: str) -> None:
    """Raise UnknownSyscallError (with a suggestion) for the first name no architecture knows."""
    for s in names:
        _schema.check_name(s, f"{where}: {s}")


def with_overrides(
    prof: Profile,
    allow: list[str] | tuple[str, ...] = (),
    deny: list[str] | tuple[str, ...] = (),
    caps: list[str] | tuple[str, ...] = (),
    where: str = "command line",
) -> Profile:
    """The profile with one more layer on top: granted capabilities and syscalls, denied syscalls."""
    check_names(list(allow), f"{where}: --allow")
    check_names(list(deny), f"{where}: --deny")
    for c in caps:
        capabilities.get(c, f"{where}: --cap")
    both = set(allow) & set(deny)
    if both:
        raise ProfileError(f"{where}: {sorted(both)[0]!r} is both allowed and denied")
    layer = Layer(where, tuple(caps), tuple(allow), tuple((s, EPERM, f"denied on the {where}") for s in deny))
    return extend(prof, [layer])


def extend(prof: Profile, layers: list[Layer]) -> Profile:
    """The profile with more layers on top (settings from the project file, environment or flags)."""
    return replace(resolve(_with_meta(prof) + [(layer, {}) for layer in layers]), source=prof.source)


def _with_meta(prof: Profile) -> list[tuple[Layer, dict[str, str]]]:
    meta = {"name": prof.name, "description": prof.description, "table": prof.table}
    return [(layer, meta if i == 0 else {}) for i, layer in enumerate(prof.layers)]
