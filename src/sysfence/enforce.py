"""enable() and status(): the policy decisions about *whether* and *how* to filter this process."""

from __future__ import annotations

import errno
import sys
from _thread import allocate_lock

from . import kernel, precompiled, shortcut  # what enable()'s fast path needs, imported with the package
from .errors import EnforcementError, LibseccompMissing, LooseningError, ProfileError, SysfenceError, UnavailableError

# `import sysfence` must stay cheap (bench/startup.py): no enum, dataclasses, typing or threading here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, ClassVar

    from .policy import Mandatory, Settings
    from .profile import Profile

_lock = allocate_lock()
_active: list[Any] = []  # RuleSets (or precompiled.Entry, loaded by the fast path) this process loaded, oldest first
_trapping: list[bool] = []  # for each of _active: loaded in on_deny="traceback" mode (on_deny.py)
_precompiled: list[str] = []  # for each of _active: the libseccomp version that compiled its shipped program, or ""
_warned_off = False


class State:
    """ENFORCING, DISABLED or UNAVAILABLE; compare with `is`. Shaped like an Enum (.name, .value)."""

    __slots__ = ("name", "value")
    ENFORCING: ClassVar[State]
    DISABLED: ClassVar[State]
    UNAVAILABLE: ClassVar[State]

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def __repr__(self) -> str:
        return f"<State.{self.name}: {self.value!r}>"

    def __reduce__(self) -> str:
        return self.name  # pickles as the module-level alias below, so `is` still holds after a round trip


State.ENFORCING = ENFORCING = State("ENFORCING", "enforcing")
State.DISABLED = DISABLED = State("DISABLED", "disabled")
State.UNAVAILABLE = UNAVAILABLE = State("UNAVAILABLE", "unavailable")


class Status:
    """What enable() or status() found; immutable."""

    __slots__ = ("state", "reason", "profile", "rules", "libseccomp", "filters", "no_new_privs", "profiles",
                 "precompiled")
    FIELDS = __slots__
    state: State
    reason: str
    profile: str
    rules: int
    libseccomp: str  # the libseccomp that compiled the top filter (for a shipped program: at build time)
    filters: int  # seccomp filters on this process (from /proc), all loaders included
    no_new_privs: bool
    profiles: tuple[str, ...]  # every profile sysfence stacked, oldest first
    precompiled: bool  # the top filter is a program shipped in the package (precompiled.py)

    def __init__(self, state: State, reason: str = "", profile: str = "", rules: int = 0, libseccomp: str = "",
                 filters: int = 0, no_new_privs: bool = False, profiles: tuple[str, ...] = (),
                 precompiled: bool = False) -> None:
        for k, v in zip(self.FIELDS, (state, reason, profile, rules, libseccomp, filters, no_new_privs,
                                      tuple(profiles), precompiled), strict=True):
            object.__setattr__(self, k, v)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Status is immutable (cannot set {name!r})")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Status) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Status(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.FIELDS) + ")"

    def __reduce__(self) -> tuple[type[Status], tuple[object, ...]]:
        return Status, self._values()

    @property
    def enforcing(self) -> bool:
        return self.state is State.ENFORCING

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in self.FIELDS}
        d["state"] = self.state.value
        d["profiles"] = list(self.profiles)
        return d

    def __str__(self) -> str:
        if self.state is State.ENFORCING and self.profile:
            how = "precompiled by libseccomp" if self.precompiled else "libseccomp"
            return f"enforcing profile {self.profile!r} ({self.rules} rules, {how} {self.libseccomp})"
        return f"{self.state.value}: {self.reason}"


def _lib_version() -> str:
    try:
        from . import _libseccomp

        return _libseccomp.info().version
    except LibseccompMissing:
        return ""


_filters_loaded = 0  # filters on this process when sysfence last loaded one (/proc may be denied later)


def _enforcing(proc: kernel.ProcState | None = None) -> Status:
    """Status of what this process loaded, from memory first: its own filter may deny /proc and prctl."""
    rs = _active[-1]
    try:
        proc = proc or kernel.proc_state()
        filters, nnp = proc.filters, proc.no_new_privs
    except OSError:
        filters, nnp = _filters_loaded, True
    shipped = _precompiled[-1]
    return Status(State.ENFORCING, "", rs.name, rs.rule_count, shipped or _lib_version(), filters, nnp,
                  tuple(r.name for r in _active), bool(shipped))


