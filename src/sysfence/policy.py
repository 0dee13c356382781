"""Which filter a process gets: five layers of settings and the system's mandatory profile.

Layers, lowest first; a higher layer overrides a lower one:

  1. built-in        the embedded default profile
  2. system          /etc/sysfence/policy.toml (`profile`, `required`, grants and denials)
  3. project         ./sysfence.toml or [tool.sysfence] in ./pyproject.toml (nearest up from the working
                     directory; owned by root or the invoking user and writable by nobody else)
  4. environment     SYSFENCE_PROFILE, SYSFENCE_CAPS, SYSFENCE_ALLOW, SYSFENCE_DENY, SYSFENCE_ACTION,
                     SYSFENCE_REQUIRED, SYSFENCE=off
  5. flags           `sysfence run` options, or the arguments of `sysfence.enable()`

The profile is the one named by the highest layer that names one; every layer's capabilities, allow, deny
and action entries are then applied on top of it, lowest layer first (profile.py's composition rules);
`required` and disabling come from the highest layer that sets them.

Mandatory: policy.toml's [mandatory] table names a profile that applies to every `sysfence.enable()` and
start-up hook ("python") and/or every `sysfence run` ("run"). It replaces the built-in default as the base;
the other layers may only tighten it. Anything that would loosen it -- choosing a looser profile, granting
what it denies, an allow action, disabling, SYSFENCE_REQUIRED=0 -- is refused with the rule that forbids it.
The mandatory profile is loaded as its own filter first and the rest stacked on top, so the kernel itself
guarantees the result is never looser.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import _schema, store
from . import profile as _profile
from .errors import LooseningError, ProfileError, SysfenceError
from .profile import Layer, Profile
from .rules import EPERM
from .shortcut import BUILTIN_PREFIX, find_project, may_configure

SCOPES = ("python", "run")
SETTINGS_KEYS = {"profile", "required"} | (_profile.TOP_KEYS - {"name", "description", "table", "extends"})
POLICY_KEYS = SETTINGS_KEYS | {"mandatory"}
MANDATORY_KEYS = {"profile", "applies_to", "required"}
FILE_LAYER_KEYS = (("capabilities",), ("allow",), ("rule",), ("deny",),
                   ("action", "default_action", "default_errno", "unknown_errno"))
ENV_LISTS = {"SYSFENCE_CAPS": "capabilities", "SYSFENCE_ALLOW": "allow", "SYSFENCE_DENY": "deny"}


@dataclass(frozen=True)
class Settings:
    """What one layer says. `None` means "not set here"."""

    where: str  # "built-in", a file path, "environment", "command line", "sysfence.enable()"
    profile: str | Profile | None = None
    profile_from: str = ""  # the setting that named the profile, with its value (for refusals)
    layers: tuple[Layer, ...] = ()  # grants, denials and actions, each Layer.source naming its origin
    required: bool | None = None
    required_from: str = ""
    disable: str = ""  # "SYSFENCE=off", "--no-filter": why filtering is switched off ("" = not)
    trust: frozenset[int] | None = None  # how files named by `profile` must be owned (project files)
    profile_key: str = ""  # the key, variable or flag alone (prefixes errors about the profile it named)
    on_deny: str = ""  # "traceback" or "off" (on_deny.py); "" = not set here
    on_deny_from: str = ""


@dataclass(frozen=True)
class Mandatory:
    profile: str
    where: str  # "<path>: [mandatory] profile = 'NAME'"
    applies_to: frozenset[str]
    required: bool = True

    @property
    def forbids(self) -> str:
        return f"refused by {self.where} (mandatory for {', '.join(sorted(self.applies_to))}; it can only be tightened)"


@dataclass(frozen=True)
class Policy:
    settings: Settings
    mandatory: Mandatory | None = None


@dataclass(frozen=True)
class Plan:
    """The outcome: the filters to stack (oldest first), whether failure is fatal, or why filtering is off."""

    profiles: tuple[Profile, ...]
    required: bool
    disabled: str
    mandatory: Mandatory | None
    chosen_by: str  # which layer's setting chose the top profile


BUILTIN = Settings("built-in", "default", "built-in default")


# ------------------------------------------------------------------ reading the layers


def _toml(data: bytes, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{where}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ProfileError(f"{where}: not valid TOML: nested too deeply") from None


def _bool(doc: dict[str, Any], key: str, where: str) -> bool | None:
    if key not in doc:
        return None
    v = doc[key]
    if not isinstance(v, bool):
        raise ProfileError(f"{where}: {key} must be true or false, not {v!r}")
    return v


def settings_from_doc(doc: dict[str, Any], where: str, allowed: set[str], base_dir: str,
                      trust: frozenset[int] | None) -> Settings:
    """A settings table (policy.toml, sysfence.toml, [tool.sysfence]): `profile`, `required` and the profile
    keys that grant, deny and set actions."""
    _schema.keys(doc, allowed, where)
    prof = None
    if "profile" in doc:
        prof = _schema.string(doc, "profile", where)
        if _profile.is_path(prof) and not os.path.isabs(prof):
            prof = os.path.join(base_dir, prof)
    _profile.layer_from_doc({k: v for k, v in doc.items() if k in _profile.TOP_KEYS}, where)  # validate all first
    layers = []
    for keys in FILE_LAYER_KEYS:  # one layer per key, in the order one layer applies them: same result,
        part = {k: doc[k] for k in keys if k in doc}  # and a refusal can name the key
        if part:
            layers.append(_profile.layer_from_doc(part, f"{where}: {'/'.join(k for k in keys if k in doc)}"))
    return Settings(where, prof, f"{where}: profile = {prof!r}" if prof else "", tuple(layers),
                    _bool(doc, "required", where), f"{where}: required", "", trust, f"{where}: profile")


def system(base: str | None = None) -> Policy:
    """/etc/sysfence/policy.toml, read only if root owns it and everything above it; absent = no settings."""
    path = store.policy_path(base)
    try:
        data = store.read_trusted(path)
    except store.NotInStore:
        return Policy(Settings(path))
    except OSError as exc:
        raise SysfenceError(f"{path}: cannot read: {exc.strerror}") from None
    doc = _toml(data, path)
    settings = settings_from_doc(doc, path, POLICY_KEYS, os.path.dirname(path), store.TRUSTED_UIDS)
    mandatory = None
    if "mandatory" in doc:
        m = doc["mandatory"]
        w = f"{path}: mandatory"
        if not isinstance(m, dict):
            raise ProfileError(f"{w}: must be a table ([mandatory])")
        _schema.keys(m, MANDATORY_KEYS, w)
        name = _schema.string(m, "profile", w)
        scopes = m.get("applies_to", list(SCOPES))
        if not isinstance(scopes, list) or not scopes or not all(s in SCOPES for s in scopes):
            raise ProfileError(f"{w}: applies_to must be a non-empty array of {', '.join(map(repr, SCOPES))}")
        req = _bool(m, "required", w)
        mandatory = Mandatory(name, f"{path}: [mandatory] profile = {name!r}", frozenset(scopes),
                              True if req is None else req)
    return Policy(settings, mandatory)


def project(cwd: str | None = None) -> Settings | None:
    path = find_project(cwd)
    if path is None or not may_configure(path):
        return None  # a pyproject.toml that never mentions sysfence is not read (as `sysfence run`'s fast path)
    trust = frozenset({0, os.geteuid()})
    try:
        data = store.read_trusted(path, trust)
    except store.NotInStore:
        return None
    except store.UntrustedError:
        if path.endswith("pyproject.toml") and not _has_sysfence_table(path):
            return None  # someone else's project file that says nothing to sysfence: nothing to trust
        raise
    except OSError as exc:
        raise SysfenceError(f"{path}: cannot read: {exc.strerror}") from None
    doc = _toml(data, path)
    where = path
    if path.endswith("pyproject.toml"):
        tool = doc.get("tool", {})
        section = tool.get("sysfence") if isinstance(tool, dict) else None
        if section is None:
            return None
        where = f"{path}: [tool.sysfence]"
        if not isinstance(section, dict):
            raise ProfileError(f"{where}: must be a table")
        doc = section
    return settings_from_doc(doc, where, SETTINGS_KEYS, os.path.dirname(path), trust)


def _has_sysfence_table(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            tool = tomllib.load(f).get("tool")
    except (OSError, ValueError, RecursionError):
        return True  # cannot tell: refuse as untrusted
    return isinstance(tool, dict) and "sysfence" in tool


def _words(raw: str) -> list[str]:
    return [w for w in raw.replace(",", " ").split() if w]


def _actions(specs: Sequence[str], fmt: str) -> Layer | None:
    """ACTION (for every syscall the profile does not allow) or SYSCALL=ACTION, as in --action."""
    default = None
    per: list[tuple[str, Any]] = []
    for spec in specs:
        where = fmt.format(spec)
        name, sep, act = spec.partition("=")
        if sep:
            _schema.check_name(name, where)
            per.append((name, _schema.action_spec(act, where)))
        else:
            default = _schema.action_spec(spec, where)
    if default is None and not per:
        return None
    return Layer(fmt.format(",".join(specs)), actions=tuple(per), default_action=default)


def overrides(where: str, caps: Sequence[str] = (), allow: Sequence[str] = (), deny: Sequence[str] = (),
              actions: Sequence[str] = (), names: Mapping[str, str] | None = None) -> tuple[Layer, ...]:
    """Layers for grants, denials and actions given on the command line or in the environment. `names` maps
    each kind to how it is written there ("SYSFENCE_CAPS={}", "--cap {}"), so errors and refusals quote the
    exact setting: "SYSFENCE_DENY=getcwdd: unknown syscall 'getcwdd' (did you mean 'getcwd'?)"."""
    from . import capabilities

    fmt = {"caps": "--cap {}", "allow": "--allow {}", "deny": "--deny {}", "action": "--action {}", **(names or {})}

    def label(kind: str, values: Sequence[str]) -> str:
        return fmt[kind].format(",".join(values))

    for c in caps:
        capabilities.get(c, label("caps", [c]))
    for kind, values in (("allow", allow), ("deny", deny)):
        for v in values:
            _schema.check_name(v, label(kind, [v]))
    both = set(allow) & set(deny)
    if both:
        s = sorted(both)[0]
        raise ProfileError(f"{where}: {s!r} is both allowed ({label('allow', [s])}) and denied ({label('deny', [s])})")
    out: list[Layer] = []
    if caps:
        out.append(Layer(label("caps", caps), capabilities=tuple(caps)))
    if allow:
        out.append(Layer(label("allow", allow), allow=tuple(allow)))
    if deny:
        out.append(Layer(label("deny", deny), deny=tuple((s, EPERM, f"denied by {label('deny', [s])}") for s in deny)))
    act = _actions(actions, fmt["action"])
    if act is not None:
        out.append(act)
    return tuple(out)


def _env_flag(env: Mapping[str, str], var: str) -> bool | None:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return None
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise SysfenceError(f"environment variable {var}={raw!r} is not valid: use 1/0, true/false, yes/no or on/off")


def environment(env: Mapping[str, str] | None = None) -> Settings:
    """The SYSFENCE_* variables. Invalid values raise, naming the variable."""
    env = os.environ if env is None else env
    prof = env.get("SYSFENCE_PROFILE", "").strip() or None
    if prof is not None and _profile.is_path(prof) and not prof.startswith(BUILTIN_PREFIX):
        prof = os.path.abspath(prof)
    lists = {key: _words(env.get(var, "")) for var, key in ENV_LISTS.items()}
    layers = overrides(
        "environment", lists["capabilities"], lists["allow"], lists["deny"], _words(env.get("SYSFENCE_ACTION", "")),
        {"caps": "SYSFENCE_CAPS={}", "allow": "SYSFENCE_ALLOW={}", "deny": "SYSFENCE_DENY={}",
         "action": "SYSFENCE_ACTION={}"},
    )
    return replace(env_controls(env), profile=prof, profile_from=f"SYSFENCE_PROFILE={prof}" if prof else "",
                   profile_key="SYSFENCE_PROFILE", layers=layers)


ASKS = ("SYSFENCE_PROFILE", "SYSFENCE_CAPS", "SYSFENCE_ALLOW", "SYSFENCE_DENY", "SYSFENCE_ACTION")


def consume_env() -> None:
    """Once a filter is loaded, drop the variables that asked for it: children inherit the filter, and Python
    programs started from here must not stack the same one again (SYSFENCE=off and SYSFENCE_REQUIRED stay)."""
    for k in ASKS:
        os.environ.pop(k, None)
    if os.environ.get("SYSFENCE", "").strip().lower() in ("1", "true", "yes", "on"):
        del os.environ["SYSFENCE"]


ON_DENY_MODES = ("traceback", "off")


def on_deny_mode(value: str | None, where: str) -> str:
    """What an on_deny setting names ("" = not set); SysfenceError naming `where` for anything else."""
    v = (value or "").strip().lower()
    if v and v not in ON_DENY_MODES:
        raise SysfenceError(f"{where}={value!r} is not valid: use 'traceback' (or 'off')")
    return v


def env_controls(env: Mapping[str, str] | None = None) -> Settings:
    """Only SYSFENCE, SYSFENCE_REQUIRED and SYSFENCE_ON_DENY: what `sysfence.enable()` honours from the
    environment (the profile and its additions there belong to the start-up hook and `sysfence run`)."""
    env = os.environ if env is None else env
    on = _env_flag(env, "SYSFENCE")
    mode = on_deny_mode(env.get("SYSFENCE_ON_DENY"), "environment variable SYSFENCE_ON_DENY")
    return Settings("environment", required=_env_flag(env, "SYSFENCE_REQUIRED"), required_from="SYSFENCE_REQUIRED",
                    disable="SYSFENCE=off" if on is False else "", on_deny=mode,
                    on_deny_from=f"SYSFENCE_ON_DENY={mode}" if mode else "")


# ------------------------------------------------------------------ deciding


def required(layers: Sequence[Settings], mandatory: Mandatory | None, scope: str) -> bool:
    """Highest layer that sets `required` wins; a mandatory profile that is required cannot be made optional."""
    value, source = False, ""
    for s in layers:
        if s.required is not None:
            value, source = s.required, s.required_from
    if mandatory is not None and scope in mandatory.applies_to and mandatory.required:
        if not value and source:
            raise LooseningError(f"{source}: making enforcement optional is {mandatory.forbids}")
        return True
    return value


def disabled(layers: Sequence[Settings], mandatory: Mandatory | None, scope: str) -> str:
    """Why filtering is switched off ("" when it is not); refused under a mandatory profile."""
    why = ""
    for s in layers:
        if s.disable:
            why = s.disable
    if why and mandatory is not None and scope in mandatory.applies_to:
        raise LooseningError(f"{why}: disabling the filter is {mandatory.forbids}")
    return why


def _load(name: str | Profile, s: Settings) -> Profile:
    if isinstance(name, Profile):
        return name
    try:
        return _profile.load(name, trust=s.trust)
    except ProfileError as exc:
        msg = str(exc)
        if not s.profile_key or msg.startswith(s.profile_key):
            raise
        raise type(exc)(f"{s.profile_key}: {msg}") from None


def plan(layers: Sequence[Settings], mandatory: Mandatory | None, scope: str) -> Plan:
    """Resolve the layers into the filters to stack. Raises ProfileError for bad input and LooseningError for
    anything that would loosen a mandatory profile; nothing is loaded here."""
    req = required(layers, mandatory, scope)
    off = disabled(layers, mandatory, scope)
    chooser = BUILTIN
    for s in layers:
        if s.profile:
            chooser = s
    extra = [layer for s in layers for layer in s.layers]
    if mandatory is None or scope not in mandatory.applies_to:
        top = _load(chooser.profile or "default", chooser)
        if extra:
            top = _profile.extend(top, extra)
        return Plan((top,), req, off, None, chooser.profile_from)

    base = _load(mandatory.profile, Settings(mandatory.where, mandatory.profile, mandatory.where,
                                             trust=store.TRUSTED_UIDS, profile_key=mandatory.where))
    must = base.ruleset()
    top = base
    if chooser is not BUILTIN:
        top = _load(chooser.profile or "", chooser)
        _refuse_loosening(top, must, chooser.profile_from, mandatory)
    for layer in extra:
        top = _profile.extend(top, [layer])
        _refuse_loosening(top, must, layer.source, mandatory)
    profiles = (base,) if top.ruleset() == must else (base, top)
    return Plan(profiles, req, off, mandatory, chooser.profile_from if chooser is not BUILTIN else mandatory.where)


def _refuse_loosening(p: Profile, must: Any, what: str, mandatory: Mandatory) -> None:
    loose = p.ruleset().loosens(must)
    if loose:
        shown = ", ".join(loose[:5]) + (", ..." if len(loose) > 5 else "")
        raise LooseningError(f"{what}: would allow {shown}, which mandatory profile {mandatory.profile!r} denies: "
                             f"{mandatory.forbids}")
