"""When a built-in profile can be loaded without reading any configuration: the fast path of enable() and
`sysfence run`.

Taken only when nothing could change the decision -- no SYSFENCE* variable, no /etc/sysfence (system policy
or profile store), and for `sysfence run` no project file that can configure sysfence -- so it decides exactly
as the full path (policy.py) would, without importing the TOML parser or libseccomp. Everything else takes
the full path. Kept free of heavy imports: it runs before every `sysfence run`.
"""

from __future__ import annotations

import os

ETC = "/etc/sysfence"  # the system store and policy (store.DEFAULT_ROOT)
PROJECT_FILES = ("sysfence.toml", "pyproject.toml")
BUILTIN_PREFIX = "builtin:"  # "builtin:NAME" skips the store (profile.load)


def find_project(cwd: str | None = None) -> str | None:
    """The nearest sysfence.toml or pyproject.toml from `cwd` upwards (the search stops at the first
    directory holding either file); policy.project() decides whether it configures sysfence."""
    d = os.path.abspath(cwd or os.getcwd())
    while True:
        for name in PROJECT_FILES:
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def may_configure(path: str) -> bool:
    """Could this project file say anything to sysfence? A sysfence.toml always; a pyproject.toml only if its
    bytes mention `sysfence` or hold a TOML escape (a key spelled "\\u0073ysfence" means the same)."""
    if not path.endswith("pyproject.toml"):
        return True
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return True  # cannot tell: the full path reports it
    return b"sysfence" in data or b"\\u" in data or b"\\U" in data


def quiet(but: str = "") -> bool:
    """No SYSFENCE* variable is set, except `but` (they can choose, extend, require, disable or relocate
    profiles)."""
    return not any(k.startswith("SYSFENCE") and k != but for k in os.environ)


def builtin(name: str | None, *, project: bool, env_profile: bool = False) -> str | None:
    """The built-in profile that `name` (None: the system default) means here, or None when configuration
    could change that and the full path must decide. `project`: the project file is a settings layer
    (`sysfence run` and the start-up hook; enable() ignores it). `env_profile`: the start-up hook, where
    SYSFENCE_PROFILE (the only variable allowed then) names the profile."""
    if not quiet("SYSFENCE_PROFILE" if env_profile else "") or os.path.lexists(ETC):
        return None
    if env_profile:
        name = os.environ.get("SYSFENCE_PROFILE", "").strip() or None
        if name is None:
            return None
    if project:
        path = find_project()
        if path is not None and may_configure(path):
            return None
    if name is None:
        return "default"
    return name.removeprefix(BUILTIN_PREFIX)
