"""Per-syscall cost of seccomp filters: no filter, the smallest filter, the built-in profiles and a Docker-style
linear allowlist.

    python bench/syscall_cost.py [--quick] [--json]

bench/syscalls.c is compiled with gcc and run once per mode, pinned to one CPU; it loads the mode's BPF program
itself after exec (so profiles that deny execve run unmodified) and times raw syscall(2) calls, keeping the
best of several batches. Modes are interleaved over several rounds (order rotated) and the minimum is kept,
so a busy machine shifts every mode alike. Timings are reported, never asserted.

Also imported by bench/run.py: measure(quick) -> dict, render(result) -> list[str].
"""

from __future__ import annotations

import errno as _errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from sysfence import _libseccomp as lib  # noqa: E402
from sysfence import bpf, compiler, profile, syscalls  # noqa: E402
from sysfence.rules import RuleSet  # noqa: E402

SCHEMA_VERSION = 1
PROFILES = ("default", "strict", "read-only")
MODES = ("none", "smallest", *PROFILES, "docker-linear")
MODE_DOC = {
    "none": "no filter",
    "smallest": "libseccomp: arch check + allow all",
    "default": "built-in profile 'default'",
    "strict": "built-in profile 'strict'",
    "read-only": "built-in profile 'read-only'",
    "docker-linear": "libseccomp defaults, default's allowed syscalls as unconditional allows (Docker/runc style)",
}
# What syscalls.c calls, with the arguments it passes (pointers as placeholders: no filter reads them).
# Several entries = one timed call pair; the first syscall is the one whose errno is recorded.
AT_FDCWD = (-100) & 0xFFFFFFFFFFFFFFFF
_PTR = 0x7FFC0000
CALLS: dict[str, list[tuple[str, tuple[int, ...]]]] = {
    "getppid": [("getppid", ())],
    "read": [("read", (3, _PTR, 1))],  # 1 byte from /dev/zero
    "write": [("write", (4, _PTR, 1))],  # 1 byte to /dev/null
    "futex": [("futex", (_PTR, 1, 1, 0, 0, 0))],  # FUTEX_WAKE 1, no waiters
    "clock_gettime": [("clock_gettime", (1, _PTR))],  # CLOCK_MONOTONIC, not the vDSO
    "ioctl": [("ioctl", (4, 0x541B, _PTR))],  # FIONREAD on /dev/null (ENOTTY even unfiltered)
    "openat+close": [("openat", (AT_FDCWD, _PTR, 0, 0)), ("close", (5,))],  # /dev/null O_RDONLY
    "socket+close": [("socket", (1, 1, 0)), ("close", (5,))],  # AF_UNIX, SOCK_STREAM
}
HOT_LIMIT_NS = 3.0  # default vs smallest, unconditionally allowed calls
ARG_LIMIT_NS = 55.0  # any profile vs none, argument-checked calls


def rulesets() -> dict[str, RuleSet]:
    return {name: profile.load(name).ruleset() for name in PROFILES}


def docker_syscalls(default: RuleSet) -> list[str]:
    """Every syscall `default` allows for some arguments, that exists on this architecture."""
    return [s for s in default.allowed() if syscalls.number(s) is not None]


def programs(rs: dict[str, RuleSet] | None = None) -> dict[str, bytes | None]:
    """Each mode's BPF program (None for no filter)."""
    rs = rs or rulesets()
    out: dict[str, bytes | None] = {"none": None}
    with lib.Filter(lib.ACT_ALLOW) as f:
        f.set_attr(lib.ATTR_ACT_BADARCH, lib.ACT_KILL_PROCESS)
        out["smallest"] = f.export_bpf()
    for name in PROFILES:
        out[name] = compiler.compile_ruleset(rs[name]).program
    with lib.Filter(lib.ACT_ERRNO | _errno.EPERM) as f:  # seccomp_init(SCMP_ACT_ERRNO(EPERM)), nothing else
        for s in docker_syscalls(rs["default"]):
            f.add_rule(lib.ACT_ALLOW, syscalls.number(s) or 0, [])
        out["docker-linear"] = f.export_bpf()
    return out


_CACHE_OPS = {0x06, 0x05, 0x15, 0x25, 0x35, 0x45, 0x54}  # ret k, ja, jeq/jgt/jge/jset k, and k


def const_allow(program: bytes, nr: int, arch: int | None = None) -> bool:
    """Whether the kernel's seccomp allow cache covers `nr`: the same walk as seccomp_is_const_allow()
    (kernel/seccomp.c): the path loads only nr/arch, uses only those opcodes, and returns ALLOW."""
    arch = syscalls.native_arch() if arch is None else arch
    insns = bpf.decode(program)
    ret, path = bpf.trace(insns, bpf.seccomp_data(arch, nr))
    for pc in path:
        code, k = insns[pc].code, insns[pc].k
        if code == 0x20:  # ld w abs
            if k not in (0, 4):
                return False
        elif code not in _CACHE_OPS:
            return False
    return ret == bpf.RET_ALLOW


