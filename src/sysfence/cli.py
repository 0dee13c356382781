"""`sysfence` command line: a thin argparse layer over the API. Data to stdout, messages to stderr."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, NoReturn

from . import __version__
from ._entry import EXIT_FAILURE, EXIT_NOTFOUND, exec_command
from .errors import SysfenceError

SCHEMA_VERSION = 1


def _err(msg: str) -> None:
    print(f"sysfence: {msg}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        _err(f"error: {message}")
        sys.exit(2)


def _release(text: str) -> int:
    """A release number such as systemd's 257, or a point release (252.38: its series, 252); argparse type."""
    m = re.fullmatch(r"([0-9]{1,6})(\.[0-9]{1,6})?", text)
    if m is None or int(m.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a release number (such as 257 or 252.38)")
    return int(m.group(1))


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sysfence", description="seccomp-BPF syscall filtering for Python and the programs it runs")
    p.add_argument("--version", action="version", version=f"sysfence {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="apply a profile to this process, then exec COMMAND", description=(
        "Apply the profile (default: the embedded default profile) and exec COMMAND. Exit status is COMMAND's; "
        "125 if sysfence fails first, 126 if COMMAND cannot be executed, 127 if it is not found."))
    run.add_argument("--profile", metavar="NAME|PATH", help="store or built-in name, TOML or OCI JSON file "
                     "(default: SYSFENCE_PROFILE, the project file, the system policy, else 'default')")
    run.add_argument("--cap", action="append", default=[], metavar="CAPABILITY", help="also grant a capability")
    run.add_argument("--allow", action="append", default=[], metavar="SYSCALL", help="also allow SYSCALL (repeatable)")
    run.add_argument("--deny", action="append", default=[], metavar="SYSCALL", help="deny SYSCALL with EPERM")
    run.add_argument("--action", action="append", default=[], metavar="[SYSCALL=]ACTION",
                     help="action for every syscall the profile does not allow, or for one SYSCALL: errno, an "
                     "errno name (EACCES), kill-process, kill-thread, trap, log, allow")
    run.add_argument("--required", action="store_true", help="fail (exit 125) rather than run unfiltered")
    run.add_argument("--no-filter", action="store_true", help="run COMMAND without a filter (debugging; "
                     "refused under a mandatory system profile)")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")

    st = sub.add_parser("status", help="kernel support, libseccomp, and this process's seccomp state")
    st.add_argument("--json", action="store_true")

    sh = sub.add_parser("show", help="list profiles and capabilities, or what one profile allows and denies")
    sh.add_argument("profile", nargs="?", metavar="NAME|PATH")
    sh.add_argument("--capabilities", action="store_true", help="list the capability catalog")
    sh.add_argument("--bpf", action="store_true", help="print the profile's compiled BPF program, disassembled")
    sh.add_argument("--json", action="store_true")

    ex = sub.add_parser("explain", help="which capabilities and profiles allow or deny a syscall")
    ex.add_argument("syscall")
    ex.add_argument("--profile", action="append", default=[], metavar="NAME|PATH", help="default: all built-ins")
    ex.add_argument("--arg", action="append", default=[], metavar="N=VALUE", help="argument value (e.g. 1=0x5412)")
    ex.add_argument("--path", action="store_true", help="print the BPF instructions the compiled program takes")
    ex.add_argument("--json", action="store_true")

    df = sub.add_parser("diff", help="decisions that differ between two profiles")
    df.add_argument("a", metavar="A")
    df.add_argument("b", metavar="B")
    df.add_argument("--json", action="store_true")

    xp = sub.add_parser("export", help="write a profile as OCI/Docker JSON, systemd unit lines or a k8s manifest")
    xp.add_argument("profile", metavar="NAME|PATH")
    xp.add_argument("--format", required=True, choices=["oci", "systemd", "k8s", "kubelet", "toml"])
    xp.add_argument("--name", help="Kubernetes object name (default: the profile name)")
    xp.add_argument("--namespace", help="Kubernetes namespace")
    xp.add_argument("--systemd-version", type=_release, metavar="N", help="the oldest systemd the unit runs on "
                    "(default: this host's, else 257); >= 251 lets clone3 get ENOSYS through RestrictNamespaces=yes "
                    "when the profile refuses every namespace operation")
    xp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    im = sub.add_parser("import", help="convert OCI/Docker seccomp JSON into a sysfence TOML profile")
    im.add_argument("file", metavar="FILE.json")
    im.add_argument("-o", "--output", metavar="FILE.toml", help="write to FILE instead of stdout")
    im.add_argument("--linux-caps", metavar="CAP,...", help="Linux capabilities for Docker includes/excludes "
                    "(default: Docker's default container set, without CAP_SYS_ADMIN)")
    im.add_argument("--kernel", metavar="VERSION", help="kernel version for minKernel (default: running kernel)")

    tr = sub.add_parser("trace", help="run COMMAND and report every call the profile refuses (user notification)",
                        description="Run COMMAND with every call the profile would refuse sent to this process, "
                        "which answers with the profile's verdict (or lets it run with --audit) and reports each "
                        "call. Not a security boundary. Exit status is COMMAND's.")
    tr.add_argument("--profile", default="default", metavar="NAME|PATH")
    tr.add_argument("--audit", action="store_true", help="let refused calls run, to see everything a program needs")
    tr.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    tr.add_argument("-o", "--output", metavar="REPORT.json", help="also write the JSON report to a file")
    tr.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")
    ln = sub.add_parser("learn", help="run COMMAND and write a minimal profile for what it did",
                        description="Run COMMAND under a small base (runtime, stdio, memory) with every other call "
                        "recorded and let through, then write a profile that allows what it used.")
    ln.add_argument("-o", "--output", metavar="PROFILE.toml", help="write here instead of stdout")
    ln.add_argument("--base", metavar="NAME|PATH", help="start from this profile instead (the output extends it)")
    ln.add_argument("--merge", metavar="EXISTING.toml", help="add what an earlier learned profile allows")
    ln.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")

    ins = sub.add_parser("install", help="validate a TOML profile and install it in the system store (root)",
                         description="Validate (parse and compile) a TOML profile, then write it root:root 0644 "
                         "into the store's profile directory atomically. Store profiles shadow built-ins.")
    ins.add_argument("file", metavar="PROFILE.toml")
    ins.add_argument("--name", help="store name (default: the file name without .toml)")
    un = sub.add_parser("uninstall", help="remove a profile from the system store (root)")
    un.add_argument("name")
    un.add_argument("--force", action="store_true", help="remove it even if policy.toml names it")
    ls = sub.add_parser("list", help="built-in and installed profiles, where each comes from, and the policy")
    ls.add_argument("--json", action="store_true")

    ck = sub.add_parser("check", help="validate a profile (parse and compile; load nothing)")
    ck.add_argument("profile", metavar="NAME|PATH")
    ck.add_argument("--verify", action="store_true", help="also run the compiled program in the BPF emulator "
                    "for every syscall number, x32 and foreign arches and argument edge values, and compare "
                    "each decision with the rules (exit 1 on a disagreement)")
    ck.add_argument("--json", action="store_true")

    mf = sub.add_parser("manifest", help="the capabilities imported modules declare (run a Python program, or "
                        "import --module M)", description="Run a Python program (its output flows through) or "
                        "import modules in a child interpreter, then list each imported module's declared "
                        "capabilities (__sysfence__, sysfence.toml, sysfence.declare()), their union, and "
                        "the modules without a declaration. Exit status is the program's.")
    mf.add_argument("--module", action="append", default=[], metavar="MODULE", help="import MODULE (repeatable)")
    mf.add_argument("--json", action="store_true")
    mf.add_argument("command", nargs=argparse.REMAINDER, metavar="-- python SCRIPT|-m MODULE [ARG...]")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {
        "run": _run, "status": _status, "show": _show, "explain": _explain, "diff": _diff,
        "export": _export, "import": _import, "check": _check, "install": _install,
        "trace": _trace, "learn": _learn, "uninstall": _uninstall,
        "list": _list, "manifest": _manifest,
    }[args.cmd]
    try:
        return handler(args)
    except SysfenceError as exc:
        _err(f"error: {exc}")
        return EXIT_FAILURE if args.cmd in ("run", "trace", "learn") else 1
    except BrokenPipeError:
        return 1


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps({"schema_version": SCHEMA_VERSION, **data}, indent=2))


