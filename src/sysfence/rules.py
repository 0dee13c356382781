"""The canonical in-memory form of a policy: frozen dataclasses that every input format converts to.

A RuleSet gives each syscall it knows one *base* rule (no conditions) and optionally *guards*: conditional
rules whose action is stricter than the base (e.g. allow ioctl, but EPERM when the request is TIOCSTI).
Syscalls the RuleSet never names get `unknown_action` -- ENOSYS by default, so that callers treat them as
"not implemented" and fall back to older calls the profile does know.
"""

from __future__ import annotations

import enum
import errno as _errno
from collections.abc import Iterable
from dataclasses import dataclass, field


class Op(enum.Enum):
    NE = "ne"
    LT = "lt"
    LE = "le"
    EQ = "eq"
    GE = "ge"
    GT = "gt"
    MASKED_EQ = "masked_eq"


class Kind(enum.Enum):
    ALLOW = "allow"
    ERRNO = "errno"
    KILL_PROCESS = "kill-process"
    KILL_THREAD = "kill-thread"
    TRAP = "trap"
    LOG = "log"


@dataclass(frozen=True, order=True)
class Action:
    kind: Kind
    errno: int = 0

    def __post_init__(self) -> None:
        if (self.kind is Kind.ERRNO) != (self.errno != 0) or not 0 <= self.errno <= 4095:
            raise ValueError(f"invalid action {self.kind.value} errno={self.errno}")

    @property
    def denies(self) -> bool:
        return self.kind not in (Kind.ALLOW, Kind.LOG)

    def __str__(self) -> str:
        if self.kind is Kind.ERRNO:
            return f"errno({_errno.errorcode.get(self.errno, str(self.errno))})"
        return str(self.kind.value)


_ALL = 0xFFFFFFFFFFFFFFFF
ALLOW = Action(Kind.ALLOW)
EPERM = Action(Kind.ERRNO, _errno.EPERM)
ENOSYS = Action(Kind.ERRNO, _errno.ENOSYS)
KILL_PROCESS = Action(Kind.KILL_PROCESS)


@dataclass(frozen=True, order=True)
class ArgCondition:
    """Argument `index` compared with `value` (after `& mask` for MASKED_EQ), on the full 64 bits.

    32-bit kernel arguments (ioctl request, flags, modes) must be compared with MASKED_EQ and a mask that
    covers only the low 32 bits: the kernel ignores the high half, a plain EQ would not.
    """

    index: int
    op: Op
    value: int
    mask: int = 0xFFFFFFFFFFFFFFFF

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 5:
            raise ValueError(f"argument index {self.index} out of range 0-5")
        for v in (self.value, self.mask):
            if not 0 <= v < 1 << 64:
                raise ValueError(f"argument value {v:#x} does not fit in 64 bits")

    def matches(self, arg: int) -> bool:
        a = arg & (self.mask if self.op is Op.MASKED_EQ else 0xFFFFFFFFFFFFFFFF)
        v = self.value
        return {
            Op.NE: a != v,
            Op.LT: a < v,
            Op.LE: a <= v,
            Op.EQ: a == v,
            Op.GE: a >= v,
            Op.GT: a > v,
            Op.MASKED_EQ: a == v,
        }[self.op]

    def __str__(self) -> str:
        if self.op is Op.MASKED_EQ:
            return f"arg{self.index} & {self.mask:#x} == {self.value:#x}"
        sym = {Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.EQ: "==", Op.GE: ">=", Op.GT: ">"}[self.op]
        return f"arg{self.index} {sym} {self.value:#x}"


@dataclass(frozen=True, order=True)
class Rule:
    """`syscall` gets `action` when all `conditions` hold (always, when there are none)."""

    syscall: str
    action: Action
    conditions: tuple[ArgCondition, ...] = ()
    group: str = field(default="", compare=False)
    reason: str = field(default="", compare=False)

    def matches(self, args: tuple[int, ...]) -> bool:
        return all(c.matches(args[c.index]) for c in self.conditions)

    def key(self) -> tuple[object, ...]:
        """A total order for canonical output (the enums themselves are not ordered)."""
        conds = tuple((c.index, c.op.value, c.value, c.mask) for c in self.conditions)
        return (self.syscall, self.action.kind.value, self.action.errno, conds)


