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


ASKS = ("SYSFENCE_PROFILE", "SYSFENCE_CAPS", "SYSFENCE_ALLOW", "SYSFENCE_DENY", "SYSFENCE_ACTION")


def _triggered(mandatory: object) -> bool:
    on = os.environ.get("SYSFENCE", "").strip().lower() in ("1", "true", "yes", "on")
    return on or mandatory is not None or any(os.environ.get(k, "").strip() for k in ASKS)


def is_cli(argv: list[str]) -> bool:
    """`python -m sysfence ...` or the `sysfence` console script."""
    if os.path.basename(argv[1] if len(argv) > 1 else "") == "sysfence":
        return True
    return any(a == "-m" and b == "sysfence" for a, b in zip(argv, argv[1:], strict=False))


def run() -> None:
    from . import policy
    from .enforce import State, apply

    if is_cli(sys.orig_argv):
        return
    pol = policy.system()
    env = policy.environment()
    mandatory = pol.mandatory if pol.mandatory is not None and "python" in pol.mandatory.applies_to else None
    if not _triggered(mandatory):
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
