"""Module declarations: what syscalls a module says it needs, as capability names (issue 6, part 1).

A module declares its needs in one of three ways; all are validated (unknown capability or syscall names,
unknown keys, wrong types raise ProfileError naming the module and the declaration):

1. a module attribute::

       __sysfence__ = {"capabilities": ["net-client"], "allow": ["ioctl"]}   # "allow" is optional

2. a `sysfence.toml` data file shipped inside the module's top-level package (package data, so it is carried
   into the installed distribution unchanged; `[tool.sysfence.*]` in pyproject.toml is *not* carried into
   installed metadata by standard builds, so it cannot be read from an installed package)::

       # mypkg/sysfence.toml
       [module."mypkg.client"]
       capabilities = ["net-client", "dns"]
       allow = []

   Keys of `module` must be the package itself or modules inside it. It is read without importing anything.

3. at run time, by the application (for modules it cannot change)::

       sysfence.declare("thirdparty.net", capabilities=["net-client"])

Declarations of one module from several mechanisms are merged (union). `profile(["a", "b"])` builds the
profile `declared:a,b` from the union of the named modules' declarations on top of a minimal base (runtime,
stdio, memory): only modules the *application* names count, never whatever imported modules declare.
`sysfence.enable("declared:a,b")` or `sysfence.enable("declared", modules=["a", "b"])` loads it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import _schema, capabilities
from . import profile as _profile
from .errors import ProfileError

ATTRIBUTE = "__sysfence__"
DATA_FILE = "sysfence.toml"
BASE_CAPABILITIES = ("runtime", "stdio", "memory")
_KEYS = {"capabilities", "allow"}


@dataclass(frozen=True)
class Declaration:
    module: str
    capabilities: tuple[str, ...]
    allow: tuple[str, ...]
    sources: tuple[str, ...]  # "sysfence.declare()", "mod.__sysfence__", "<path>: module.mod"

    def to_json(self) -> dict[str, Any]:
        return {"capabilities": list(self.capabilities), "allow": list(self.allow), "sources": list(self.sources)}


_runtime: dict[str, Declaration] = {}
_files: dict[str, dict[str, Declaration]] = {}  # sysfence.toml path -> its declarations


def _validate(module: str, body: Any, source: str) -> Declaration:
    where = f"module {module!r}: {source}"
    if not isinstance(body, dict):
        raise ProfileError(f"{where}: must be a table/dict with 'capabilities' (and optionally 'allow'), "
                           f"not {type(body).__name__}")
    unknown = sorted(str(k) for k in body if k not in _KEYS)
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]!r} (expected 'capabilities', 'allow')")
    out: dict[str, tuple[str, ...]] = {}
    for key in ("capabilities", "allow"):
        v = body.get(key, [])
        if isinstance(v, tuple):
            v = list(v)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ProfileError(f"{where}: {key} must be a list of strings, not {v!r}")
        out[key] = tuple(dict.fromkeys(v))
    for i, c in enumerate(out["capabilities"]):
        capabilities.get(c, f"{where}: capabilities[{i}]")
    for i, s in enumerate(out["allow"]):
        _schema.check_name(s, f"{where}: allow[{i}]")
    return Declaration(module, out["capabilities"], out["allow"], (source,))


def _check_module_name(module: Any, where: str) -> str:
    if not isinstance(module, str) or not module or not all(p.isidentifier() for p in module.split(".")):
        raise ProfileError(f"{where}: {module!r} is not a module name")
    return module


def declare(module: str, *, capabilities: Sequence[str] = (), allow: Sequence[str] = ()) -> Declaration:
    """Declare, at run time, what `module` needs (merged with its other declarations). Validated now."""
    _check_module_name(module, "sysfence.declare()")
    d = _validate(module, {"capabilities": list(capabilities), "allow": list(allow)}, "sysfence.declare()")
    _runtime[module] = _merge([_runtime.get(module), d]) or d
    return d


def _merge(decls: Sequence[Declaration | None]) -> Declaration | None:
    found = [d for d in decls if d is not None]
    if not found:
        return None
    return Declaration(
        found[0].module,
        tuple(dict.fromkeys(c for d in found for c in d.capabilities)),
        tuple(dict.fromkeys(s for d in found for s in d.allow)),
        tuple(dict.fromkeys(s for d in found for s in d.sources)),
    )


def _package_dirs(top: str) -> list[str]:
    mod = sys.modules.get(top)
    if mod is not None:
        return list(getattr(mod, "__path__", []) or [])
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return []
    return list(spec.submodule_search_locations or []) if spec else []


def _from_file(path: str, top: str) -> dict[str, Declaration]:
    if path in _files:
        return _files[path]
    try:
        doc = tomllib.loads(_profile.read_file(path).decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"package {top!r}: {path}: not valid TOML: {exc}") from None
    _schema.keys(doc, {"module"}, path)
    mods = doc.get("module", {})
    if not isinstance(mods, dict):
        raise ProfileError(f"package {top!r}: {path}: module must be a table of [module.\"NAME\"] tables")
    out: dict[str, Declaration] = {}
    for name, body in mods.items():
        if name != top and not name.startswith(top + "."):
            raise ProfileError(f"module {name!r}: {path}: module.{name}: a package may declare only itself and "
                               f"its own modules ({top!r}, {top}.*)")
        out[name] = _validate(name, body, f"{path}: module.{name}")
    _files[path] = out
    return out


def of(module: str, *, import_missing: bool = False) -> Declaration | None:
    """The merged declaration of `module`, or None. Its `__sysfence__` is read only if it is imported already
    (or, with `import_missing`, after importing it)."""
    found: list[Declaration | None] = [_runtime.get(module)]
    mod = sys.modules.get(module)
    if mod is None and import_missing:
        try:
            mod = importlib.import_module(module)
        except Exception as exc:
            raise ProfileError(f"module {module!r}: cannot be imported to read its declaration: "
                               f"{type(exc).__name__}: {exc}") from None
    if mod is not None:
        try:
            body = mod.__dict__.get(ATTRIBUTE) if hasattr(mod, "__dict__") else None
        except Exception:
            body = None
        if body is not None:
            found.append(_validate(module, body, f"{module}.{ATTRIBUTE}"))
    top = module.split(".")[0]
    for d in _package_dirs(top):
        path = os.path.join(d, DATA_FILE)
        if os.path.isfile(path):
            found.append(_from_file(path, top).get(module))
    return _merge(found)


def profile(modules: Iterable[str]) -> _profile.Profile:
    """The profile `declared:MOD,...`: the base plus the union of the named modules' declarations."""
    names = list(dict.fromkeys(modules))
    where = "profile 'declared'"
    if not names:
        raise ProfileError(f"{where}: name the modules whose declarations make the profile: "
                           "enable('declared:mod1,mod2') or enable('declared', modules=[...])")
    layers: list[tuple[_profile.Layer, dict[str, str]]] = []
    for m in names:
        _check_module_name(m, where)
        d = of(m, import_missing=True)
        if d is None:
            raise ProfileError(f"{where}: module {m!r} has no sysfence declaration ({ATTRIBUTE}, "
                               f"sysfence.declare() or {DATA_FILE} in its package)")
        layers.append((_profile.Layer(f"declaration of {m} ({', '.join(d.sources)})", d.capabilities, d.allow), {}))
    name = "declared:" + ",".join(names)
    base = _profile.Layer("<declared base>", BASE_CAPABILITIES)
    meta = {"name": name, "description": f"base ({', '.join(BASE_CAPABILITIES)}) and the declarations of "
            + ", ".join(names)}
    return _profile.resolve([(base, meta)] + layers)