def status() -> Status:
    """This process's filter state, read from the kernel, plus what sysfence itself stacked."""
    if _active:
        return _enforcing()
    reason = kernel.unsupported_reason()
    if reason:
        return Status(State.UNAVAILABLE, reason)
    try:
        proc = kernel.proc_state()
    except OSError as exc:  # /proc unreadable, e.g. denied by a filter an outer program installed
        return Status(State.ENFORCING if exc.errno == errno.EPERM else State.DISABLED,
                      f"cannot read /proc/self/status: {exc.strerror}")
    ver = _lib_version()
    if proc.seccomp_mode == 2:
        return Status(
            State.ENFORCING,
            "a seccomp filter was installed before this program started (not by this process)",
            "",
            0,
            ver,
            proc.filters,
            proc.no_new_privs,
        )
    from . import policy

    try:
        off = policy.env_controls().disable
    except SysfenceError:
        off = ""  # enable() reports the invalid value; status() only observes
    if off:
        return Status(State.DISABLED, off, libseccomp=ver, no_new_privs=proc.no_new_privs)
    if not ver:
        return Status(State.UNAVAILABLE, "libseccomp.so.2 is not installed", no_new_privs=proc.no_new_privs)
    return Status(State.DISABLED, "no filter loaded yet", libseccomp=ver, no_new_privs=proc.no_new_privs)


def enable(
    profile: str | Profile | None = None,
    *,
    required: bool = False,
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    capabilities: Sequence[str] = (),
    actions: Sequence[str] = (),
    on_deny: str | None = None,
    modules: Sequence[str] = (),
    _need: tuple[str, ...] = (),
) -> Status:
    """Filter this process and every thread and child it has or will have.

    `profile` is a name (system store first, then built-in), a path, or a Profile; None means the system's
    default (policy.toml `profile`, else the embedded default). Settings come from the built-in default <
    system policy < SYSFENCE/SYSFENCE_REQUIRED < these arguments; the project file and SYSFENCE_PROFILE/CAPS/...
    belong to the start-up hook and `sysfence run`, which have already applied them if set.
    `actions` takes ACTION or SYSCALL=ACTION, as
    `sysfence run --action` does. Off Linux, without seccomp or without libseccomp this is a no-op that says
    why in the returned Status -- unless `required` (or SYSFENCE_REQUIRED=1), in which case UnavailableError
    is raised. SYSFENCE=off disables enforcement (said once on stderr); combined with `required` it is an
    error. A mandatory profile in the system policy is loaded first and cannot be loosened (LooseningError).
    A second call stacks another filter only if its profile allows nothing the active one denies: the same
    policy again is a no-op; a looser one raises LooseningError. ProfileError for invalid profiles; nothing
    is loaded unless everything compiled.
    `on_deny="traceback"` (or SYSFENCE_ON_DENY=traceback) is a debugging mode: every denied syscall still fails
    with the profile's errno, and also prints its name and the Python stack that made it to stderr
    (on_deny.py; x86_64 only). Once on, it stays on for later calls unless they pass on_deny="off".
    `profile="declared"` with `modules=[...]` (or "declared:mod1,mod2") builds the profile from the named
    modules' declarations on a minimal base (declarations.py).
    """
    if not (allow or deny or capabilities or actions or on_deny or modules or _need) and (
            profile is None or isinstance(profile, str)):
        fast = quick(profile, project=False, execve=False)
        if fast is not None:
            return fast
    from . import policy

    shown = profile
    declared = isinstance(profile, str) and (profile == "declared" or profile.startswith("declared:"))
    if modules and not declared:
        raise SysfenceError("sysfence.enable(): modules= is only for profile='declared'")
    if declared:
        from .declarations import from_spec  # not `from . import declare`: the package exports the function

        profile = from_spec(str(profile), modules)

    pol = policy.system()
    where = "sysfence.enable()"
    if on_deny is not None and not isinstance(on_deny, str):
        raise SysfenceError(f"{where}: on_deny must be a string such as 'traceback', not {on_deny!r}")
    mode = policy.on_deny_mode(on_deny, f"{where}: on_deny")
    env = policy.env_controls()
    try:
        extra = policy.overrides(where, capabilities, allow, deny, actions,
                                 {"caps": "capabilities={}", "allow": "allow={}", "deny": "deny={}",
                                  "action": "actions={}"})
    except LibseccompMissing as exc:  # syscall names are checked against libseccomp's table
        if required or env.required or pol.mandatory is not None:
            raise LibseccompMissing(f"seccomp enforcement required but unavailable: {exc}") from None
        return Status(State.UNAVAILABLE, str(exc))
    api = policy.Settings(
        where, profile, f"sysfence.enable({shown!r})", extra,
        True if required else None, f"{where}: required=True",
        on_deny=mode, on_deny_from=f"sysfence.enable(on_deny={mode!r})" if mode else "",
    )
    return apply([policy.BUILTIN, pol.settings, env, api], pol.mandatory, "python", need=_need)