def _write(text: str, path: str | None) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        raise SysfenceError(f"{path}: cannot write: {exc.strerror}") from None


# ------------------------------------------------------------------ run / status


def _run(args: argparse.Namespace) -> int:
    from . import policy
    from .enforce import State, apply
    from .errors import LibseccompMissing

    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        _err("error: run needs a command: sysfence run [options] -- COMMAND [ARG...]")
        return 2
    try:
        flags = policy.Settings(
            "command line", args.profile, f"--profile {args.profile}" if args.profile else "",
            policy.overrides("command line", args.cap, args.allow, args.deny, args.action),
            True if args.required else None, "--required", "--no-filter" if args.no_filter else "",
            profile_key="--profile",
        )
    except LibseccompMissing as exc:  # the flags' syscall names are checked against libseccomp's table
        if args.required or policy.env_controls().required:
            _err(f"error: seccomp enforcement required but unavailable: {exc}")
            return EXIT_FAILURE
        _err(f"warning: {exc}; running {cmd[0]} WITHOUT a seccomp filter (use --required to refuse)")
        return exec_command(cmd)
    except SysfenceError as exc:
        _err(f"error: {exc}")
        return 2
    pol = policy.system()
    layers = [policy.BUILTIN, pol.settings, policy.project(), policy.environment(), flags]
    st = apply([s for s in layers if s is not None], pol.mandatory, "run", need=("execve",))
    if st.state is State.UNAVAILABLE:
        _err(f"warning: {st.reason}; running {cmd[0]} WITHOUT a seccomp filter (use --required to refuse)")
    if st.state is State.ENFORCING:
        policy.consume_env()  # COMMAND inherits the filter; its own start-up hook must not stack it again
    return exec_command(cmd)


