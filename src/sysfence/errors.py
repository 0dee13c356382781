"""Exception hierarchy: one base class so callers can catch everything sysfence raises."""

from __future__ import annotations

_ONE_LINE = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


class SysfenceError(Exception):
    """Base class. str(exc) is one line fit for a user: what was wrong, where, and a hint."""

    def __init__(self, message: str = "", *args: object) -> None:
        # One line, whatever a file name or key smuggled in (every separator str.splitlines() knows).
        super().__init__(message.translate(_ONE_LINE), *args)


class ProfileError(SysfenceError):
    """A profile (file, built-in or flags) is invalid; nothing was applied."""


class UnknownSyscallError(ProfileError):
    """A syscall name that no architecture knows; the message carries a 'did you mean'."""


class UnavailableError(SysfenceError):
    """Enforcement was required but seccomp cannot be used here; nothing runs unfiltered."""


class EnforcementError(SysfenceError):
    """The kernel refused the filter (or TSYNC failed); the process is not in the requested state."""


class LooseningError(SysfenceError):
    """A second enable() asked for more than the active filter allows; filters only tighten."""


class LibseccompMissing(UnavailableError):
    """libseccomp.so.2 is not installed or too old."""


class LibseccompError(SysfenceError):
    """A libseccomp call returned a negative errno."""

    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.errno = errno
