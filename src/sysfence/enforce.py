"""enable() and status(): the policy decisions about *whether* and *how* to filter this process."""

from __future__ import annotations

import enum
import errno
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from . import kernel
from .errors import EnforcementError, LibseccompMissing, LooseningError, ProfileError, SysfenceError, UnavailableError

_lock = threading.Lock()
_active: list[Any] = []  # RuleSets this process loaded, oldest first
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


def _flag(var: str, on: set[str], off: set[str]) -> bool | None:
    raw = os.environ.get(var)
    if raw is None or raw.strip() == "":
        return None
    v = raw.strip().lower()
    if v in on:
        return True
    if v in off:
        return False
    raise SysfenceError(f"environment variable {var}={raw!r} is not valid: use one of {', '.join(sorted(on | off))}")


def env_disabled() -> bool:
    """SYSFENCE=off (or 0/false/no) disables enforcement for debugging."""
    return _flag("SYSFENCE", {"on", "1", "true", "yes"}, {"off", "0", "false", "no"}) is False


def env_required() -> bool:
    return bool(_flag("SYSFENCE_REQUIRED", {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}))


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
    try:
        off = env_disabled()
    except SysfenceError:
        off = False  # enable() reports the invalid value; status() only observes
    if off:
        return Status(State.DISABLED, "SYSFENCE=off", libseccomp=ver, no_new_privs=proc.no_new_privs)
    if not ver:
        return Status(State.UNAVAILABLE, "libseccomp.so.2 is not installed", no_new_privs=proc.no_new_privs)
    return Status(State.DISABLED, "no filter loaded yet", libseccomp=ver, no_new_privs=proc.no_new_privs)


def enable(
    profile: str = "default",
    *,
    required: bool = False,
    allow: list[str] | tuple[str, ...] = (),
    deny: list[str] | tuple[str, ...] = (),
    capabilities: list[str] | tuple[str, ...] = (),
    _need: tuple[str, ...] = (),
) -> Status:
    """Filter this process and every thread and child it has or will have.

    Off Linux, without seccomp or without libseccomp this is a no-op that says why in the returned Status --
    unless `required` (or SYSFENCE_REQUIRED=1), in which case UnavailableError is raised.  SYSFENCE=off
    disables enforcement (said once on stderr); combined with `required` it is an error.  A second call
    stacks another filter only if its profile allows nothing the active one denies (the kernel intersects
    filters, so a looser one could never take effect): the same policy again is a no-op; a looser one raises
    LooseningError.  ProfileError for invalid profiles; nothing is loaded unless everything compiled.
    """
    global _warned_off
    required = required or env_required()
    if env_disabled():
        if required:
            raise UnavailableError(
                "SYSFENCE=off conflicts with required enforcement (SYSFENCE_REQUIRED or required=True)"
            )
        if not _warned_off:
            _warned_off = True
            print("sysfence: SYSFENCE=off: seccomp filtering is DISABLED (debugging)", file=sys.stderr)
        return status()
    reason = kernel.unsupported_reason()
    error: type[UnavailableError] = UnavailableError
    if reason is None:
        try:
            from . import _libseccomp

            _libseccomp.info()
        except LibseccompMissing as exc:
            reason, error = str(exc), LibseccompMissing
    if reason is not None:
        if required:
            raise error(f"seccomp enforcement required but unavailable: {reason}")
        return Status(State.UNAVAILABLE, reason)

    from . import capabilities as _capabilities
    from . import compiler
    from . import profile as _profile

    prof = _profile.load(profile) if isinstance(profile, str) else profile
    if allow or deny or capabilities:
        prof = _profile.with_overrides(prof, list(allow), list(deny), list(capabilities))
    rs = prof.ruleset()
    refused = [s for s in _need if rs.decide(s).denies]
    if refused:
        raise ProfileError(
            f"profile {prof.name!r} denies {', '.join(refused)}, so no program can be started under it; "
            f"call sysfence.enable({prof.name!r}) inside the program instead"
        )
    global _filters_loaded
    with _lock:
        if _active:
            if rs == _active[-1]:
                return _enforcing()
            loose = rs.loosens(_active[-1])
            if loose:
                raise LooseningError(
                    f"profile {rs.name!r} would allow what the active profile {_active[-1].name!r} denies "
                    f"({', '.join(loose[:5])}{', ...' if len(loose) > 5 else ''}); filters can only tighten"
                )
        compiled = compiler.compile_ruleset(rs)  # raises before anything touches the process
        nr = _seccomp_nr()
        _lib_version()  # cache it now: the new filter may deny what finding it needs
        try:
            before = kernel.proc_state().filters
        except OSError:
            before = _filters_loaded
        try:
            kernel.set_no_new_privs()
            kernel.load_filter(compiled.program, nr)
        except OSError as exc:
            raise EnforcementError(f"loading the filter failed: {exc.strerror}") from None
        _active.append(rs)
        _filters_loaded = before + 1
    for cap in prof.dangerous:
        print(f"sysfence: warning: profile {prof.name!r} grants the dangerous capability {cap!r}: "
              f"{_capabilities.get(cap, prof.source).description}", file=sys.stderr)
    return _enforcing()


def _seccomp_nr() -> int:
    from . import syscalls

    nr = syscalls.number("seccomp")
    if nr is None:
        raise EnforcementError("this architecture has no seccomp syscall")
    return nr


__all__ = ["State", "Status", "enable", "status", "ProfileError", "SysfenceError"]