def _status(args: argparse.Namespace) -> int:
    from . import _libseccomp, host, kernel, syscalls
    from .enforce import status
    from .errors import LibseccompMissing

    st = status()
    data: dict[str, Any] = {"platform": sys.platform}
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
            "available": True, "version": info.version, "api_level": info.api_level, "path": info.path,
            "names_beyond_profile_table": host.names_beyond_profile_table(),
        }
    except LibseccompMissing as exc:
        data["libseccomp"] = {"available": False, "error": str(exc)}
    data["getrandom_bypasses_filters"] = host.getrandom_bypasses_filters() if unsupported is None else None
    if unsupported is None:
        proc = kernel.proc_state()
        mode = {0: "disabled", 1: "strict", 2: "filter"}.get(proc.seccomp_mode, str(proc.seccomp_mode))
        data["process"] = {"seccomp": mode, "filters": proc.filters, "no_new_privs": proc.no_new_privs}
    data["state"] = st.state.value
    data["reason"] = st.reason
    data["configuration"] = _configuration()
    if args.json:
        _print_json(data)
        return 0
    k, lib = data["kernel"], data["libseccomp"]
    print(f"kernel:      {'seccomp filter supported' if k['seccomp_filter'] else k['reason']} (Linux {k['release']})")
    if k["actions_available"]:
        print(f"actions:     {' '.join(k['actions_available'])}")
    if lib["available"]:
        print(f"libseccomp:  {lib['version']} (API level {lib['api_level']}, {lib['path']})")
        newer = lib["names_beyond_profile_table"]
        if newer:
            table = syscalls.profile_table()[0]
            print(f"             knows {len(newer)} syscalls newer than the built-in profiles' table ({table}): "
                  f"{' '.join(newer)}; profiles that do not name them give them their unknown action (ENOSYS)")
    else:
        print(f"libseccomp:  missing: {lib['error']}")
    vdso = data["getrandom_bypasses_filters"]
    if vdso is not None:
        print("getrandom:   " + ("answered from the vDSO by the C library once used (vgetrandom): a filter that "
                                 "refuses getrandom lets those calls through until the kernel next reseeds "
                                 "(within about a minute), then refuses them too" if vdso else
                                 "a system call every filter sees"))
    if "process" in data:
        p = data["process"]
        print(f"this process: seccomp {p['seccomp']}, {p['filters']} filter(s), NoNewPrivs {int(p['no_new_privs'])}")
    c = data["configuration"]
    if "error" in c:
        print(f"configured:  error: {c['error']}")
    else:
        how = "disabled by " + c["disabled"] if c["disabled"] else f"profile {c['profile']!r} ({c['chosen_by']})"
        print(f"configured:  {how}; required: {'yes' if c['required'] else 'no'}; store: {c['store']}")
        if c["mandatory"]:
            m = c["mandatory"]
            print(f"mandatory:   {m['profile']!r} for {', '.join(m['applies_to'])} ({m['where']})")
    return 0


