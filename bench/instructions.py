"""BPF program length of each filter, and instructions executed for each benchmarked syscall.

    python bench/instructions.py [--quick] [--json]

Complements bench/syscall_cost.py with numbers that do not depend on the machine: the same modes and the same
calls with the arguments syscalls.c passes, run through sysfence's emulator (sysfence.bpf). "cached" marks a
call the kernel's allow cache covers (the path reads only nr/arch and returns ALLOW: no BPF runs at all).
--quick changes nothing (emulation takes well under a second); it is accepted for bench/run.py.

Also imported by bench/run.py: measure(quick) -> dict, render(result) -> list[str].
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import syscall_cost  # noqa: E402

from sysfence import bpf, compiler, profile, syscalls  # noqa: E402

SCHEMA_VERSION = 1


def measure(quick: bool = False) -> dict[str, Any]:
    """Program lengths and per-syscall executed counts; `quick` is ignored (this is already fast)."""
    arch = syscalls.native_arch()
    rs = syscall_cost.rulesets()
    progs = {m: p for m, p in syscall_cost.programs(rs).items() if p is not None}
    lengths = {m: len(p) // 8 for m, p in progs.items()}
    builtin = {n: compiler.compile_ruleset(profile.load(n).ruleset()).instructions for n in profile.builtin_names()}
    calls: dict[str, tuple[int, ...]] = {}
    for pair in syscall_cost.CALLS.values():
        for name, args in pair:
            calls.setdefault(name, args + (0,) * (6 - len(args)))
    executed: dict[str, dict[str, dict[str, Any]]] = {}
    for m, p in progs.items():
        insns = bpf.decode(p)
        executed[m] = {}
        for name, args in calls.items():
            nr = syscalls.number(name)
            assert nr is not None
            ret, path = bpf.trace(insns, bpf.seccomp_data(arch, nr, args))
            executed[m][name] = {"executed": len(path), "verdict": bpf.describe_ret(ret),
                                 "allow_cache": syscall_cost.const_allow(p, nr, arch)}
    return {
        "schema_version": SCHEMA_VERSION,
        "arch": syscalls.arch_name(arch),
        "program_instructions": lengths,
        "builtin_profile_instructions": builtin,
        "docker_linear_syscalls": len(syscall_cost.docker_syscalls(rs["default"])),
        "modes": list(progs),
        "calls": {n: [f"{a:#x}" for a in args] for n, args in calls.items()},
        "executed": executed,
        "goals": [],  # the issue sets no goal here: the counts explain the per-syscall costs
    }


def render(result: dict[str, Any]) -> list[str]:
    """Rows: syscalls; columns: modes; cells: instructions executed and verdict."""
    modes, ex = result["modes"], result["executed"]
    w0, w = 14, 22
    lines = [f"BPF instructions executed per syscall ({result['arch']}, sysfence.bpf emulator, "
             "arguments as in syscalls.c)",
             f"{'syscall':<{w0}}" + "".join(f"{m:>{w}}" for m in modes)]
    for name in result["calls"]:
        cells = []
        for m in modes:
            e = ex[m][name]
            cells.append(f"{e['executed']} {e['verdict']}{' c' if e['allow_cache'] else '  '}".rjust(w))
        lines.append(f"{name:<{w0}}" + "".join(cells))
    lines.append(f"{'program length':<{w0}}" + "".join(f"{result['program_instructions'][m]:>{w - 2}}  "
                                                       for m in modes))
    lines.append("c = allow cache applies (path reads only nr/arch and returns ALLOW: the kernel skips the filter)")
    lines.append("built-in profiles, program length: "
                 + ", ".join(f"{n} {k}" for n, k in result["builtin_profile_instructions"].items())
                 + f"; docker-linear allows {result['docker_linear_syscalls']} syscalls")
    return lines


if __name__ == "__main__":
    import section

    sys.exit(section.main(measure, render, (__doc__ or "").splitlines()[0]))