def arg_checked(rs: RuleSet, call: str) -> bool:
    """A call is argument-checked when the profile has conditional rules for any of its syscalls."""
    cond = {r.syscall for r in rs.conditional}
    return any(s in cond for s, _ in CALLS[call])


def _build(tmp: str) -> str:
    exe = os.path.join(tmp, "syscalls")
    subprocess.run(["gcc", "-O2", "-o", exe, str(HERE / "syscalls.c")], check=True)
    return exe


def measure(quick: bool = False) -> dict[str, Any]:
    """Run every mode `rounds` times, interleaved; keep the minimum ns/call."""
    rounds, batches, batch_us = (2, 3, 3000) if quick else (10, 5, 8000)
    cpu = max(os.sched_getaffinity(0))
    rs = rulesets()
    progs = programs(rs)
    best: dict[str, dict[str, float]] = {m: {} for m in MODES}
    errs: dict[str, dict[str, int]] = {m: {} for m in MODES}
    filters: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        exe = _build(tmp)
        paths = {}
        for m, prog in progs.items():
            paths[m] = "-"
            if prog is not None:
                paths[m] = os.path.join(tmp, f"{m}.bpf")
                Path(paths[m]).write_bytes(prog)
        for r in range(rounds):
            for m in MODES[r % len(MODES):] + MODES[: r % len(MODES)]:
                proc = subprocess.run([exe, paths[m], str(cpu), str(batch_us), str(batches)],
                                      capture_output=True, text=True)
                if proc.returncode:
                    raise RuntimeError(f"syscalls ({m}) exited with {proc.returncode}: {proc.stderr.strip()}")
                out = proc.stdout
                for line in out.splitlines():
                    f = line.split()
                    if f[0] == "filters":
                        filters[m] = int(f[1])
                        continue
                    best[m][f[0]] = min(best[m].get(f[0], 1e18), float(f[1]))
                    errs[m][f[0]] = int(f[2])
    calls = list(CALLS)

    def vs(base: str) -> dict[str, dict[str, dict[str, float]]]:
        return {m: {c: {"diff_ns": round(best[m][c] - best[base][c], 2), "ratio": round(best[m][c] / best[base][c], 3)}
                    for c in calls} for m in MODES}

    denied = {m: {c: _errno.errorcode.get(errs[m][c], str(errs[m][c]))
                  for c in calls if errs[m][c] != errs["none"][c]} for m in MODES}
    checked = {m: [c for c in calls if m in rs and arg_checked(rs[m], c)] for m in MODES}
    cacheable = {m: {c: all(const_allow(p, syscalls.number(s) or 0) for s, _ in CALLS[c]) for c in calls}
                 for m, p in progs.items() if p is not None}
    # Modes in which a call takes the very same kernel path as under smallest (allow cache, no BPF): their spread
    # is the noise floor of that call. default is left out so that its goal is not judged by its own numbers.
    same = {c: [m for m in MODES if m not in ("none", "default") and cacheable[m][c]] for c in calls}
    noise = {c: round(max(best[m][c] for m in same[c]) - min(best[m][c] for m in same[c]), 2) for c in calls}
    goals = []
    for c in calls:
        if not arg_checked(rs["default"], c) and not any(rs["default"].base[s].action.denies for s, _ in CALLS[c]):
            d, limit = best["default"][c] - best["smallest"][c], HOT_LIMIT_NS * len(CALLS[c])
            goals.append({"goal": "hot", "mode": "default", "call": c, "vs": "smallest", "diff_ns": round(d, 2),
                          "raw_diff_ns": round(d, 2), "limit_ns": limit, "met": d <= limit,
                          "cacheable": cacheable["default"][c], "noise_ns": noise[c]})
    for m in PROFILES:
        for c in checked[m]:
            if c in denied[m]:
                continue  # refused before doing the work: its time says nothing about the filter's overhead
            # Of a pair (openat+close) only the first syscall is checked; close runs the same cached path as
            # under smallest. So: the excess over smallest, plus one syscall's share of smallest's cost over none.
            raw = best[m][c] - best["none"][c]
            entry = (best["smallest"][c] - best["none"][c]) / len(CALLS[c])
            d = best[m][c] - best["smallest"][c] + entry
            goals.append({"goal": "argument-checked", "mode": m, "call": c, "vs": "none", "diff_ns": round(d, 2),
                          "raw_diff_ns": round(raw, 2), "limit_ns": ARG_LIMIT_NS, "met": d <= ARG_LIMIT_NS,
                          "cacheable": cacheable[m][c]})
    return {
        "schema_version": SCHEMA_VERSION,
        "unit": "ns/call",
        "params": {"quick": quick, "rounds": rounds, "batches": batches, "batch_us": batch_us, "cpu": cpu},
        "modes": list(MODES),
        "mode_info": {m: {"description": MODE_DOC[m], "instructions": len(p) // 8 if p else 0,
                          "filters_loaded": filters.get(m)} for m, p in progs.items()},
        "docker_linear_syscalls": len(docker_syscalls(rs["default"])),
        "calls": calls,
        "ns_per_call": best,
        "vs_none": vs("none"),
        "vs_smallest": vs("smallest"),
        "errno": {m: {c: _errno.errorcode.get(e, str(e)) if e else 0 for c, e in errs[m].items()} for m in MODES},
        "denied": denied,
        "arg_checked": checked,
        "allow_cache": cacheable,
        "noise_ns": noise,
        "goals": goals,
    }


