"""enable() and status(): the policy decisions about *whether* and *how* to filter this process."""

from __future__ import annotations

import enum
import errno
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import kernel
from .errors import EnforcementError, LibseccompMissing, LooseningError, ProfileError, SysfenceError, UnavailableError

if TYPE_CHECKING:
    from .policy import Mandatory, Settings
    from .profile import Profile

_lock = threading.Lock()
_active: list[Any] = []  # RuleSets this process loaded, oldest first
_trapping: list[bool] = []  # for each of _active: loaded in on_deny="traceback" mode (on_deny.py)
_warned_off = False


class State(enum.Enum):
    ENFORCING = "enforcing"
    DISABLED = "disabled"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Status:
    state: State
    reason: str = ""
    profile: str = ""
    rules: int = 0
    libseccomp: str = ""
    filters: int = 0  # seccomp filters on this process (from /proc), all loaders included
    no_new_privs: bool = False
    profiles: tuple[str, ...] = field(default_factory=tuple)  # every profile sysfence stacked, oldest first

    @property
    def enforcing(self) -> bool:
        return self.state is State.ENFORCING

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        d["profiles"] = list(self.profiles)
        return d

    def __str__(self) -> str:
        if self.state is State.ENFORCING and self.profile:
            return f"enforcing profile {self.profile!r} ({self.rules} rules, libseccomp {self.libseccomp})"
        return f"{self.state.value}: {self.reason}"


def _lib_version() -> str:
    try:
        from . import _libseccomp

        return _libseccomp.info().version
    except LibseccompMissing:
        return ""


_filters_loaded = 0  # filters on this process when sysfence last loaded one (/proc may be denied later)


def _enforcing() -> Status:
    """Status of what this process loaded, from memory first: its own filter may deny /proc and prctl."""
    rs = _active[-1]
    try:
        proc = kernel.proc_state()
        filters, nnp = proc.filters, proc.no_new_privs
    except OSError:
        filters, nnp = _filters_loaded, True
    return Status(State.ENFORCING, "", rs.name, rs.rule_count, _lib_version(), filters, nnp,
                  tuple(r.name for r in _active))


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
    api = policy.Settings(
        where, profile, f"sysfence.enable({shown!r})",
        policy.overrides(where, capabilities, allow, deny, actions,
                         {"caps": "capabilities={}", "allow": "allow={}", "deny": "deny={}",
                          "action": "actions={}"}),
        True if required else None, f"{where}: required=True",
        on_deny=mode, on_deny_from=f"sysfence.enable(on_deny={mode!r})" if mode else "",
    )
    return apply([policy.BUILTIN, pol.settings, policy.env_controls(), api], pol.mandatory, "python", need=_need)


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
    error: type[UnavailableError] = UnavailableError
    if reason is None:
        try:
            from . import _libseccomp

            _libseccomp.info()
        except LibseccompMissing as exc:
            reason, error = str(exc), LibseccompMissing
    if reason is not None:
        if req:
            raise error(f"seccomp enforcement required but unavailable: {reason}")
        return Status(State.UNAVAILABLE, reason)
    if trap:
        from . import on_deny as _on_deny

        why = _on_deny.supported()
        if why:
            raise SysfenceError(f"{mode_from or 'on_deny'}: {why}")
    planned = policy.plan(layers, mandatory, scope)
    with _lock:
        staged = _stage(planned.profiles, need, trap)  # everything checked and compiled before anything is loaded
        for rs, program, overlay in staged:
            _install(rs, program, overlay)
    from . import capabilities as _capabilities

    top = planned.profiles[-1]
    for cap in top.dangerous:
        print(f"sysfence: warning: profile {top.name!r} grants the dangerous capability {cap!r}: "
              f"{_capabilities.get(cap, top.source).description}", file=sys.stderr)
    return _enforcing()


def _stage(profiles: Sequence[Profile], need: Sequence[str], trap: bool = False) -> list[tuple[Any, bytes, Any]]:
    """The (RuleSet, BPF program, on_deny overlay RuleSet or None) still to load, oldest first; raises before
    anything is loaded. With `trap` (on_deny), each program starts with the overlay that traps the profile's
    errno denials (on_deny.overlay), chained in front of the profile's own program: still one filter."""
    from . import compiler

    out: list[tuple[Any, bytes, Any]] = []
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
            out.append((top, compiler.compile_ruleset(ov_top).program, ov_top))  # `top` itself: see _install
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
        program = compiler.compile_ruleset(rs).program
        ov: Any = None
        if trap:
            from . import on_deny

            ov = on_deny.overlay(rs)
            program = compiler.chain(compiler.compile_ruleset(ov).program, program)
            n = len(program) // 8
            if n > compiler.BPF_MAXINSNS:
                raise ProfileError(f"profile {rs.name!r} with on_deny compiles to {n} BPF instructions; the "
                                   f"kernel limit is {compiler.BPF_MAXINSNS}")
        out.append((rs, program, ov))
        top, top_traps = rs, trap
    return out


def _install(rs: Any, program: bytes, overlay: Any = None) -> None:
    global _filters_loaded
    nr = _seccomp_nr()
    _lib_version()  # cache it now: the new filter may deny what finding it needs
    try:
        before = kernel.proc_state().filters
    except OSError:
        before = _filters_loaded
    if overlay is not None:
        from . import on_deny

        # the handler before the filter: a trap without one kills the process, and the profile may deny what
        # installing it needs (executable memory for the ctypes callback)
        on_deny.prepare(rs, overlay)
    try:
        kernel.set_no_new_privs()
        kernel.load_filter(program, nr)
    except OSError as exc:
        if overlay is not None:
            on_deny.forget(rs)
        raise EnforcementError(f"loading the filter failed: {exc.strerror}") from None
    if _active and _active[-1] is rs:  # the overlay alone, over the same policy loaded before
        _trapping[-1] = True
    else:
        _active.append(rs)
        _trapping.append(overlay is not None)
    _filters_loaded = before + 1


def _seccomp_nr() -> int:
    from . import syscalls

    nr = syscalls.number("seccomp")
    if nr is None:
        raise EnforcementError("this architecture has no seccomp syscall")
    return nr


__all__ = ["State", "Status", "enable", "status", "ProfileError", "SysfenceError"]
