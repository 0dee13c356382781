"""Build hook: compile the built-in profiles for every shipped architecture into the wheel (precompiled.py).

Runs where the wheel is built, which needs libseccomp.so.2 (scripts/setup.sh installs it first); the wheel
then loads built-in profiles without it. A build without libseccomp fails here rather than ship a package
that silently compiles at run time.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class PrecompileHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        src = os.path.join(self.root, "src")
        sys.path.insert(0, src)
        try:
            from sysfence import precompiled
            from sysfence.errors import SysfenceError

            out = os.path.join(tempfile.mkdtemp(prefix="sysfence-programs-"), precompiled.DIR)
            try:
                precompiled.build(out, os.path.join(src, "sysfence"))
            except SysfenceError as exc:
                raise SystemExit(f"sysfence build: cannot precompile the built-in profiles: {exc}") from None
        finally:
            sys.path.remove(src)
            for m in [m for m in sys.modules if m == "sysfence" or m.startswith("sysfence.")]:
                del sys.modules[m]
        build_data["force_include"][out] = f"sysfence/{precompiled.DIR}"
