"""Run a function in a sandboxed worker process: isolate(), @sandboxed, SandboxPool.

Workers are started by multiprocessing's "forkserver" (a clean single-threaded server process), so they never
inherit the caller's threads or locks, and the caller itself stays unfiltered. Each worker installs a SIGSYS
reporter, then loads the filter with `sysfence.enable(profile, required=True)` (fail closed: no filter, no
call) and only then receives functions to run. Functions, arguments, results and exceptions travel pickled
over a pipe; a function's exception is re-raised in the caller with the worker's traceback text attached as
a note and as its __cause__ (a `RemoteTraceback`).

Profiles: `capabilities=[...]` alone means exactly those capabilities on top of what the worker loop needs
(WORKER_CAPABILITIES); `profile=NAME|PATH|Profile` picks a profile (with `capabilities` granted on top when
both are given); neither means the built-in "strict" profile.

Kill actions. The kernel gives no handler a chance to run on SECCOMP_RET_KILL_*, so a worker could not say
which call killed it. The worker's copy of the profile therefore answers kill-process and kill-thread with
`trap` instead: the call is still never made, and the SIGSYS handler writes the syscall number to the result
pipe and ends the whole worker with _exit. The function cannot take that handler over: rt_sigaction on SIGSYS
is denied (EPERM) in every worker. A worker that dies of SIGSYS without saying which call (SIGSYS blocked,
a filter stacked by the function itself) still gives `SandboxViolation(syscall=None)`.

Trust: the worker may be compromised (that is what it is for), so nothing it sends may run code in the
unfiltered caller. Replies travel as plain strings and bytes; the result or exception inside is unpickled by
a restricted unpickler that only admits plain data (numbers, strings, bytes, containers, dates, decimals),
built-in and sysfence exceptions, and the types the caller lists in `allow_types=`. Anything else -- a
custom class, or a crafted pickle that names os.system -- becomes a SandboxError naming the type, with the
worker's message and traceback as text. Only list in `allow_types` classes whose unpickling runs no code you
would not run on attacker-chosen arguments.

Thread safety: isolate() may be called from any thread. A SandboxPool may be shared by threads: submit(),
map() and close() are safe to call concurrently; each worker is driven by one dispatcher thread of the pool.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import ctypes
import functools
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import struct
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar, cast

from .errors import SysfenceError
from .profile import Layer, Profile
from .rules import Action, ArgCondition, Kind, Op, Rule

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_PROFILE = "strict"
# what the worker loop needs besides the function: run and exit, read/write its pipe, allocate memory
WORKER_CAPABILITIES = ("runtime", "stdio", "memory")
_TRAP = Action(Kind.TRAP)
_KILLS = (Kind.KILL_PROCESS, Kind.KILL_THREAD)
_STOP_GRACE = 2.0  # seconds a worker gets to exit after its pipe is closed before it is killed
START_TIMEOUT = 60.0  # seconds a worker may take to import, load its filter and say ready


class SandboxError(SysfenceError):
    """A sandboxed call could not be completed (worker failed to start, died, or sent something unreadable)."""


class SandboxViolation(SandboxError):
    """The filter killed the worker. `syscall` names the call (None when the worker could not say)."""

    def __init__(self, message: str = "", *, syscall: str | None = None, nr: int | None = None,
                 pid: int | None = None) -> None:
        super().__init__(message or f"sandboxed worker {pid} killed by the filter: {syscall or 'unknown syscall'}")
        self.syscall = syscall
        self.nr = nr
        self.pid = pid

    def __reduce__(self) -> Any:
        return (functools.partial(SandboxViolation, syscall=self.syscall, nr=self.nr, pid=self.pid), (str(self),))


class RemoteTraceback(SandboxError):
    """Carries the worker's formatted traceback; set as __cause__ of a re-raised exception."""

    def __init__(self, tb: str) -> None:
        super().__init__("traceback in the sandboxed worker (see .tb)")
        self.tb = tb

    def __str__(self) -> str:
        return "\n" + self.tb