def _configuration() -> dict[str, Any]:
    """What `sysfence run` would apply here and why (nothing is loaded)."""
    from . import policy, store

    try:
        pol = policy.system()
        layers = [s for s in (policy.BUILTIN, pol.settings, policy.project(), policy.environment()) if s is not None]
        plan = policy.plan(layers, pol.mandatory, "run")
    except SysfenceError as exc:
        return {"error": str(exc)}
    m = pol.mandatory
    return {
        "profile": plan.profiles[-1].name, "chosen_by": plan.chosen_by, "required": plan.required,
        "disabled": plan.disabled, "store": store.root(),
        "layers": [s.where for s in layers],
        "mandatory": {"profile": m.profile, "applies_to": sorted(m.applies_to), "where": m.where,
                      "required": m.required} if m else None,
    }


# ------------------------------------------------------------------ show / explain / diff / check


def _summary(prof: Any) -> dict[str, Any]:
    from . import syscalls

    rs = prof.ruleset()
    table = syscalls.table()
    return {
        "profile": prof.name,
        "description": prof.description,
        "allowed": len([s for s in rs.allowed() if s in table]),
        "denied": len([s for s in rs.denied() if s in table]),
        "argument_rules": len(rs.conditional),
        "capabilities": prof.capabilities,
    }


def _show(args: argparse.Namespace) -> int:
    from . import capabilities
    from . import profile as _profile

    if args.capabilities:
        caps: list[dict[str, Any]] = [
            {"name": c.name, "description": c.description, "dangerous": c.dangerous, "syscalls": list(c.syscalls),
             "argument_rules": [_rule_json(r) for r in c.rules], "notes": c.notes, "includes": list(c.includes)}
            for c in capabilities.catalog().values()
        ]
        if args.json:
            _print_json({"capabilities": caps})
            return 0
        for c in caps:
            flag = " [DANGEROUS]" if c["dangerous"] else ""
            print(f"{c['name']}{flag}: {c['description']} ({len(c['syscalls'])} syscalls, "
                  f"{len(c['argument_rules'])} argument rules)")
            if c["notes"]:
                print(f"    note: {c['notes']}")
        return 0
    if args.bpf:
        if args.profile is None:
            _err("error: show --bpf needs a profile: sysfence show NAME|PATH --bpf")
            return 2
        return _show_bpf(_profile.load(args.profile), args.json)
    if args.profile is None:
        profiles = [_summary(_profile.load(n)) for n in _profile.builtin_names()]
        if args.json:
            _print_json({"profiles": profiles})
            return 0
        print("built-in profiles (sysfence show NAME for details; --capabilities for the catalog):")
        for p in profiles:
            print(f"  {p['profile']:<11} {p['allowed']:>3} allowed, {p['denied']:>3} denied, "
                  f"{p['argument_rules']:>2} argument rules: {p['description']}")
        return 0
    return _show_profile(_profile.load(args.profile), args.json)


def _show_bpf(prof: Any, as_json: bool) -> int:
    from . import bpf, compiler, syscalls

    comp = compiler.compile_ruleset(prof.ruleset())
    arch = syscalls.arch_name(comp.arch)
    lines = bpf.disassemble(comp.program, comp.arch)
    if as_json:
        _print_json({"profile": prof.name, "source": prof.source, "arch": arch,
                     "audit_arch": bpf.AUDIT_ARCH.get(comp.arch, hex(comp.arch)),
                     "instructions": comp.instructions, "program": comp.program.hex(), "disassembly": lines})
        return 0
    print(f"# profile {prof.name} ({prof.source}): {arch} ({bpf.AUDIT_ARCH.get(comp.arch, hex(comp.arch))}), "
          f"{comp.instructions} BPF instructions")
    print("# index  op    operands                       ; meaning (jt/jf/ja targets are instruction indexes)")
    for line in lines:
        print(line)
    return 0


def _rule_json(r: Any) -> dict[str, Any]:
    return {"syscall": r.syscall, "action": str(r.action), "when": [str(c) for c in r.conditions], "reason": r.reason}