def apply(layers: Sequence[Settings], mandatory: Mandatory | None, scope: str, need: Sequence[str] = ()) -> Status:
    """Decide from the settings layers (policy.py) and load the filters they call for."""
    from . import policy

    global _warned_off
    req = policy.required(layers, mandatory, scope)
    off = policy.disabled(layers, mandatory, scope)
    mode, mode_from = "", ""
    for s in layers:
        if s.on_deny:
            mode, mode_from = s.on_deny, s.on_deny_from
    trap = mode == "traceback" or (not mode and any(_trapping))
    if trap and scope == "run" and not off:
        raise SysfenceError(
            f"{mode_from}: reports denied calls inside a Python program only (a program that sysfence run "
            "starts loses the handler and would be killed by SIGSYS instead); run the program itself with "
            "SYSFENCE_PROFILE=NAME SYSFENCE_ON_DENY=traceback python ..."
        )
    if off:
        if req:
            raise UnavailableError(f"{off} conflicts with required enforcement (SYSFENCE_REQUIRED or required=True)")
        if not _warned_off:
            _warned_off = True
            print(f"sysfence: {off}: seccomp filtering is DISABLED (debugging)", file=sys.stderr)
        st = status()
        return st if st.state is not State.DISABLED else Status(State.DISABLED, off, libseccomp=st.libseccomp,
                                                                  no_new_privs=st.no_new_privs)
    reason = kernel.unsupported_reason()
    if reason is not None:
        if req:
            raise UnavailableError(f"seccomp enforcement required but unavailable: {reason}")
        return Status(State.UNAVAILABLE, reason)
    if trap:
        from . import on_deny as _on_deny

        why = _on_deny.supported()
        if why:
            raise SysfenceError(f"{mode_from or 'on_deny'}: {why}")
    try:
        planned = policy.plan(layers, mandatory, scope)
        with _lock:
            staged = _stage(planned.profiles, need, trap)  # everything checked and compiled before anything is loaded
            for rs, program, overlay, shipped in staged:
                _install(rs, program, overlay, shipped)
    except LibseccompMissing as exc:  # raised before anything was loaded: parsing and compiling come first
        loaded = None if trap or mandatory is not None else _shipped_instead(layers, need)
        if loaded is not None:
            return loaded
        if req:
            raise LibseccompMissing(f"seccomp enforcement required but unavailable: {exc}") from None
        return Status(State.UNAVAILABLE, str(exc))
    from . import capabilities as _capabilities

    top = planned.profiles[-1]
    for cap in top.dangerous:
        print(f"sysfence: warning: profile {top.name!r} grants the dangerous capability {cap!r}: "
              f"{_capabilities.get(cap, top.source).description}", file=sys.stderr)
    return _enforcing()


def _stage(profiles: Sequence[Profile], need: Sequence[str], trap: bool = False
           ) -> list[tuple[Any, bytes, Any, str]]:
    """The (RuleSet, BPF program, on_deny overlay RuleSet or None, libseccomp version of a shipped program or "")
    still to load, oldest first; raises before anything is loaded. With `trap` (on_deny), each program starts
    with the overlay that traps the profile's errno denials (on_deny.overlay), chained in front of the
    profile's own program: still one filter."""
    from . import compiler

    for i, loaded in enumerate(_active):
        if isinstance(loaded, precompiled.Entry):  # loaded by the fast path: compare as a RuleSet from now on
            from . import profile as _profile

            _active[i] = _profile.load(shortcut.BUILTIN_PREFIX + loaded.name).ruleset()
    out: list[tuple[Any, bytes, Any, str]] = []
    top = _active[-1] if _active else None
    top_traps = bool(_trapping) and _trapping[-1]
    for i, prof in enumerate(profiles):
        rs = prof.ruleset()
        refused = [s for s in need if rs.decide(s).denies]
        if refused:
            raise ProfileError(
                f"profile {prof.name!r} denies {', '.join(refused)}, so no program can be started under it; "
                f"call sysfence.enable({prof.name!r}) inside the program, or start a Python program with "
                f"SYSFENCE_PROFILE={prof.name} python ..."
            )
        last = i == len(profiles) - 1
        if top is not None and rs == top and trap and not top_traps:
            from . import on_deny  # the same policy again, now with on_deny: stack only its overlay

            ov_top = on_deny.overlay(rs)
            out.append((top, compiler.compile_ruleset(ov_top).program, ov_top, ""))  # `top` itself: see _install
            top_traps = True
            continue
        if top is not None and (rs == top or (not last and rs in _active)):
            continue  # already enforced (the same policy again, or a mandatory base loaded earlier)
        if top is not None:
            loose = rs.loosens(top)
            if loose:
                raise LooseningError(
                    f"profile {rs.name!r} would allow what the active profile {top.name!r} denies "
                    f"({', '.join(loose[:5])}{', ...' if len(loose) > 5 else ''}); filters can only tighten"
                )
        program, shipped = precompiled.program_for(rs)
        if program is None:
            program = compiler.compile_ruleset(rs).program
        ov: Any = None
        if trap:
            from . import on_deny

            ov = on_deny.overlay(rs)
            program, shipped = compiler.chain(compiler.compile_ruleset(ov).program, program), ""
            n = len(program) // 8
            if n > compiler.BPF_MAXINSNS:
                raise ProfileError(f"profile {rs.name!r} with on_deny compiles to {n} BPF instructions; the "
                                   f"kernel limit is {compiler.BPF_MAXINSNS}")
        out.append((rs, program, ov, shipped))
        top, top_traps = rs, trap
    return out