_SAFE = frozenset({
    ("builtins", n) for n in ("set", "frozenset", "bytearray", "complex", "range", "slice")
} | {("collections", "OrderedDict"), ("collections", "deque"), ("decimal", "Decimal"), ("fractions", "Fraction"),
     ("uuid", "UUID")} | {("datetime", n) for n in ("date", "datetime", "time", "timedelta", "timezone")}
  | {("builtins", n) for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)})


class _ReplyUnpickler(pickle.Unpickler):
    """Unpickles what a possibly compromised worker sent: only _SAFE classes, sysfence's own errors and the
    caller's allow_types; every other global (a class, or a function such as os.system) is refused."""

    def __init__(self, data: bytes, allow: frozenset[tuple[str, str]]) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.allow = allow

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _SAFE or key in self.allow or (module == "sysfence.errors" and name.endswith("Error")) or \
                key in (("sysfence.sandbox", "SandboxError"), ("sysfence.errors", "LibseccompMissing")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name}")


def _allow(types: Sequence[type]) -> frozenset[tuple[str, str]]:
    return frozenset((t.__module__, t.__qualname__) for t in types)


def _reply_loads(data: bytes, allow: frozenset[tuple[str, str]]) -> Any:
    return _ReplyUnpickler(data, allow).load()


def _pack_exc(exc: BaseException, tb: str) -> tuple[Any, ...]:
    """An exception as plain data: (its pickle or None, traceback text, type name, message)."""
    blob: bytes | None
    try:
        blob = pickle.dumps(exc)
        pickle.loads(blob)  # a custom __init__ that does not match .args cannot be rebuilt
    except Exception:  # noqa: BLE001
        blob = None
    return (blob, tb, f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc))


def _unpack_exc(pid: int, packed: Sequence[Any], allow: frozenset[tuple[str, str]]) -> BaseException:
    blob, tb, type_name, message = packed
    exc: BaseException | None = None
    if blob is not None:
        try:
            loaded = _reply_loads(blob, allow)
            exc = loaded if isinstance(loaded, BaseException) else None
        except Exception:  # noqa: BLE001 - not allowed or not readable: reported as text below
            exc = None
    if exc is None:
        exc = SandboxError(f"sandboxed worker {pid} raised {type_name}: {message} (that type is not allowed "
                           "back into the caller; pass allow_types=[...] to receive it as itself)")
    try:
        exc.add_note("traceback in the sandboxed worker:\n" + str(tb).rstrip("\n"))
    except Exception:  # noqa: BLE001, S110 - an exception type that refuses notes
        pass
    return exc


# ------------------------------------------------------------------ profiles


def resolve_profile(capabilities: Sequence[str] | None = None, profile: str | Profile | None = None) -> Profile:
    """The Profile a worker loads for these arguments (before the kill -> trap rewrite)."""
    from . import profile as _profile

    if isinstance(capabilities, str):
        raise SandboxError(f"capabilities must be a list of names, not the string {capabilities!r}")
    caps = list(capabilities or ())
    if profile is None and capabilities is not None:
        prof = _profile.resolve([(Layer("sysfence.sandbox", tuple(dict.fromkeys([*WORKER_CAPABILITIES, *caps]))),
                                  {"name": "isolate", "description": "isolate(capabilities=...)"})])
        return prof
    if isinstance(profile, Profile):
        prof = profile
    elif isinstance(profile, str) or profile is None:
        prof = _profile.load(profile or DEFAULT_PROFILE)
    else:
        raise SandboxError(f"profile must be a name, a path or a Profile, not {type(profile).__name__}")
    if caps:
        prof = _profile.with_overrides(prof, caps=caps, where="isolate(capabilities=...)")
    return prof