def _show_profile(prof: Any, as_json: bool) -> int:
    from . import capabilities, syscalls

    rs = prof.ruleset()
    table = syscalls.table()
    arch = syscalls.arch_name(syscalls.native_arch())
    groups: dict[tuple[str, str], list[str]] = {}
    allowed_set = set(rs.allowed())
    for s, d in sorted(prof.decisions.items()):
        allowed = s in allowed_set
        key = ("allowed" if allowed else "denied", d.source if allowed or d.source != "default" else "default")
        groups.setdefault(key, []).append(s)
    out_groups: list[dict[str, Any]] = []
    for (verdict, source), names in sorted(groups.items()):
        present = [s for s in names if s in table]
        if source.startswith("capability:"):
            reason = capabilities.get(source.split(":", 1)[1], prof.source).description
        elif source == "default":
            reason = f"not granted by any capability of the profile -> {rs.default_action}"
        else:
            reason = prof.decisions[names[0]].reason
        actions = sorted({str(rs.decide(s)) for s in names})
        out_groups.append({"verdict": verdict, "source": source, "reason": reason, "actions": actions,
                           "count": len(present), "syscalls": names,
                           "not_on_arch": [s for s in names if s not in table]})
    summary = _summary(prof)
    unnamed = sorted(set(table) - set(rs.base))
    data = {
        **summary, "source": prof.source, "table": prof.table, "arch": arch,
        "default_action": str(rs.default_action), "unknown_action": str(rs.unknown_action),
        "dangerous_capabilities": prof.dangerous, "groups": out_groups,
        "argument_rules": [_rule_json(r) for r in rs.conditional], "unnamed": unnamed,
        "not_on_arch": prof.not_on_arch(),
    }
    if as_json:
        _print_json(data)
        return 0
    print(f"profile {prof.name}: {prof.description}")
    print(f"source: {prof.source}; table: {prof.table}; capabilities: {', '.join(prof.capabilities) or '-'}")
    print(f"on {arch}: {summary['allowed']} syscalls allowed, {summary['denied']} denied, "
          f"{summary['argument_rules']} argument rules; other known syscalls -> {rs.default_action}; "
          f"syscalls newer than the table -> {rs.unknown_action}")
    if prof.dangerous:
        print(f"DANGEROUS capabilities granted: {', '.join(prof.dangerous)}")
    for want in ("allowed", "denied"):
        print(f"\n{want.upper()}")
        for g in out_groups:
            if g["verdict"] == want:
                extra = f" (not on {arch}: {', '.join(g['not_on_arch'])})" if g["not_on_arch"] else ""
                print(f"  {g['source']} [{'/'.join(g['actions'])}, {g['count']}]: {g['reason']}{extra}")
                print(f"    {' '.join(g['syscalls'])}")
    if rs.conditional:
        print("\nARGUMENT RULES")
        for r in rs.conditional:
            print(f"  {r.syscall}: {r.action} when {' and '.join(str(c) for c in r.conditions)}  # {r.reason}")
    if unnamed:
        print(f"\nNOT NAMED (newer than the profile's table) -> {rs.unknown_action}: {' '.join(unnamed)}")
    return 0


def _parse_args(specs: list[str]) -> tuple[int, ...]:
    args = [0] * 6
    for spec in specs:
        idx, sep, val = spec.partition("=")
        try:
            i, v = int(idx), int(val, 0)
        except ValueError:
            raise SysfenceError(f"--arg {spec!r}: expected N=VALUE with N in 0-5 (e.g. 1=0x5412)") from None
        if not sep or not 0 <= i <= 5 or not 0 <= v < 1 << 64:
            raise SysfenceError(f"--arg {spec!r}: expected N=VALUE with N in 0-5 and a 64-bit unsigned VALUE")
        args[i] = v
    return tuple(args)