@dataclass(frozen=True)
class RuleSet:
    """A complete, validated policy. Build with `RuleSet.build` so the invariants are checked once.

    Each syscall the set names has one unconditional `base` rule. `conditional` rules refine it in the
    opposite direction: guards deny some calls of an allowed syscall (ioctl TIOCSTI), permits allow some
    calls of a denied one (personality with harmless values). All conditional rules of one syscall share
    one action, so their order never matters.
    """

    name: str
    description: str
    base: dict[str, Rule]  # syscall -> unconditional rule
    conditional: tuple[Rule, ...]
    unknown_action: Action = ENOSYS
    table: str = ""
    default_action: Action = EPERM  # for `known` syscalls no rule mentions

    @classmethod
    def build(
        cls,
        name: str,
        description: str,
        rules: list[Rule],
        unknown_action: Action = ENOSYS,
        table: str = "",
        *,
        default_action: Action = EPERM,
        known: Iterable[str] = (),
    ) -> RuleSet:
        """`known` is the syscall table the policy was written against: every name in it that no rule
        mentions gets `default_action`; syscalls outside rules and table get `unknown_action`."""
        base: dict[str, Rule] = {s: Rule(s, default_action, (), "default", "not allowed by the profile") for s in known}
        cond: dict[str, list[Rule]] = {}
        for r in rules:
            if len(r.conditions) > 1 and any(c.op not in (Op.EQ, Op.MASKED_EQ) for c in r.conditions):
                raise ValueError(
                    f"rule for {r.syscall!r} combines several conditions with ne/lt/le/gt/ge: only eq and "
                    "masked_eq may be combined in one rule (libseccomp 2.5.x can miscompile or hang on the "
                    "others, GHSA-4q85-33p6-j5g6); split it into single-condition rules"
                )
            if r.conditions:
                cond.setdefault(r.syscall, []).append(r)
            else:
                base[r.syscall] = r  # later rules win: overlays are applied by appending
        kept: list[Rule] = []
        for syscall, rs in cond.items():
            b = base.get(syscall)
            if b is None:
                raise ValueError(
                    f"conditional rule for {syscall!r} needs an unconditional decision for its other calls"
                )
            if len({r.action for r in rs}) > 1:
                raise ValueError(f"conditional rules for {syscall!r} must all have the same action")
            if rs[0].action.denies == b.action.denies:
                if rs[0].action == b.action:
                    continue  # redundant: the base already decides the same way
                raise ValueError(
                    f"conditional rule for {syscall!r} ({rs[0].action}) must go the other way "
                    f"from its base decision ({b.action})"
                )
            kept.extend(rs)
        ordered = tuple(sorted(set(kept), key=Rule.key))
        return cls(name, description, base, ordered, unknown_action, table, default_action)

    @property
    def guards(self) -> tuple[Rule, ...]:
        """Conditional denies of allowed syscalls."""
        return tuple(r for r in self.conditional if r.action.denies)

    @property
    def permits(self) -> tuple[Rule, ...]:
        """Conditional allows of denied syscalls."""
        return tuple(r for r in self.conditional if not r.action.denies)

    def decide(self, syscall: str, args: tuple[int, ...] = (0,) * 6) -> Action:
        """The intended decision for one call: the reference the compiled filter is tested against."""
        b = self.base.get(syscall)
        if b is None:
            return self.unknown_action
        for r in self.conditional:
            if r.syscall == syscall and r.matches(args):
                return r.action
        return b.action

    def allowed(self) -> list[str]:
        """Syscalls allowed for at least some arguments."""
        return sorted(
            s for s, r in self.base.items() if not r.action.denies or any(p.syscall == s for p in self.permits)
        )

    def denied(self) -> list[str]:
        allowed = set(self.allowed())
        return sorted(s for s in self.base if s not in allowed)

    @property
    def rule_count(self) -> int:
        return len(self.base) + len(self.conditional)

    def loosens(self, active: RuleSet) -> list[str]:
        """Syscalls for which `self` would allow calls that `active` denies (stacking cannot honour that)."""
        problems = []
        if not self.unknown_action.denies and active.unknown_action.denies:
            problems.append(f"unknown syscalls ({self.unknown_action} vs {active.unknown_action})")

        def conds(rs: RuleSet, s: str, deny: bool) -> set[Rule]:
            return {r for r in rs.conditional if r.syscall == s and r.action.denies == deny}

        for s in self.allowed():
            theirs = active.base.get(s)
            if theirs is None:
                if active.unknown_action.denies:
                    problems.append(s)
                continue
            if theirs.action.denies:
                # allowed there only through permits: ours must be the same permits or fewer, and no base allow
                if not self.base[s].action.denies or not conds(self, s, False) <= conds(active, s, False):
                    problems.append(s)
            elif self.base[s].action.denies:
                # ours allows only through permits: none of them may reach a call their guards refuse
                if not all(_disjoint(p, g) for p in conds(self, s, False) for g in conds(active, s, True)):
                    problems.append(f"{s} (drops argument checks)")
            elif not conds(active, s, True) <= conds(self, s, True):
                problems.append(f"{s} (drops argument checks)")
        return problems


def _disjoint(a: Rule, b: Rule) -> bool:
    """True when no call can match both rules: some argument must equal incompatible values (conservative:
    False whenever that cannot be shown with eq/masked_eq conditions)."""
    eq = (Op.EQ, Op.MASKED_EQ)
    for c in a.conditions:
        for d in b.conditions:
            if c.index == d.index and c.op in eq and d.op in eq:
                mc = c.mask if c.op is Op.MASKED_EQ else _ALL
                md = d.mask if d.op is Op.MASKED_EQ else _ALL
                if (c.value ^ d.value) & mc & md:
                    return True
    return False