def worker_profile(prof: Profile) -> Profile:
    """`prof` as a worker loads it: kill actions become trap (so the handler can name the call) and
    rt_sigaction(SIGSYS, ...) is denied (so the function cannot replace the handler)."""
    from . import profile as _profile

    actions = tuple((s, _TRAP) for s, d in prof.decisions.items() if d.action.kind in _KILLS)
    guard = Rule("rt_sigaction", Action(Kind.ERRNO, 1),
                 (ArgCondition(0, Op.MASKED_EQ, int(signal.SIGSYS), 0xFFFFFFFF),),
                 reason="the sandbox's SIGSYS reporter cannot be replaced")
    layer = Layer(
        "sysfence.sandbox worker", actions=actions, rules=(guard,),
        default_action=_TRAP if prof.default_action.kind in _KILLS else None,
        unknown_action=_TRAP if prof.unknown_action.kind in _KILLS else None,
    )
    return _profile.extend(prof, [layer])


# ------------------------------------------------------------------ the worker side


_reporter: list[Any] = []  # keeps the ctypes thunk alive in the worker


def _install_reporter(fd: int) -> None:
    """SIGSYS handler: send ("sigsys", nr) framed like Connection.send_bytes on fd, then _exit."""
    from .on_deny import _HANDLER, SA_SIGINFO, SI_SYSCALL, _libc, _SigAction

    def handle(signo: int, info: int | None, ctx: int | None) -> None:
        try:
            nr = ctypes.c_int.from_address(info + SI_SYSCALL).value if info else -1
            data = pickle.dumps(("sigsys", nr))
            os.write(fd, struct.pack("!i", len(data)) + data)
        finally:
            os._exit(128 + int(signal.SIGSYS))

    cb = _HANDLER(handle)
    act = _SigAction()
    act.sa_sigaction = ctypes.cast(cb, ctypes.c_void_p).value
    act.sa_flags = SA_SIGINFO
    if _libc().sigaction(signal.SIGSYS, ctypes.byref(act), None) != 0:
        raise SandboxError(f"installing the SIGSYS handler failed: {os.strerror(ctypes.get_errno())}")
    _reporter[:] = [cb]


def _send(conn: multiprocessing.connection.Connection, msg: tuple[Any, ...]) -> None:
    """Send a reply as plain data (see Trust in the module docstring): ("ok", pickle of the result),
    ("err"|"fatal", pickle of the exception or None, traceback, type name, message), ("ready", pid)."""
    if msg[0] == "ok":
        try:
            data = pickle.dumps(("ok", pickle.dumps(msg[1])))
        except Exception as exc:  # noqa: BLE001 - an unpicklable result
            err = SandboxError(f"could not pickle the result of the sandboxed call: {type(exc).__name__}: {exc}")
            data = pickle.dumps(("err", *_pack_exc(err, traceback.format_exc())))
    elif msg[0] in ("err", "fatal"):
        data = pickle.dumps((msg[0], *_pack_exc(msg[1], msg[2])))
    else:
        data = pickle.dumps(msg)
    conn.send_bytes(data)


def _worker_main(conn: multiprocessing.connection.Connection, prof: Profile, first: bytes | None,
                 preload: Sequence[str]) -> None:
    """Worker loop: unpickle the first call and import `preload` (both before the filter: the profile may not
    allow reading modules), filter, say ready, then run ("call", func, args, kwargs) messages until the pipe
    closes."""
    import importlib

    from .enforce import enable

    pending: list[Any] = []
    try:
        for mod in preload:
            importlib.import_module(mod)
        if first is not None:
            pending.append(pickle.loads(first))
        _install_reporter(conn.fileno())
        prof.dangerous  # noqa: B018 - reads the capability catalog now: the filter may deny opening it later
        enable(prof, required=True, on_deny="off")
    except BaseException as exc:  # noqa: BLE001 - reported to the caller, never run unfiltered
        _send(conn, ("fatal", exc, traceback.format_exc()))
        os._exit(1)
    _send(conn, ("ready", os.getpid()))
    while True:
        try:
            msg = pending.pop() if pending else pickle.loads(conn.recv_bytes())
        except EOFError:
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001 - e.g. the function's module cannot be imported here
            _send(conn, ("err", exc, traceback.format_exc()))
            continue
        _, func, args, kwargs = msg
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the caller re-raises it
            _send(conn, ("err", exc, traceback.format_exc()))
        else:
            _send(conn, ("ok", result))