def render(result: dict[str, Any]) -> list[str]:
    """One table: a row of ns/call per syscall and its differences to none and smallest, modes as columns."""
    modes, calls, ns = result["modes"], result["calls"], result["ns_per_call"]
    p = result["params"]
    goal_at = {(g["mode"], g["call"], g["vs"]): g for g in result["goals"]}
    w0, w = 14, 18
    lines = [f"Per-syscall cost, ns/call (best of {p['rounds']} rounds x {p['batches']} batches of "
             f"~{p['batch_us']} us, pinned to CPU {p['cpu']})",
             f"{'syscall':<{w0}}{'':<9}" + "".join(f"{m:>{w}}" for m in modes)]
    for c in calls:
        row = f"{c:<{w0}}{'ns':<9}"
        for m in modes:
            flag = ("*" if c in result["arg_checked"][m] else "") + ("!" if c in result["denied"][m] else "")
            row += f"{ns[m][c]:.1f}{flag:<2}".rjust(w)
        lines.append(row)
        for base in ("none", "smallest"):
            row = f"{'':<{w0}}{'vs ' + base:<9}"
            for m in modes:
                if m == base:
                    row += f"{'-':>{w}}"
                    continue
                v = result[f"vs_{base}"][m][c]
                g = goal_at.get((m, c, base))
                mark = "" if g is None else (" ok" if g["met"] else " MISS")
                row += f"{v['diff_ns']:+.1f} {v['ratio']:.2f}x{mark}".rjust(w)
            lines.append(row)
    info = result["mode_info"]
    lines.append("* argument-checked in that profile (conditional rules);  ! denied: "
                 + "; ".join(f"{m}: " + ", ".join(f"{c} {e}" for c, e in d.items())
                             for m, d in result["denied"].items() if d))
    lines.append("BPF instructions: " + ", ".join(f"{m} {info[m]['instructions']}" for m in modes if m != "none")
                 + f"; docker-linear = {result['docker_linear_syscalls']} syscalls default allows, "
                 "unconditional, libseccomp defaults (native arch only, no runc ENOSYS stub)")
    for kind, what in (("hot", f"unconditionally allowed under default: <= +{HOT_LIMIT_NS:g} ns per syscall "
                                "vs smallest (+6 for a pair)"),
                       ("argument-checked", f"argument-checked and allowed: <= +{ARG_LIMIT_NS:g} ns vs none; of a "
                                            "pair, the checked call's share: excess over smallest + half of "
                                            "smallest's cost over none")):
        gs = [g for g in result["goals"] if g["goal"] == kind]
        miss = [f"{g['mode']}/{g['call']} {g['diff_ns']:+.1f}" for g in gs if not g["met"]]
        lines.append(f"goal {kind} ({what}): {len(gs) - len(miss)}/{len(gs)} met"
                     + (f"; missed: {', '.join(miss)}" if miss else ""))
    for g in result["goals"]:
        if g["goal"] == "hot" and not g["met"]:
            spread = f"{g['noise_ns']:.1f} ns between modes that run the identical cached kernel path"
            why = (f"its path reads only nr/arch, so the kernel's allow cache applies and no BPF runs; noise: "
                   f"{spread}" if g["cacheable"] else
                   "its path reads more than nr/arch, so the kernel's allow cache cannot apply")
            lines.append(f"  note: default/{g['call']}: {why}")
    loaded = {m: i["filters_loaded"] for m, i in info.items()}
    if loaded.get("none") != 0 or any(v != 1 for m, v in loaded.items() if m != "none"):
        lines.append(f"  warning: Seccomp_filters seen by the timed process: {loaded} (expected 0 for none, else 1)")
    return lines


if __name__ == "__main__":
    import section

    sys.exit(section.main(measure, render, (__doc__ or "").splitlines()[0]))
