"""The start-up hook: sysfence.pth imports this at interpreter start-up, before the application's first line.

The .pth line itself only reads the environment and checks whether a system policy file exists, so an
interpreter without SYSFENCE_PROFILE/SYSFENCE set and without /etc/sysfence/policy.toml pays nothing
measurable. This module then decides like `sysfence run` does (built-in < system < project < environment,
mandatory profile first) and, on any error, prints one line and exits 125 rather than let the program run
with less protection than was asked for.
"""

from __future__ import annotations

import os
import sys

EXIT_FAILURE = 125


def _triggered(env_profile: object, mandatory: object) -> bool:
    on = os.environ.get("SYSFENCE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(env_profile) or on or mandatory is not None


def run() -> None:
    from . import policy
    from .enforce import State, apply

    pol = policy.system()
    env = policy.environment()
    mandatory = pol.mandatory if pol.mandatory is not None and "python" in pol.mandatory.applies_to else None
    if not _triggered(env.profile, mandatory) and not (env.disable and mandatory):
        return
    layers = [policy.BUILTIN, pol.settings, policy.project(), env]
    st = apply([s for s in layers if s is not None], pol.mandatory, "python")
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