# ------------------------------------------------------------------ the caller side


_ctx_lock = threading.Lock()
_ctx: Any = None


def _context() -> Any:
    """The forkserver context. Nothing is preloaded into the server: in Python 3.11 it imports preloads with
    its own default sys.path, which may find another copy of sysfence than the caller's (a source tree on
    the caller's sys.path, an older installed copy); workers import sysfence after the caller's sys.path
    is restored."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            _ctx = multiprocessing.get_context("forkserver")
        return _ctx


class _Worker:
    """One worker process and our end of its pipe. Used by one thread at a time."""

    def __init__(self, prof: Profile, first: bytes | None = None, preload: Sequence[str] = (),
                 allow: frozenset[tuple[str, str]] = frozenset()) -> None:
        self.allow = allow
        ctx = _context()
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, prof, first, tuple(preload)), daemon=True,
                                name="sysfence-sandbox")
        try:
            self.proc.start()
        finally:
            child.close()
        self.pid: int = self.proc.pid
        self.dead = False  # killed or stopped: never used again
        self.exitcode: int | None = None

    def wait_ready(self, timeout: float | None) -> None:
        kind, *rest = self._recv(timeout)
        if kind == "fatal":
            self.kill()
            raise _unpack_exc(self.pid, rest, self.allow) from RemoteTraceback(str(rest[1]))
        if kind != "ready":
            self.kill()
            raise SandboxError(f"sandboxed worker {self.pid} sent {kind!r} instead of 'ready'")

    def call(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
             timeout: float | None) -> Any:
        self.conn.send_bytes(pickle.dumps(("call", func, args, kwargs)))  # pickling errors raise before writing
        return self.result(timeout)

    def result(self, timeout: float | None) -> Any:
        kind, *rest = self._recv(timeout)
        if kind == "ok":
            try:
                return _reply_loads(rest[0], self.allow)
            except pickle.UnpicklingError as exc:
                raise SandboxError(f"the result of sandboxed worker {self.pid} contains {exc}, which is not allowed "
                                   "back into the caller (pass allow_types=[...] to receive it)") from None
            except Exception as exc:  # noqa: BLE001 - unreadable
                raise SandboxError(f"could not read the result of sandboxed worker {self.pid}: "
                                   f"{type(exc).__name__}: {exc}") from None
        if kind != "err" or len(rest) != 4:
            raise SandboxError(f"sandboxed worker {self.pid} sent {kind!r}")
        raise _unpack_exc(self.pid, rest, self.allow) from RemoteTraceback(str(rest[1]))

    def _recv(self, timeout: float | None) -> list[Any]:
        try:
            ready = self.conn.poll(timeout)
        except (EOFError, OSError):
            ready = True  # recv_bytes() reports it
        if not ready:
            self.kill()
            raise TimeoutError(f"sandboxed call timed out after {timeout} s; worker {self.pid} killed and reaped")
        try:
            data = self.conn.recv_bytes()
        except (EOFError, OSError):
            self._died(None)
        try:
            msg = _reply_loads(data, frozenset())  # the envelope is plain data: no class at all
        except Exception as exc:  # noqa: BLE001 - a worker that sends anything else is broken or hostile
            self.kill()
            raise SandboxError(f"sandboxed worker {self.pid} sent an unreadable reply ({type(exc).__name__}: {exc}); "
                               "worker killed") from None
        if not isinstance(msg, tuple) or not msg or not isinstance(msg[0], str):
            self.kill()
            raise SandboxError(f"sandboxed worker {self.pid} sent a malformed reply; worker killed")
        if msg[0] == "sigsys":
            self._died(int(msg[1]))
        return list(msg)

    def _died(self, nr: int | None) -> Any:
        self.kill()
        code = self.exitcode
        if nr is not None or code in (-signal.SIGSYS, 128 + signal.SIGSYS):
            name = None
            if nr is not None and nr >= 0:
                from . import syscalls

                name = syscalls.name(nr) or f"syscall {nr}"
            raise SandboxViolation(syscall=name, nr=nr, pid=self.pid)
        raise SandboxError(f"sandboxed worker {self.pid} died (exit code {code})")

    def kill(self) -> None:
        """Kill and reap (the forkserver reaps; join() returns once it has)."""
        if self.dead:
            return
        if self.proc.exitcode is None:
            try:
                self.proc.kill()
            except (OSError, AttributeError):
                pass
        self.proc.join()
        self.exitcode = self.proc.exitcode
        self._close()

    def stop(self) -> None:
        """Close the pipe (the worker exits on EOF); kill it if it has not exited in time."""
        if self.dead:
            return
        self.conn.close()
        self.proc.join(_STOP_GRACE)
        self.kill()

    def _close(self) -> None:
        self.dead = True
        self.conn.close()
        try:
            self.proc.close()
        except ValueError:
            pass


def isolate(func: Callable[..., R], *args: Any, capabilities: Sequence[str] | None = None,
            profile: str | Profile | None = None, timeout: float | None = None,
            allow_types: Sequence[type] = (), preload: Sequence[str] = (), **kwargs: Any) -> R:
    """Run func(*args, **kwargs) in a fresh filtered worker and return its result (see the module docstring).

    `timeout` counts from the moment the worker has loaded its filter (start-up has its own START_TIMEOUT).
    Raises the function's own exception (worker traceback attached), SandboxViolation when the filter
    killed the worker, TimeoutError (worker killed and reaped) after `timeout` seconds, UnavailableError
    when the filter cannot be loaded (nothing runs unfiltered), ProfileError for invalid profiles."""
    prof = worker_profile(resolve_profile(capabilities, profile))
    return _one_shot(prof, func, args, kwargs, timeout, _allow(allow_types), preload)


def _one_shot(prof: Profile, func: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any],
              timeout: float | None, allow: frozenset[tuple[str, str]] = frozenset(),
              preload: Sequence[str] = ()) -> R:
    """A fresh worker for one call: the call is unpickled (its module imported) before the filter loads."""
    w = _Worker(prof, first=pickle.dumps(("call", func, args, kwargs)), preload=preload, allow=allow)
    try:
        w.wait_ready(START_TIMEOUT)
        result: R = w.result(timeout)
        return result
    finally:
        w.stop()


def sandboxed(capabilities: Sequence[str] | None = None, profile: str | Profile | None = None,
              timeout: float | None = None, allow_types: Sequence[type] = (), preload: Sequence[str] = (),
              ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: every call runs through isolate(). The decorated function must stay picklable by
    reference, so the wrapper keeps the original reachable as `__wrapped__` and pickles it, not itself."""
    prof = worker_profile(resolve_profile(capabilities, profile))
    allow = _allow(allow_types)

    def deco(func: Callable[P, R]) -> Callable[P, R]:
        target = _Original(func.__module__, func.__qualname__)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result: R = _one_shot(prof, cast(Callable[..., R], target), args, dict(kwargs), timeout, allow, preload)
            return result

        return wrapper

    return deco