def from_spec(spec: str, modules: Sequence[str] = ()) -> _profile.Profile:
    """`declared` with `modules`, or `declared:mod1,mod2`."""
    listed = [m.strip() for m in spec.removeprefix("declared").removeprefix(":").split(",") if m.strip()]
    if isinstance(modules, str):
        raise ProfileError("sysfence.enable(): modules must be a list of module names, not a string")
    return profile(listed + list(modules))


def snapshot(names: Iterable[str]) -> dict[str, Any]:
    """For `sysfence manifest`: each module's declaration (or None) and any declaration error."""
    out: dict[str, Any] = {}
    for n in sorted(set(names)):
        try:
            d = of(n)
            out[n] = d.to_json() if d else None
        except ProfileError as exc:
            out[n] = {"error": str(exc)}
    return out


def is_stdlib(module: str) -> bool:
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top in sys.builtin_module_names


# ------------------------------------------------------------------ sysfence manifest

# Run in the child: executes the app (runpy) or imports the modules, then at exit writes the declarations of
# every module imported after start-up (interpreter start-up and this bootstrap excluded) to a JSON file.
_BOOTSTRAP = """\
import atexit as _atexit, os as _os, runpy as _runpy, sys as _sys
_out, _mode, _src = _sys.argv[1], _sys.argv[2], _sys.argv[3]
_before = set(_sys.modules)
def _dump():
    names = [n for n in list(_sys.modules) if n not in _before and n != "__main__"]
    _sys.path.append(_src)
    import importlib, json
    declare = importlib.import_module("sysfence.declarations")  # sysfence.declarations may be the exported function
    with open(_out, "w") as f:
        json.dump(declare.snapshot(names), f)
_atexit.register(_dump)
_args = _sys.argv[4:]
if _mode == "modules":
    _sys.path[0] = _os.getcwd()
    import importlib
    for _m in _args:
        importlib.import_module(_m)
elif _mode == "-m":
    _sys.path[0] = _os.getcwd()
    _sys.argv = _args
    _runpy.run_module(_args[0], run_name="__main__", alter_sys=True)
else:
    _sys.argv = _args
    _sys.path[0] = _os.path.dirname(_os.path.abspath(_args[0]))
    _runpy.run_path(_args[0], run_name="__main__")
"""