def _explain(args: argparse.Namespace) -> int:
    from . import capabilities, syscalls
    from . import profile as _profile

    nr = syscalls.number(args.syscall)  # raises with a suggestion for unknown names
    argv = _parse_args(args.arg)
    caps = capabilities.catalog()
    granting = capabilities.granting(args.syscall)
    rules = [dict(_rule_json(r), capability=c.name) for c in caps.values() for r in c.rules
             if r.syscall == args.syscall]
    names = args.profile or _profile.builtin_names()
    decisions: list[dict[str, Any]] = []
    paths: list[list[str]] = []
    for name in names:
        prof = _profile.load(name)
        rs = prof.ruleset()
        d = prof.decisions.get(args.syscall)
        decision = rs.decide(args.syscall, argv)
        program, lines = _program_decision(rs, nr, argv, decision)
        paths.append(lines)
        decisions.append({"profile": prof.name, "decision": str(decision),
                          "source": d.source if d else "unknown",
                          "argument_rules": [_rule_json(r) for r in rs.conditional if r.syscall == args.syscall],
                          "program": program})
    data: dict[str, Any] = {"syscall": args.syscall, "number": nr, "args": [hex(a) for a in argv],
            "granted_by": granting, "dangerous": [c for c in granting if caps[c].dangerous],
            "capability_rules": rules, "profiles": decisions}
    if args.json:
        _print_json(data)
        return 0
    where = f"number {nr}" if nr is not None else "not on this architecture"
    print(f"{args.syscall} ({where}), args {', '.join(data['args'])}")
    print(f"granted by capabilities: {', '.join(granting) or 'none'}"
          + (f" (dangerous: {', '.join(data['dangerous'])})" if data["dangerous"] else ""))
    for r in rules:
        print(f"  {r['capability']}: {r['action']} when {' and '.join(r['when'])}  # {r['reason']}")
    for row, lines in zip(decisions, paths, strict=True):
        prog = row["program"]
        if "error" in prog:
            compiled = f"compiled program: {prog['error']}"
        else:
            compiled = f"compiled program: {prog['decision']} after {len(prog['path'])} instructions"
            if not prog["agrees"]:
                compiled += " -- DISAGREES WITH THE RULES"
        print(f"  profile {row['profile']}: {row['decision']} ({row['source']}); {compiled}")
        if args.path:
            for line in lines:
                print(f"      {line}")
    return 0


def _program_decision(rs: Any, nr: int | None, argv: tuple[int, ...], decision: Any) -> tuple[dict[str, Any],
                                                                                           list[str]]:
    """What the compiled program returns for the call (emulated), and the disassembled instructions taken."""
    from . import bpf, compiler
    from .errors import LibseccompMissing

    if nr is None:
        return {"error": "no number on this architecture"}, []
    try:
        comp = compiler.compile_ruleset(rs)
    except LibseccompMissing as exc:
        return {"error": f"not compiled: {exc}"}, []
    res = bpf.evaluate(comp.program, comp.arch, nr, argv)
    lines = bpf.disassemble_lines(comp.program, comp.arch)
    return ({"decision": res.action, "ret": hex(res.ret), "agrees": res.ret == compiler.encode(decision),
             "path": list(res.path)}, [str(lines[i]) for i in res.path])


def _diff(args: argparse.Namespace) -> int:
    from . import profile as _profile
    from . import syscalls

    a, b = _profile.load(args.a).ruleset(), _profile.load(args.b).ruleset()
    changes = []
    for s in sorted(syscalls.table()):  # names that do not exist here cannot differ in effect
        da, db = a.decide(s), b.decide(s)
        ra = sorted(str(r.conditions) + str(r.action) for r in a.conditional if r.syscall == s)
        rb = sorted(str(r.conditions) + str(r.action) for r in b.conditional if r.syscall == s)
        if da != db or ra != rb:
            changes.append({"syscall": s, "a": str(da), "b": str(db),
                            "a_rules": [_rule_json(r) for r in a.conditional if r.syscall == s],
                            "b_rules": [_rule_json(r) for r in b.conditional if r.syscall == s]})
    if args.json:
        _print_json({"a": args.a, "b": args.b, "changes": changes})
        return 0
    if not changes:
        print(f"{args.a} and {args.b} decide every syscall the same way")
        return 0
    for c in changes:
        extra = " (argument rules differ)" if c["a"] == c["b"] else ""
        print(f"{c['syscall']:<24} {c['a']:<18} -> {c['b']}{extra}")
    print(f"{len(changes)} syscalls differ")
    return 0