class _Original:
    """Picklable reference to the undecorated function behind a @sandboxed name (module + qualname). It
    unpickles as that function, so the worker imports the module while unpickling the call, before its filter
    is loaded."""

    def __init__(self, module: str, qualname: str) -> None:
        self.module, self.qualname = module, qualname

    def __reduce__(self) -> tuple[Any, ...]:
        return (_resolve_original, (self.module, self.qualname))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _resolve_original(self.module, self.qualname)(*args, **kwargs)


def _resolve_original(module: str, qualname: str) -> Any:
    import importlib

    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "__wrapped__", obj)


# ------------------------------------------------------------------ the pool


_STOP = object()


class SandboxPool:
    """Warm filtered workers for one profile: the filter is loaded once per worker, at start.

    submit() returns a concurrent.futures.Future; map() yields results in order; close() (or leaving the
    `with` block) waits for queued calls, then stops the workers. A worker that crashed, was killed by the
    filter or timed out is replaced by a fresh one; workers never serve another profile. Safe to share
    between threads. Workers unpickle each call after their filter is loaded, so a profile that cannot read
    files needs the functions' modules in `preload` (imported in each worker before the filter).
    """

    def __init__(self, capabilities: Sequence[str] | None = None, profile: str | Profile | None = None,
                 workers: int = 2, timeout: float | None = None, preload: Sequence[str] = (),
                 allow_types: Sequence[type] = ()) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.profile = worker_profile(resolve_profile(capabilities, profile))
        self.timeout = timeout
        self.preload = tuple(preload)
        self.allow = _allow(allow_types)
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        started = [_Worker(self.profile, preload=self.preload, allow=self.allow) for _ in range(workers)]
        try:
            for w in started:
                w.wait_ready(START_TIMEOUT)
        except BaseException:
            for w in started:
                w.kill()
            raise
        self._workers: list[_Worker | None] = list(started)
        self._threads = [threading.Thread(target=self._dispatch, args=(i,), daemon=True,
                                          name=f"sysfence-sandbox-pool-{i}") for i in range(workers)]
        for t in self._threads:
            t.start()

    @property
    def pids(self) -> list[int]:
        """The current workers' pids (for inspection; they change when a worker is replaced)."""
        return [w.pid for w in list(self._workers) if w is not None]

    def submit(self, func: Callable[..., R], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[R]:
        fut: concurrent.futures.Future[R] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("SandboxPool is closed")
            self._tasks.put((fut, func, args, kwargs))
        return fut

    def map(self, func: Callable[..., R], *iterables: Iterable[Any]) -> Iterator[R]:
        futs = [self.submit(func, *a) for a in zip(*iterables, strict=False)]

        def results() -> Iterator[R]:
            try:
                for f in futs:
                    yield f.result()
            finally:
                for f in futs:
                    f.cancel()

        return results()

    def close(self, cancel_pending: bool = False) -> None:
        """Stop accepting calls; finish queued ones (or cancel them), stop and reap every worker."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if cancel_pending:
                while True:
                    try:
                        item = self._tasks.get_nowait()
                    except queue.Empty:
                        break
                    item[0].cancel()
            for _ in self._threads:
                self._tasks.put(_STOP)
        for t in self._threads:
            t.join()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _dispatch(self, i: int) -> None:
        try:
            while True:
                item = self._tasks.get()
                if item is _STOP:
                    return
                fut, func, args, kwargs = item
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    w = self._workers[i]
                    if w is None:
                        w = _Worker(self.profile, preload=self.preload, allow=self.allow)
                        self._workers[i] = w
                        w.wait_ready(START_TIMEOUT)
                    fut.set_result(w.call(func, args, kwargs, self.timeout))
                except BaseException as exc:  # noqa: BLE001 - delivered through the future
                    w2 = self._workers[i]
                    if w2 is not None and w2.dead:
                        self._workers[i] = None  # replaced before the next call
                    fut.set_exception(exc)
        finally:
            w = self._workers[i]
            self._workers[i] = None
            if w is not None and not w.dead:
                w.stop()


__all__ = [
    "DEFAULT_PROFILE", "WORKER_CAPABILITIES", "RemoteTraceback", "SandboxError", "SandboxPool",
    "SandboxViolation", "isolate", "resolve_profile", "sandboxed", "worker_profile",
]
