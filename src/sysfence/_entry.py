"""The `sysfence` command's entry point. `sysfence run` of a built-in profile, with nothing configuring
sysfence, loads the shipped program and execs without importing the command line (argparse alone costs more
than the whole fast path); everything else goes to cli.main."""

from __future__ import annotations

import os
import sys

EXIT_FAILURE = 125  # sysfence failed before running the command
EXIT_NOEXEC = 126
EXIT_NOTFOUND = 127


def quick_run(argv: list[str]) -> tuple[str | None, list[str]] | None:
    """(profile or None, COMMAND) of `run [--required] [--profile NAME] -- COMMAND...`, the only forms the
    fast path takes; None for anything else (other options, no `--`, no command)."""
    if argv[:1] != ["run"]:
        return None
    i, name = 1, None
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--required":
            i += 1
        elif argv[i] == "--profile" and i + 1 < len(argv):
            name, i = argv[i + 1], i + 2
        elif argv[i].startswith("--profile="):
            name, i = argv[i].partition("=")[2], i + 1
        else:
            return None
    cmd = argv[i + 1:]
    return (name, cmd) if i < len(argv) and cmd else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fast = quick_run(argv)
    if fast is not None:
        from . import enforce
        from .errors import SysfenceError

        try:  # None unless `--profile` names a built-in shipped for this arch (paths and store names never do)
            st = enforce.quick(fast[0], project=True, execve=True)
        except SysfenceError as exc:
            print(f"sysfence: error: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        if st is not None:
            return exec_command(fast[1])
    from .cli import main as cli_main

    return cli_main(argv)


def exec_command(cmd: list[str]) -> int:
    """exec COMMAND; the exit status `sysfence run` documents if that fails."""
    try:
        _execvp(cmd)
    except FileNotFoundError:
        print(f"sysfence: error: {cmd[0]}: command not found", file=sys.stderr)
        return EXIT_NOTFOUND
    except OSError as exc:
        print(f"sysfence: error: {cmd[0]}: cannot execute: {exc.strerror}", file=sys.stderr)
        return EXIT_NOEXEC
    return EXIT_FAILURE  # not reached


def _execvp(cmd: list[str]) -> None:
    """os.execvp without os.get_exec_path, which imports `warnings` (a fifth of the fast path's own cost).
    Same search: PATH (default os.defpath), skipping entries where the file is missing, else the first
    other error."""
    if os.sep in cmd[0]:
        os.execv(cmd[0], cmd)
    first: OSError | None = None
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        try:
            os.execv(os.path.join(d, cmd[0]), cmd)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            first = first or exc
    raise first or FileNotFoundError(2, "No such file or directory", cmd[0])


def entry() -> None:
    sys.exit(main())
