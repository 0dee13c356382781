"""sysfence: seccomp-BPF syscall filtering for Python programs and everything they start.

import sysfence
sysfence.enable()          # embedded default profile; a reported no-op where seccomp is unavailable
sysfence.enable(required=True)   # fail closed instead
"""

from .enforce import State, Status, enable, status
from .errors import (
    EnforcementError,
    LibseccompMissing,
    LooseningError,
    ProfileError,
    SysfenceError,
    UnavailableError,
    UnknownSyscallError,
)

__version__ = "0.1.0"

__all__ = [
    "EnforcementError",
    "LibseccompMissing",
    "LooseningError",
    "ProfileError",
    "State",
    "Status",
    "SysfenceError",
    "UnavailableError",
    "UnknownSyscallError",
    "enable",
    "status",
]