def _install(rs: Any, program: bytes, overlay: Any = None, shipped: str = "") -> None:
    nr = _seccomp_nr()
    if not shipped:
        _lib_version()  # cache it now: the new filter may deny what finding it needs
    if overlay is not None:
        from . import on_deny

        # the handler before the filter: a trap without one kills the process, and the profile may deny what
        # installing it needs (executable memory for the ctypes callback)
        on_deny.prepare(rs, overlay)
    try:
        _load(rs, program, nr, overlay is not None, shipped)
    except EnforcementError:
        if overlay is not None:
            on_deny.forget(rs)
        raise


def _load(rs: Any, program: bytes, nr: int, trapping: bool = False, shipped: str = "",
          count_before: bool = True) -> kernel.ProcState | None:
    """NoNewPrivs, then one seccomp(2) call; record what was loaded. Counts this process's filters before
    loading (the new one may deny /proc), or with `count_before=False` after it (returned: one read less)."""
    global _filters_loaded
    before = _filters_loaded
    if count_before:
        try:
            before = kernel.proc_state().filters
        except OSError:
            pass
    try:
        kernel.set_no_new_privs()
        kernel.load_filter(program, nr)
    except OSError as exc:
        raise EnforcementError(f"loading the filter failed: {exc.strerror}") from None
    if _active and _active[-1] is rs:  # the overlay alone, over the same policy loaded before
        _trapping[-1] = True
    else:
        _active.append(rs)
        _trapping.append(trapping)
        _precompiled.append(shipped)
    _filters_loaded = before + 1
    if count_before:
        return None
    try:
        after = kernel.proc_state()
    except OSError:
        return None
    _filters_loaded = after.filters
    return after


def quick(profile: str | None, *, project: bool, execve: bool, env_profile: bool = False) -> Status | None:
    """The fast path: a built-in profile's shipped program, when nothing configures sysfence (shortcut.py)
    and nothing is loaded yet. None: take the full path, which decides the same but reads the configuration
    and may compile. `execve`: the program is about to exec a command (`sysfence run`)."""
    if _active:
        return None
    name = shortcut.builtin(profile, project=project, env_profile=env_profile)
    return _load_shipped(name, execve) if name is not None else None


def _shipped_instead(layers: Sequence[Settings], need: Sequence[str]) -> Status | None:
    """Without libseccomp the full path cannot even parse a profile (syscall names are checked against its
    table). If the layers choose a plain built-in -- no additions, not shadowed by a store profile -- its
    shipped program is exactly what they ask for: load that."""
    if any(s.layers for s in layers):
        return None
    name: Any = "default"
    for s in layers:
        if s.profile:
            name = s.profile  # as policy.plan(): the highest layer that names a profile
    if not isinstance(name, str):
        return None
    if not name.startswith(shortcut.BUILTIN_PREFIX):
        from . import store

        try:
            if store.lookup(name) is not None:
                return None
        except (SysfenceError, OSError):
            return None
    name = name.removeprefix(shortcut.BUILTIN_PREFIX)
    if _active:  # the same built-in again is a no-op, as on the full path; anything else needs libseccomp
        top = _active[-1]
        return _enforcing() if isinstance(top, precompiled.Entry) and top.name == name else None
    return _load_shipped(name, "execve" in need)


def _load_shipped(name: str, execve: bool) -> Status | None:
    entry = precompiled.find(name)
    if entry is None or (execve and not entry.execve_allowed) or kernel.unsupported_reason() is not None:
        return None
    program = entry.program()
    if program is None:
        return None
    with _lock:
        if _active:
            return None
        # the built-ins allow reading /proc/self/status, so count the filters once, after loading
        proc = _load(entry, program, precompiled.SECCOMP_NR[entry.arch], shipped=entry.libseccomp,
                     count_before=False)
    return _enforcing(proc)


def _seccomp_nr() -> int:
    from . import syscalls

    nr = syscalls.number("seccomp")
    if nr is None:
        raise EnforcementError("this architecture has no seccomp syscall")
    return nr


__all__ = ["State", "Status", "enable", "status", "ProfileError", "SysfenceError"]