def manifest(command: Sequence[str] = (), modules: Sequence[str] = ()) -> tuple[dict[str, Any], int]:
    """Run `python SCRIPT ...` / `python -m MOD ...` (the app's own output flows through), or import
    `modules`, in a child interpreter; return (report, the child's exit status)."""
    import json
    import subprocess
    import tempfile

    from .errors import SysfenceError

    cmd = list(command)
    if cmd and cmd[0].endswith(".py"):
        cmd = [sys.executable] + cmd
    if cmd:
        if not os.path.basename(cmd[0]).startswith("python") or len(cmd) < 2 or (
                cmd[1].startswith("-") and (cmd[1] != "-m" or len(cmd) < 3)):
            raise SysfenceError("manifest runs a Python program: sysfence manifest -- python SCRIPT [ARG...] "
                                "or -- python -m MODULE [ARG...]")
        mode, rest = ("-m", cmd[2:]) if cmd[1] == "-m" else ("script", cmd[1:])
        interp = cmd[0]
    else:
        for m in modules:
            _check_module_name(m, "--module")
        mode, rest, interp = "modules", list(modules), sys.executable
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="sysfence-manifest-") as tmp:
        out = os.path.join(tmp, "declarations.json")
        try:
            proc = subprocess.run([interp, "-c", _BOOTSTRAP, out, mode, src, *rest])
        except OSError as exc:
            raise SysfenceError(f"{interp}: cannot execute: {exc.strerror}") from None
        try:
            with open(out) as f:
                found: dict[str, Any] = json.load(f)
        except (OSError, ValueError):
            raise SysfenceError(f"{' '.join(cmd) or 'import'}: exited with status {proc.returncode} before "
                                "reporting its modules (os._exit or killed?)") from None
    return report(found, command=list(command), modules=list(modules), status=proc.returncode), proc.returncode


def report(found: dict[str, Any], *, command: list[str], modules: list[str], status: int) -> dict[str, Any]:
    declared: dict[str, Any] = {}
    errors: dict[str, str] = {}
    undeclared: dict[str, list[str]] = {}
    stdlib = 0
    for name in sorted(found):
        d = found[name]
        if d is None:
            if is_stdlib(name):
                stdlib += 1
            else:
                undeclared.setdefault(name.split(".")[0], []).append(name)
        elif "error" in d:
            errors[name] = d["error"]
        else:
            declared[name] = d
    return {
        "command": command, "modules_requested": modules, "exit_status": status,
        "declared": declared,
        "capabilities": sorted({c for d in declared.values() for c in d["capabilities"]}),
        "allow": sorted({s for d in declared.values() for s in d["allow"]}),
        "undeclared": undeclared, "stdlib_modules": stdlib, "errors": errors,
    }


def render(rep: dict[str, Any]) -> str:
    lines = ["declared:" if rep["declared"] else "declared: none"]
    for name, d in rep["declared"].items():
        what = ", ".join(d["capabilities"]) or "-"
        if d["allow"]:
            what += f"; allow {', '.join(d['allow'])}"
        lines.append(f"  {name}: {what}  ({', '.join(d['sources'])})")
    lines.append(f"capabilities (union): {', '.join(rep['capabilities']) or 'none'}")
    if rep["allow"]:
        lines.append(f"allow (union): {', '.join(rep['allow'])}")
    if rep["undeclared"]:
        lines.append("undeclared:")
        for top, names in rep["undeclared"].items():
            lines.append(f"  {top} ({len(names)} module{'s' if len(names) != 1 else ''})")
    lines.append(f"{rep['stdlib_modules']} stdlib modules (no declaration needed)")
    if rep["errors"]:
        lines.append("invalid declarations:")
        lines += [f"  {msg}" for msg in rep["errors"].values()]
    return "\n".join(lines) + "\n"


__all__ = ["Declaration", "declare", "from_spec", "manifest", "of", "profile"]
