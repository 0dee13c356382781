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

_LAZY = {
    **dict.fromkeys(("RemoteTraceback", "SandboxError", "SandboxPool", "SandboxViolation", "isolate", "sandboxed"),
                    "sandbox"),
    **dict.fromkeys(("declare", "Declaration"), "declarations"),
}


def __getattr__(name: str) -> object:
    """The sandbox and declaration APIs are imported on first use: the start-up hook must not pay for them."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'sysfence' has no attribute {name!r}")

__all__ = [
    "EnforcementError",
    "LibseccompMissing",
    "LooseningError",
    "ProfileError",
    "RemoteTraceback",
    "SandboxError",
    "SandboxPool",
    "SandboxViolation",
    "State",
    "Declaration",
    "Status",
    "SysfenceError",
    "UnavailableError",
    "UnknownSyscallError",
    "declare",
    "enable",
    "isolate",
    "sandboxed",
    "status",
]