def _check(args: argparse.Namespace) -> int:
    from . import compiler
    from . import profile as _profile
    from .errors import LibseccompMissing

    prof = _profile.load(args.profile)
    rs = prof.ruleset()
    comp = None
    try:
        comp = compiler.compile_ruleset(rs)
    except LibseccompMissing:
        if args.verify:
            raise  # there is no program to verify
        # validated; compiling needs libseccomp
    instructions = comp.instructions if comp is not None else None
    data: dict[str, Any] = {**_summary(prof), "source": prof.source, "instructions": instructions,
                            "not_on_arch": prof.not_on_arch(), "dangerous_capabilities": prof.dangerous}
    failure = ""
    if args.verify and comp is not None:
        from . import bpf

        v = bpf.verify(comp.program, rs, comp.arch)
        data["verification"] = {
            "ok": v.ok, "cases": v.total, "syscall_numbers": v.native, "x32_numbers": v.x32,
            "foreign_arch_calls": v.foreign, "argument_vectors": v.edges,
            "syscalls_with_argument_rules": v.syscalls_with_rules, "disagreements": [str(w) for w in v.wrong],
        }
        if v.wrong:
            failure = (f"{prof.source}: profile {prof.name!r}: the compiled program disagrees with the rules on "
                       f"{v.wrong[0]} ({len(v.wrong)} of {v.total} cases)")
        verified = f"verified: the compiled program decides like the rules in {v.summary()}"
    if args.json:
        _print_json(data)
        if failure:
            _err(f"error: {failure}")
            return 1
        return 0
    if failure:
        raise SysfenceError(failure)
    print(f"ok: {prof.source}: profile {prof.name!r}: {data['allowed']} allowed, {data['denied']} denied, "
          f"{data['argument_rules']} argument rules" + (f", {instructions} BPF instructions" if instructions else ""))
    if data["not_on_arch"]:
        print(f"note: not on this architecture (their calls cannot happen here): {', '.join(data['not_on_arch'])}")
    if prof.dangerous:
        print(f"warning: grants dangerous capabilities: {', '.join(prof.dangerous)}")
    if "verification" in data:
        print(verified)
    return 0


# ------------------------------------------------------------------ trace / learn


def _command(args: argparse.Namespace) -> list[str] | None:
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        _err(f"error: {args.cmd} needs a command: sysfence {args.cmd} [options] -- COMMAND [ARG...]")
        return None
    return list(cmd)


def _traced(rs: Any, cmd: list[str], mode: str) -> Any:
    from . import trace

    trace.check_supported()
    try:
        return trace.supervise(rs, cmd, mode)
    except FileNotFoundError:
        _err(f"error: {cmd[0]}: command not found")
        return None


def _trace(args: argparse.Namespace) -> int:
    from . import profile as _profile

    cmd = _command(args)
    if cmd is None:
        return 2
    rs = _profile.load(args.profile).ruleset()
    report = _traced(rs, cmd, "audit" if args.audit else "trace")
    if report is None:
        return EXIT_NOTFOUND
    sys.stderr.write(report.table())
    data = {"schema_version": SCHEMA_VERSION, **report.to_json()}
    if args.output:
        _write(json.dumps(data, indent=2) + "\n", args.output)
    if args.json:
        print(json.dumps(data, indent=2))
    return int(report.exit_status)


def _learn(args: argparse.Namespace) -> int:
    from . import learn

    cmd = _command(args)
    if cmd is None:
        return 2
    previous = learn.read_previous(args.merge) if args.merge else None
    base = learn.base_profile(args.base)
    report = _traced(base.ruleset(), cmd, "learn")
    if report is None:
        return EXIT_NOTFOUND
    seen, unknown = learn.observed_from(report)
    text = learn.render(learn.infer(seen, unknown, base), cmd, args.base, previous)
    _write(text, args.output)
    _err(f"learned {len(seen)} syscalls beyond the base from {report.notifications} calls "
         f"({report.seconds:.2f} s); exit status {report.exit_status}"
         + (f"; wrote {args.output}" if args.output else ""))
    return int(report.exit_status)


# ------------------------------------------------------------------ store


