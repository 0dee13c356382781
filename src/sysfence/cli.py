"""`sysfence` command line: a thin argparse layer over the API. Data to stdout, messages to stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn

from . import __version__
from .errors import SysfenceError

SCHEMA_VERSION = 1
EXIT_FAILURE = 125  # sysfence failed before running the command
EXIT_NOEXEC = 126
EXIT_NOTFOUND = 127


def _err(msg: str) -> None:
    print(f"sysfence: {msg}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        _err(f"error: {message}")
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sysfence", description="seccomp-BPF syscall filtering for Python and the programs it runs")
    p.add_argument("--version", action="version", version=f"sysfence {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="apply a profile to this process, then exec COMMAND",
        description=(
            "Apply the profile (default: the embedded default profile) and exec COMMAND. Exit status is COMMAND's; "
            "125 if sysfence fails first, 126 if COMMAND cannot be executed, 127 if it is not found."
        ),
    )
    run.add_argument("--profile", default="default", metavar="NAME|PATH", help="built-in profile name or TOML file")
    run.add_argument("--allow", action="append", default=[], metavar="SYSCALL", help="also allow SYSCALL (repeatable)")
    run.add_argument(
        "--deny", action="append", default=[], metavar="SYSCALL", help="deny SYSCALL with EPERM (repeatable)"
    )
    run.add_argument("--required", action="store_true", help="fail (exit 125) rather than run unfiltered")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")

    st = sub.add_parser("status", help="kernel support, libseccomp, and this process's seccomp state")
    st.add_argument("--json", action="store_true")

    sh = sub.add_parser("show", help="what a profile allows and denies, and why")
    sh.add_argument("profile", nargs="?", default="default", metavar="NAME|PATH")
    sh.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "run":
            return _run(args)
        if args.cmd == "status":
            return _status(args)
        return _show(args)
    except SysfenceError as exc:
        _err(f"error: {exc}")
        return EXIT_FAILURE if args.cmd == "run" else 1
    except BrokenPipeError:
        return 1


def _run(args: argparse.Namespace) -> int:
    from .enforce import State, enable

    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        _err("error: run needs a command: sysfence run [options] -- COMMAND [ARG...]")
        return 2
    from . import profile as _profile

    for flag, names in (("--allow", args.allow), ("--deny", args.deny)):
        try:
            _profile.check_names(names, flag)
        except SysfenceError as exc:
            _err(f"error: {exc}")
            return 2
    st = enable(args.profile, required=args.required, allow=args.allow, deny=args.deny)
    if st.state is State.UNAVAILABLE:
        _err(f"warning: {st.reason}; running {cmd[0]} WITHOUT a seccomp filter (use --required to refuse)")
    try:
        os.execvp(cmd[0], cmd)
    except FileNotFoundError:
        _err(f"error: {cmd[0]}: command not found")
        return EXIT_NOTFOUND
    except PermissionError as exc:
        _err(f"error: {cmd[0]}: cannot execute: {exc.strerror}")
        return EXIT_NOEXEC
    except OSError as exc:
        _err(f"error: {cmd[0]}: cannot execute: {exc.strerror}")
        return EXIT_NOEXEC
    return EXIT_FAILURE  # not reached


def _status(args: argparse.Namespace) -> int:
    from . import _libseccomp, kernel
    from .enforce import status
    from .errors import LibseccompMissing

    st = status()
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "platform": sys.platform}
    unsupported = kernel.unsupported_reason()
    data["kernel"] = {
        "seccomp_filter": unsupported is None,
        "reason": unsupported or "",
        "release": os.uname().release,
        "actions_available": kernel.actions_available(),
    }
    try:
        info = _libseccomp.info()
        data["libseccomp"] = {
            "available": True,
            "version": info.version,
            "api_level": info.api_level,
            "path": info.path,
        }
    except LibseccompMissing as exc:
        data["libseccomp"] = {"available": False, "error": str(exc)}
    if unsupported is None:
        proc = kernel.proc_state()
        mode = {0: "disabled", 1: "strict", 2: "filter"}.get(proc.seccomp_mode, str(proc.seccomp_mode))
        data["process"] = {"seccomp": mode, "filters": proc.filters, "no_new_privs": proc.no_new_privs}
    data["state"] = st.state.value
    data["reason"] = st.reason
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    k, lib = data["kernel"], data["libseccomp"]
    print(f"kernel:      {'seccomp filter supported' if k['seccomp_filter'] else k['reason']} (Linux {k['release']})")
    if k["actions_available"]:
        print(f"actions:     {' '.join(k['actions_available'])}")
    if lib["available"]:
        print(f"libseccomp:  {lib['version']} (API level {lib['api_level']}, {lib['path']})")
    else:
        print(f"libseccomp:  missing: {lib['error']}")
    if "process" in data:
        p = data["process"]
        print(f"this process: seccomp {p['seccomp']}, {p['filters']} filter(s), NoNewPrivs {int(p['no_new_privs'])}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from . import profile as _profile
    from . import syscalls

    prof = _profile.load(args.profile)
    rs = prof.ruleset()
    try:
        table = syscalls.table()
        arch = syscalls.arch_name(syscalls.native_arch())
    except SysfenceError:
        table, arch = {}, ""

    def on_arch(names: tuple[str, ...]) -> list[str]:
        return [s for s in names if not table or s in table]

    groups: list[dict[str, Any]] = []
    for grp in prof.groups:
        present = on_arch(grp.syscalls)
        groups.append(
            {
                "name": grp.name,
                "action": str(grp.action),
                "denies": grp.action.denies,
                "reason": grp.reason,
                "syscalls": list(grp.syscalls),
                "count": len(present),
                "not_on_arch": [s for s in grp.syscalls if s not in present],
            }
        )
    rules = [
        {"syscall": r.syscall, "action": str(r.action), "when": [str(c) for c in r.conditions], "reason": r.reason}
        for r in rs.conditional
    ]
    allowed = [s for s in rs.allowed() if not table or s in table]
    denied = [s for s in rs.denied() if not table or s in table]
    unnamed = sorted(set(table) - set(rs.base))
    data = {
        "schema_version": SCHEMA_VERSION,
        "profile": prof.name,
        "description": prof.description,
        "source": prof.source,
        "table": prof.table,
        "arch": arch,
        "unknown_action": str(rs.unknown_action),
        "counts": {
            "allowed": len(allowed),
            "denied": len(denied),
            "argument_rules": len(rules),
            "unnamed_known_to_libseccomp": len(unnamed),
        },
        "groups": groups,
        "argument_rules": rules,
        "unnamed": unnamed,
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"profile {prof.name}: {prof.description}")
    print(f"source: {prof.source}; written against: {prof.table or 'unspecified'}")
    print(
        f"on {arch}: {len(allowed)} syscalls allowed, {len(denied)} denied, {len(rules)} argument rules; "
        f"every other syscall -> {rs.unknown_action}"
    )
    for want_deny, title in ((False, "ALLOWED"), (True, "DENIED")):
        print(f"\n{title}")
        for g in groups:
            if g["denies"] != want_deny:
                continue
            extra = f" (not on {arch}: {', '.join(g['not_on_arch'])})" if g["not_on_arch"] else ""
            print(f"  {g['name']} [{g['action']}, {g['count']}]: {g['reason']}{extra}")
            print(f"    {' '.join(g['syscalls'])}")
    if rules:
        print("\nARGUMENT RULES")
        for r in rules:
            print(f"  {r['syscall']}: {r['action']} when {' and '.join(r['when'])}  # {r['reason']}")
    if unnamed:
        print(f"\nNOT NAMED (newer than the profile's table) -> {rs.unknown_action}: {' '.join(unnamed)}")
    return 0


def entry() -> NoReturn:
    sys.exit(main())
