"""The start-up hook: sysfence.pth imports this at interpreter start-up, before the application's first line.

The .pth line itself only reads the environment and checks whether /etc/sysfence/policy.toml exists, so an
interpreter without SYSFENCE_* variables and without a system policy pays nothing measurable. A filter is
applied when SYSFENCE_PROFILE, SYSFENCE=on or SYSFENCE_CAPS/ALLOW/DENY/ACTION ask for one, or a mandatory
profile applies to Python. The `sysfence` command itself is left alone: `sysfence run` applies the same
layers plus its flags, and `status`/`list` must work while the policy is broken.
This module then decides like `sysfence run` does (built-in < system < project < environment,
mandatory profile first) and, on any error, prints one line and exits 125 rather than let the program run
with less protection than was asked for.
"""

from __future__ import annotations

import os
import sys

EXIT_FAILURE = 125


def _triggered(mandatory: object) -> bool:
    on = os.environ.get("SYSFENCE", "").strip().lower() in ("1", "true", "yes", "on")
    from .policy import ASKS

    return on or mandatory is not None or any(os.environ.get(k, "").strip() for k in ASKS)


def is_cli(argv: list[str], orig_argv: list[str], prefix: str) -> bool:
    """Is this interpreter running the sysfence command: `python [options] -m sysfence ...`, or the
    `sysfence` console script installed in this environment? At start-up sys.argv is ["-m", args...] for
    -m, so the module name is the element of orig_argv just before argv[1:]."""
    if not argv:
        return False
    if argv[0] == "-m":
        i = len(orig_argv) - len(argv)
        if 0 < i < len(orig_argv):
            return orig_argv[i] == "-msysfence" or (orig_argv[i] == "sysfence" and orig_argv[i - 1] == "-m")
        return False
    script = os.path.join(prefix, "bin", "sysfence")
    try:
        return os.path.samefile(argv[0], script)
    except OSError:
        return False


def run() -> None:
    if is_cli(sys.argv, sys.orig_argv, sys.prefix):
        return
    from .enforce import State, apply, quick

    # SYSFENCE_PROFILE=<built-in> alone, nothing else configured: its shipped program (shortcut.py)
    if quick(None, project=True, execve=False, env_profile=True) is not None:
        os.environ.pop("SYSFENCE_PROFILE", None)  # as policy.consume_env(): children inherit the filter
        return
    from . import policy

    pol = policy.system()
    env = policy.environment()
    mandatory = pol.mandatory if pol.mandatory is not None and "python" in pol.mandatory.applies_to else None
    if not _triggered(mandatory):
        return
    layers = [policy.BUILTIN, pol.settings, policy.project(), env]
    st = apply([s for s in layers if s is not None], pol.mandatory, "python")
    if st.state is State.ENFORCING:
        policy.consume_env()
    if st.state is State.UNAVAILABLE:
        print(f"sysfence: warning: {st.reason}; running WITHOUT a seccomp filter "
              "(SYSFENCE_REQUIRED=1 to refuse)", file=sys.stderr)


def main() -> None:
    from .errors import SysfenceError

    try:
        run()
    except SysfenceError as exc:
        print(f"sysfence: error: {exc}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_FAILURE)
    except BaseException:  # a bug must not leave the program running unfiltered when a filter was asked for
        import traceback

        traceback.print_exc()
        print("sysfence: error: the start-up hook failed (set SYSFENCE=off to run without it)", file=sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_FAILURE)


main()