def _install(args: argparse.Namespace) -> int:
    import tomllib

    from . import compiler, store
    from . import profile as _profile
    from .errors import LibseccompMissing

    name = store.check_name(args.name or os.path.basename(args.file).removesuffix(".toml"), "--name")
    if not args.file.endswith(".toml"):
        raise SysfenceError(f"{args.file}: install takes a TOML profile (convert OCI JSON with sysfence import)")
    data = _profile.read_file(args.file)
    prof = _profile.parse(data, args.file)
    parent = tomllib.loads(data.decode()).get("extends", "")
    if _profile.is_path(parent) and not os.path.isabs(parent):
        raise SysfenceError(f"{args.file}: extends = {parent!r}: a relative path would mean another file once "
                            "installed; install that profile too and extend it by name")
    try:
        instructions = compiler.compile_ruleset(prof.ruleset()).instructions
    except LibseccompMissing:
        instructions = 0
    path = store.install(data, name)
    shadows = " (shadows the built-in profile of that name)" if name in _profile.builtin_names() else ""
    size = f", {instructions} BPF instructions" if instructions else ""
    print(f"installed {path}: profile {name!r}{shadows}{size}")
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    from . import policy, store

    if not args.force:
        try:
            pol = policy.system()
        except SysfenceError:
            pol = None  # a broken policy cannot depend on anything; removing is how it gets repaired
        uses = []
        if pol is not None and pol.mandatory is not None and pol.mandatory.profile == args.name:
            uses.append(pol.mandatory.where)
        if pol is not None and pol.settings.profile == args.name:
            uses.append(f"{store.policy_path()}: profile = {args.name!r}")
        if uses:
            raise SysfenceError(f"{uses[0]} names profile {args.name!r}: removing it would make that policy fail; "
                                "change the policy first (or use --force)")
    print(f"removed {store.uninstall(args.name)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from . import policy, store
    from . import profile as _profile

    installed = store.entries()
    names = {e.name for e in installed if not e.problem}
    rows: list[dict[str, Any]] = []
    for n in _profile.builtin_names():
        rows.append({"name": n, "source": "built-in", "path": f"<builtin:{n}>", "shadowed": n in names,
                     "problem": ""})
    for e in installed:
        rows.append({"name": e.name, "source": "store", "path": e.path,
                     "shadowed": False, "problem": e.problem})
    try:
        pol = policy.system()
        m = pol.mandatory
        pol_data: dict[str, Any] = {
            "path": store.policy_path(), "profile": pol.settings.profile, "required": pol.settings.required,
            "mandatory": {"profile": m.profile, "applies_to": sorted(m.applies_to)} if m else None}
    except SysfenceError as exc:
        pol_data = {"path": store.policy_path(), "error": str(exc)}
    refused = any(r["problem"] for r in rows) or "error" in pol_data
    if args.json:
        _print_json({"store": store.root(), "profiles": rows, "policy": pol_data})
        return 1 if refused else 0
    for r in rows:
        note = " (shadowed by the store)" if r["shadowed"] else ""
        note += f"  REFUSED: {r['problem']}" if r["problem"] else ""
        print(f"{r['name']:<16} {r['source']:<9} {r['path']}{note}")
    if "error" in pol_data:
        print(f"policy: REFUSED: {pol_data['error']}")
    elif pol_data["mandatory"]:
        md = pol_data["mandatory"]
        print(f"policy: {pol_data['path']}: mandatory profile {md['profile']!r} for {', '.join(md['applies_to'])}")
    return 1 if refused else 0


# ------------------------------------------------------------------ export / import


def _export(args: argparse.Namespace) -> int:
    from . import profile as _profile

    prof = _profile.load(args.profile)
    rs = prof.ruleset()
    if args.format == "oci":
        from .formats import oci

        text = json.dumps(oci.export_oci(rs), indent=2) + "\n"
    elif args.format == "systemd":
        from .formats import systemd

        text = systemd.export_systemd(rs, systemd_version=args.systemd_version)
        if args.systemd_version is None:
            t = systemd.target()
            _err(f"note: written for systemd {t.version} ({t.why}); give --systemd-version N, the oldest systemd "
                 "the unit will run on, when that is older")
    elif args.format == "k8s":
        from .formats import k8s

        try:
            text = k8s.export_k8s(rs, args.name or rs.name, args.namespace)
        except ValueError as exc:
            _err(f"error: {exc} (choose a valid Kubernetes name with --name)")
            return 2
    elif args.format == "kubelet":
        from .formats import k8s

        text = k8s.export_kubelet_json(rs)
    else:
        from .formats import toml

        text = toml.dump(rs, f"exported from {prof.source} by sysfence {__version__}")
    _write(text, args.output)
    return 0


def _import(args: argparse.Namespace) -> int:
    from .formats import oci, toml
    from .profile import read_file

    data = read_file(args.file)
    caps = None
    if args.linux_caps is not None:
        caps = frozenset(c.strip().upper() for c in args.linux_caps.split(",") if c.strip())
    imported = oci.read_oci(data, args.file, capabilities=caps, kernel_version=args.kernel)
    for note in imported.notes:
        _err(f"note: {note}")
    _write(toml.dump(imported.ruleset, f"imported from {args.file} by sysfence {__version__}"), args.output)
    return 0


def _manifest(args: argparse.Namespace) -> int:
    from .declarations import manifest, render  # not `from . import declare`: the package exports the function

    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if bool(cmd) == bool(args.module):
        _err("error: manifest needs either --module M... or a program: sysfence manifest -- python app.py")
        return 2
    rep, status = manifest(cmd, args.module)
    sys.stdout.flush()
    if args.json:
        _print_json(rep)
    else:
        sys.stdout.write(render(rep))
    return status or (1 if rep["errors"] else 0)
