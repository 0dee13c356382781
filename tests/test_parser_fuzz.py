"""Fuzzing the TOML profile parser: whatever the bytes, `profile.parse` returns a Profile or raises
ProfileError whose message is one line starting with the source name -- never another exception.

Four generators: arbitrary bytes, arbitrary text, TOML-like token soup, and documents built from the
schema's keys with right and wrong values (SCHEMA below: one strategy per top-level key, easy to extend).
Inputs that once escaped as other exceptions are pinned with @example.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
import tomllib
from typing import Any

import pytest
from conftest import child_env
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sysfence import capabilities, profile, syscalls
from sysfence.errors import ProfileError

SOURCE = "/nonexistent-sysfence-fuzz/profile.toml"  # relative `extends` resolve next to it: nothing there
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> profile.Profile | None:
    """The property. Returns the Profile when parse accepted the data."""
    try:
        result = profile.parse(data, SOURCE)
    except RecursionError:  # re-raised short: pytest would render a thousand frames
        raise AssertionError("RecursionError escaped from profile.parse") from None
    except ProfileError as exc:
        msg = str(exc)
        assert len(msg.splitlines()) == 1 and msg.strip(), f"not one line: {msg!r}"
        assert msg.startswith(SOURCE), f"does not start with the source: {msg!r}"
        return None
    assert isinstance(result, profile.Profile)
    return result


# ------------------------------------------------------------------ raw input

DEEP_ARRAY = b"x = " + b"[" * 1000
DEEP_TABLE = "x = " + "{a = " * 1000


@FUZZ
@given(st.binary(max_size=2000))
@example(DEEP_ARRAY)  # RecursionError from tomllib
@example(b"\xff\xfe")
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.text(max_size=2000))
@example(DEEP_TABLE)  # RecursionError from tomllib
def test_arbitrary_text(text: str) -> None:
    check(text.encode("utf-8", "surrogatepass"))


TOKENS = [
    "\n", " ", "=", ",", ".", "[", "]", "{", "}", "[[rule]]", "[action]", '"', "'", "#", "\\", "\\u0000", "\\n",
    "allow", "deny", "rule", "when", "extends", "capabilities", "action", "default_action", "default_errno",
    "unknown_errno", "name", "syscall", "arg", "op", "value", "mask", "errno", "syscalls", "reason",
    '"read"', '"ioctl"', '"clone"', '"clone3"', '"ptrace"', '"default"', '"strict"', '"stdio"', '"runtime"',
    '"eq"', '"ne"', '"masked_eq"', '"allow"', '"errno"', '"kill-process"', '"log"', '"EPERM"', '"ENOSYS"',
    "0", "1", "5", "6", "-1", "0x5412", "0xffffffff", "0xffffffffffffffff", "18446744073709551616", "1.5",
    "true", "inf", "nan", "1979-05-27",
]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
@example('allow = ["ioctl"]\n[[rule]]\nsyscall = "ioctl"\naction = "errno"\nwhen = [{arg = 0, op = "eq", value = 1}]\n'
         '[[rule]]\nsyscall = "ioctl"\naction = "errno"\nwhen = [{arg = 0, op = "ne", value = 2}]\n')  # TypeError
@example('[action]\n"a\\nb" = "allow"\n')  # message split over two lines
def test_toml_token_soup(text: str) -> None:
    check(text.encode())


# ------------------------------------------------------------------ documents from the schema


def toml_string(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else toml_string(k)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_document(doc: dict[str, Any]) -> str:
    """Every top-level key as `key = inline value`: arrays of inline tables parse like [[rule]] sections."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


scalars = st.one_of(
    st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=12),
)
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def sometimes(other: st.SearchStrategy[Any], usual: st.SearchStrategy[Any], n: int) -> st.SearchStrategy[Any]:
    """`other` about once in `n` draws, else `usual` (st.one_of would merge repeated branches)."""
    return st.integers(0, n - 1).flatmap(lambda i: other if i == n - 1 else usual)


def wrong_or(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly well-typed values, sometimes anything at all."""
    return sometimes(anything, good, 6)


def tables(**keys: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Tables with any subset of `keys` (each maybe wrong) and sometimes a key the schema does not have."""
    known = st.fixed_dictionaries({}, optional={k: wrong_or(v) for k, v in keys.items()})
    unknown = st.dictionaries(st.sampled_from(["nmae", "syscal", "x", "Allow", ""]), anything, max_size=1)
    return sometimes(st.tuples(known, unknown).map(lambda t: {**t[0], **t[1]}), known, 6)


SYSCALL_NAMES = sorted(syscalls.table())
names = sometimes(
    st.one_of(
        st.sampled_from(["ptrase", "READ", " read", "statmount", "vm86", "clone3", "uretprobe", "", "open\x00"]),
        st.text(max_size=10),
    ),
    st.sampled_from(SYSCALL_NAMES),
    5,
)
errnos = st.one_of(
    st.sampled_from(["EPERM", "EACCES", "ENOSYS", "ENOTSUP", "EPREM", "errorcode", "E", "eperm", "EWOULDBLOCK"]),
    st.integers(-2, 4100),
)
actions = st.sampled_from(["allow", "errno", "kill-process", "kill-thread", "trap", "log", "kill", "deny", "Errno"])
ops = st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge", "masked_eq", "==", "MASKED_EQ"])
numbers = st.one_of(
    st.integers(0, 7), st.integers(0, 2**64 + 1), st.integers(-(2**70), 2**70),
    st.sampled_from([0x5412, 0xFFFFFFFF, 0x7E020000, 2**64 - 1, 2**64, -1]),
)
condition = tables(arg=st.integers(-1, 7), op=ops, value=numbers, mask=numbers)
rule = tables(
    syscall=names, action=actions, errno=errnos, reason=st.text(max_size=12),
    when=st.lists(wrong_or(condition), max_size=3),
)
deny_item = st.one_of(names, tables(syscalls=st.lists(names, max_size=3), errno=errnos, reason=st.text(max_size=8)))
action_spec = st.one_of(actions, errnos, tables(action=actions, errno=errnos))
capability_names = st.sampled_from(sorted(capabilities.catalog()) + ["nope", "Stdio", "", "io-uring"])
extends = st.one_of(
    st.sampled_from(profile.builtin_names() + ["/dev/null"]),
    st.sampled_from([
        "nope", "", "default.toml", "x.toml", "../x.toml", "sub/x.json", "/proc/self/status", "/nonexistent/x.toml",
        "/", "a\x00b.toml", "a\nb.toml",
    ]),
    st.text(max_size=10),
)

# One strategy per top-level key of the profile schema. Add keys here as the schema grows.
SCHEMA: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(max_size=10),
    "description": st.text(max_size=20),
    "table": st.sampled_from(["linux-6.7", "", "linux-9.9"]),
    "extends": extends,
    "capabilities": st.lists(capability_names, max_size=4),
    "allow": st.lists(names, max_size=5),
    "deny": st.lists(deny_item, max_size=3),
    "rule": st.lists(rule, max_size=3),
    "action": st.dictionaries(names, action_spec, max_size=3),
    "default_action": actions,
    "default_errno": errnos,
    "unknown_errno": errnos,
}


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(SCHEMA)), unique=True, max_size=6))
    doc = {k: draw(sometimes(anything, SCHEMA[k], 12)) for k in keys}
    if draw(st.integers(0, 9)) == 9:
        doc.update(draw(st.dictionaries(st.text(min_size=1, max_size=8), anything, min_size=1, max_size=2)))
    return doc


@FUZZ
@given(documents())
def test_toml_writer_round_trips(doc: dict[str, Any]) -> None:
    """The generator is only useful if the parser sees the intended document, not a TOML syntax error."""
    assert tomllib.loads(toml_document(doc)) == doc


@FUZZ
@given(documents())
@example({"extends": "a\x00b.toml"})  # ValueError: embedded null byte (open)
@example({"extends": "a\nb.toml"})  # message split over two lines
@example({"allow": ["ioctl"], "rule": [
    {"syscall": "ioctl", "action": "errno", "when": [{"arg": 0, "op": "eq", "value": 1}]},
    {"syscall": "ioctl", "action": "errno", "when": [{"arg": 0, "op": "lt", "value": 2}]},
]})  # TypeError: '<' not supported between instances of 'Op' and 'Op'
def test_schema_documents(doc: dict[str, Any]) -> None:
    check(toml_document(doc).encode())


@FUZZ
@given(documents())
@example({"allow": ["ptrace\x00"]})  # libseccomp reads the name up to the NUL: the filter allows ptrace
def test_accepted_profiles_name_only_real_syscalls(doc: dict[str, Any]) -> None:
    """A name is checked by libseccomp through a C string; what parse accepts must be the name it checked."""
    prof = check(toml_document(doc).encode())
    if prof is not None:
        named = set(prof.decisions) | {r.syscall for r in prof.rules}
        assert all(re.fullmatch(r"[a-z0-9_]+", s) for s in named), sorted(s for s in named if "\x00" in s or " " in s)


def test_extends_of_an_endless_file_is_an_error_not_a_crash() -> None:
    """`extends = "/dev/zero"` must be refused, not read until memory runs out (child with 1 GiB address space)."""
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from sysfence import profile
        from sysfence.errors import ProfileError
        try:
            profile.parse(b'extends = "/dev/zero"\\n', {SOURCE!r})
        except ProfileError as exc:
            print("ProfileError", exc)
    """)
    res = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("ProfileError " + SOURCE), res.stdout + res.stderr[-500:]


@pytest.mark.parametrize("sep", list("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"))
def test_error_messages_stay_one_line_whatever_the_key(sep):
    """Found by hypothesis on an unprivileged run: a form feed in a key split the message in two."""
    doc = "[action]\n" + '"' + f"a{sep}b".encode("unicode_escape").decode() + '" = "allow"\n'
    with pytest.raises(ProfileError) as exc:
        profile.parse(doc.encode(), SOURCE)
    assert len(str(exc.value).splitlines()) == 1, str(exc.value)
