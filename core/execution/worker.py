"""The code-running half of py-code-mode: REPL cells, output capture, the wire codec, and the
subprocess worker's main loop.

This file is stdlib-only and is launched by file path (``python -P worker.py CONFIG``), so it
runs under any CPython >= 3.11 without this project installed there. The in-process executor
imports the same cell and capture helpers, so both executors share one REPL implementation.

Channel: the worker keeps private duplicates of its original stdin/stdout for frames (4-byte
big-endian length + UTF-8 JSON); fd 0 becomes /dev/null and fd 1 joins fd 2, which the host
drains as "stray" output (C-level writes, crash messages). Namespace calls (``artifacts``,
``tools``, ``skills``, ``deps``) are sent to the host as ``rpc`` frames and answered with
``rpc_result`` frames; the worker never opens a store itself.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import linecache
import os
import reprlib
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

CO_COROUTINE = 0x0080  # inspect.CO_COROUTINE, without importing inspect
HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
REPR_LIMIT = 100_000
_THIS_FILE = os.path.abspath(__file__)

# --------------------------------------------------------------------------------------------
# Output capture
# --------------------------------------------------------------------------------------------


class _CappedSink(io.RawIOBase):
    """The byte sink under :class:`OutputCapture`: keeps ``limit`` bytes, counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self.parts: list[bytes] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        n = len(b)
        room = self.limit - self.size
        if room >= n:
            self.parts.append(bytes(b))
            self.size += n
        else:
            if room > 0:
                self.parts.append(bytes(b[:room]))
                self.size += room
            self.dropped += n - max(room, 0)
        return n


class OutputCapture:
    """A reusable capped text stream for ``sys.stdout``/``sys.stderr``.

    Writes go through C-level text and buffer layers; Python code runs only once per 8 KiB, so
    printing costs about what it costs on a real stream. At most ``limit`` bytes are kept; a
    flood is counted, not stored, and reported by a marker.
    """

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.limit = limit
        self._open()

    def _open(self) -> None:
        self.sink = _CappedSink(self.limit)
        self.stream = io.TextIOWrapper(
            io.BufferedWriter(self.sink, 8192), encoding="utf-8", errors="backslashreplace"
        )

    def take(self) -> str:
        """Everything written since the last take, with a marker if some was dropped."""
        with contextlib.suppress(ValueError):  # closed by the code: keep what reached the sink
            self.stream.flush()
        sink = self.sink
        text = b"".join(sink.parts).decode("utf-8", "replace")
        if sink.dropped:
            text += f"\n... [output truncated: {sink.dropped} more bytes]\n"
        if self.stream.closed:
            self._open()
        else:
            sink.parts, sink.size, sink.dropped = [], 0, 0
        return text


# --------------------------------------------------------------------------------------------
# REPL cells
# --------------------------------------------------------------------------------------------


class CompiledCell:
    """Code compiled once: the body, plus the trailing expression whose value is returned."""

    __slots__ = ("body", "expr")

    def __init__(self, body: Any, expr: Any) -> None:
        self.body = body
        self.expr = expr


def compile_cell(source: str, filename: str) -> CompiledCell:
    """Parse ``source`` once and compile it with top-level ``await`` allowed.

    Raises SyntaxError. The source is registered in ``linecache`` so tracebacks show its lines.
    """
    tree = ast.parse(source, filename, "exec")
    expr = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expr = ast.Expression(tree.body.pop().value)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    body_code = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
    expr_code = (
        compile(expr, filename, "eval", flags=flags, dont_inherit=True)
        if expr is not None
        else None
    )
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return CompiledCell(body_code, expr_code)


def execute_cell(
    cell: CompiledCell, namespace: dict[str, Any], run_coroutine: Callable[[Any], Any]
) -> Any:
    """Run a compiled cell in ``namespace``; return the trailing expression's value (or None).

    Code that uses top-level ``await`` compiles to a coroutine, which ``run_coroutine`` drives.
    """
    result = eval(cell.body, namespace)
    if cell.body.co_flags & CO_COROUTINE:
        run_coroutine(result)
    if cell.expr is None:
        return None
    value = eval(cell.expr, namespace)
    if cell.expr.co_flags & CO_COROUTINE:
        value = run_coroutine(value)
    return value


def is_user_filename(filename: str) -> bool:
    return filename.startswith(("<cell", "<skill"))


_PACKAGE_DIR = os.path.dirname(os.path.dirname(_THIS_FILE)) + os.sep


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """Return ``("Type: message", traceback)``: the traceback starts at the user's code (a cell
    or a skill) and leaves out py-code-mode's own frames in between."""
    name = type(exc).__name__
    message = str(exc)
    error = f"{name}: {message}" if message else name
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((i for i, f in enumerate(frames) if is_user_filename(f.filename)), None)
    if start is None:
        kept = [] if isinstance(exc, SyntaxError) else list(frames)
    else:
        kept = [f for f in frames[start:] if not f.filename.startswith(_PACKAGE_DIR)]
    lines = traceback.format_exception_only(type(exc), exc)
    if kept:
        lines = ["Traceback (most recent call last):\n", *traceback.format_list(kept), *lines]
    return error, "".join(lines)


def safe_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """A repr that never raises and never grows past ``limit`` characters."""
    try:
        if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > 10_000:
            r = reprlib.Repr()
            r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = 1000
            r.maxlevel = 3
            r.maxstring = r.maxother = 1000
            text = r.repr(value)
        else:
            text = repr(value)
    except BaseException as exc:  # a hostile __repr__ must not break the result
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    if not isinstance(text, str):
        text = f"<unrepresentable {type(value).__name__}>"
    if len(text) > limit:
        text = text[:limit] + f"... [repr truncated: {len(text) - limit} more characters]"
    return text


# --------------------------------------------------------------------------------------------
# Wire codec: JSON plus tags for bytes, tuples, sets and dicts with non-string keys
# --------------------------------------------------------------------------------------------

TAG = "$t"


class Unencodable(TypeError):
    """A value has no wire form (the receiver gets its repr instead)."""


def encode_data(value: Any, _depth: int = 0) -> Any:
    """Turn ``value`` into JSON-able data; raise :class:`Unencodable` if it has no wire form."""
    if _depth > 100:
        raise Unencodable("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        if type(value) not in (bool, int, float, str, type(None)):
            # Subclasses (IntEnum, str subclasses) travel as their base value.
            for base in (bool, int, float, str):
                if isinstance(value, base):
                    return base(value)
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list):
        return [encode_data(v, _depth + 1) for v in value]
    if isinstance(value, tuple):
        return {TAG: "tuple", "v": [encode_data(v, _depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {TAG: "set", "v": [encode_data(v, _depth + 1) for v in value]}
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and TAG not in value:
            return {k: encode_data(v, _depth + 1) for k, v in value.items()}
        return {
            TAG: "dict",
            "v": [
                [encode_data(k, _depth + 1), encode_data(v, _depth + 1)] for k, v in value.items()
            ],
        }
    raise Unencodable(f"{type(value).__name__} has no wire form")


def decode_data(value: Any) -> Any:
    """Inverse of :func:`encode_data`. Malformed tags raise ValueError."""
    if isinstance(value, list):
        return [decode_data(v) for v in value]
    if isinstance(value, dict):
        tag = value.get(TAG)
        if tag is None:
            return {k: decode_data(v) for k, v in value.items()}
        payload = value.get("v")
        if tag == "bytes" and isinstance(payload, str):
            return base64.b64decode(payload.encode("ascii"), validate=True)
        if tag == "tuple" and isinstance(payload, list):
            return tuple(decode_data(v) for v in payload)
        if tag == "set" and isinstance(payload, list):
            return {decode_data(v) for v in payload}
        if tag == "dict" and isinstance(payload, list):
            out = {}
            for pair in payload:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise ValueError("malformed dict entry on the wire")
                out[decode_data(pair[0])] = decode_data(pair[1])
            return out
        raise ValueError(f"unknown or malformed wire tag {tag!r}")
    return value


class Record(dict):  # type: ignore[type-arg]
    """A dict whose keys also read as attributes (``rec.name`` and ``rec["name"]``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


# --------------------------------------------------------------------------------------------
# Worker side: limits, channel, namespaces, main loop
# --------------------------------------------------------------------------------------------


def apply_limits(limits: dict[str, Any]) -> list[str]:
    """Set hard resource limits on this process; return the ones that could not be set."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return ["resource module unavailable"]
    mb = 1024 * 1024
    table = {
        "memory_mb": (getattr(resource, "RLIMIT_AS", None), mb),
        "cpu_seconds": (getattr(resource, "RLIMIT_CPU", None), 1),
        "file_size_mb": (getattr(resource, "RLIMIT_FSIZE", None), mb),
        "open_files": (getattr(resource, "RLIMIT_NOFILE", None), 1),
        "processes": (getattr(resource, "RLIMIT_NPROC", None), 1),
        "core_mb": (getattr(resource, "RLIMIT_CORE", None), mb),
    }
    failed = []
    for key, value in limits.items():
        rlimit, unit = table.get(key, (None, 1))
        if value is None or rlimit is None:
            continue
        want = int(value * unit)
        try:
            _soft, hard = resource.getrlimit(rlimit)
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            resource.setrlimit(rlimit, (want, want))
        except (ValueError, OSError) as exc:
            failed.append(f"{key}: {exc}")
    return failed


class ChannelClosed(Exception):
    """The host closed the channel."""


class _State:
    in_user_code = False


def _on_sigint(signum: int, frame: Any) -> None:
    # Interrupts only user code; a late SIGINT after a cell ended is dropped.
    if _State.in_user_code:
        raise KeyboardInterrupt


class Channel:
    """Length-prefixed JSON frames over two file descriptors."""

    def __init__(self, in_fd: int, out_fd: int, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.max_frame = max_frame
        self._next_id = 0
        self._call_lock = threading.Lock()  # threads started by user code share the channel
        self.owner = os.getpid()

    def _check_owner(self) -> None:
        # A process forked by user code (os.fork, a fork bomb) must never speak on the channel:
        # its frames would interleave with the worker's. It ends when it reaches it.
        if os.getpid() != self.owner:
            os._exit(0)

    def send(self, message: dict[str, Any]) -> None:
        self._check_owner()
        try:
            data = json.dumps(message, separators=(",", ":"), allow_nan=True).encode("utf-8")
        except (TypeError, ValueError) as exc:
            data = json.dumps(
                {"op": message.get("op"), "id": message.get("id"), "error": str(exc)}
            ).encode("utf-8")
        frame = HEADER.pack(len(data)) + data
        # A SIGINT in the middle of a write would leave half a frame on the pipe.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            view = memoryview(frame)
            while view:
                n = os.write(self.out_fd, view)
                view = view[n:]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def _read_exact(self, n: int, chunks: list[bytes]) -> None:
        remaining = n
        while remaining:
            chunk = os.read(self.in_fd, min(remaining, 1 << 20))
            if not chunk:
                raise ChannelClosed
            chunks.append(chunk)
            remaining -= len(chunk)

    def recv(self) -> dict[str, Any]:
        self._check_owner()
        # Waiting for the first byte may be interrupted; once a frame has started, it is read
        # whole with SIGINT blocked, so an interrupt never leaves the channel out of step.
        first = os.read(self.in_fd, HEADER.size)
        if not first:
            raise ChannelClosed
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            chunks = [first]
            self._read_exact(HEADER.size - len(first), chunks)
            (size,) = HEADER.unpack(b"".join(chunks))
            if size > self.max_frame:
                raise ChannelClosed
            body: list[bytes] = []
            self._read_exact(size, body)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        message = json.loads(b"".join(body))
        if not isinstance(message, dict):
            raise ChannelClosed
        return message

    def call(
        self, namespace: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Ask the host to run ``namespace.method(*args, **kwargs)`` and wait for the answer."""
        with self._call_lock:
            return self._call(namespace, method, args, kwargs)

    def _call(
        self, namespace: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self._next_id += 1
        call_id = self._next_id
        self.send(
            {
                "op": "rpc",
                "id": call_id,
                "ns": namespace,
                "method": method,
                "args": encode_data(list(args)),
                "kwargs": encode_data(kwargs),
            }
        )
        while True:
            reply = self.recv()
            if reply.get("op") != "rpc_result" or reply.get("id") != call_id:
                continue  # a stale answer to a call that was interrupted
            if reply.get("ok"):
                return decode_data(reply.get("value"))
            raise _error_from_wire(reply.get("error") or {})


_ERRORS: Any = None


def _errors_module() -> Any:
    """py_code_mode.errors if importable here, else the same file loaded by path."""
    global _ERRORS
    if _ERRORS is None:
        try:
            import py_code_mode.errors as errors
        except ImportError:
            import importlib.util

            path = os.path.join(os.path.dirname(os.path.dirname(_THIS_FILE)), "errors.py")
            spec = importlib.util.spec_from_file_location("_py_code_mode_errors", path)
            assert spec is not None and spec.loader is not None
            errors = importlib.util.module_from_spec(spec)
            sys.modules["_py_code_mode_errors"] = errors
            spec.loader.exec_module(errors)
        _ERRORS = errors
    return _ERRORS


def _error_from_wire(payload: dict[str, Any]) -> Exception:
    return _errors_module().error_from_wire(payload)  # type: ignore[no-any-return]


class _Proxy:
    """A namespace object in the worker whose methods are calls to the host."""

    _methods: frozenset[str] = frozenset()
    _record_results: frozenset[str] = frozenset()

    def __init__(self, channel: Channel, name: str) -> None:
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_name", name)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = self._channel.call(self._name, method, args, kwargs)
        if method in self._record_results:
            if isinstance(result, list):
                return [Record(r) if isinstance(r, dict) else r for r in result]
            if isinstance(result, dict):
                return Record(result)
        return result

    def __repr__(self) -> str:
        return f"<{self._name} namespace (host proxy)>"


class ArtifactsProxy(_Proxy):
    """``artifacts`` in the worker: every call is served by the host's artifact store."""

    _record_results = frozenset({"save", "get", "list"})

    def save(self, name: str, data: Any, description: str = "", metadata: Any = None) -> Any:
        return self._call("save", name, data, description=description, metadata=metadata)

    def load(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._call("load", name, *args, **kwargs)

    def get(self, name: str) -> Any:
        return self._call("get", name)

    def list(self) -> Any:
        return self._call("list")

    def exists(self, name: str) -> bool:
        return bool(self._call("exists", name))

    def delete(self, name: str) -> None:
        self._call("delete", name)


# --------------------------------------------------------------------------------------------
# Skill invocation (shared by the in-process namespace and the worker's proxy)
# --------------------------------------------------------------------------------------------

NAMESPACE_NAMES = ("tools", "skills", "artifacts", "deps")
_SKILL_DEPTH: Any = None


def _skill_depth() -> Any:
    global _SKILL_DEPTH
    if _SKILL_DEPTH is None:
        import contextvars

        _SKILL_DEPTH = contextvars.ContextVar("py_code_mode_skill_depth", default=0)
    return _SKILL_DEPTH


def run_coroutine_in_thread(coro: Any) -> Any:
    """Drive a coroutine to completion from sync code, even inside a running event loop.

    It runs on a helper thread with its own loop (context copied, so nesting depth and capture
    follow it); the caller waits in short slices so that an interrupt still reaches it.
    """
    import asyncio
    import contextvars
    import threading

    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="py-code-mode-async-skill", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class SkillRunner:
    """Runs a skill's ``run`` with the session's namespaces as globals.

    ``fetch(name)`` returns ``{"name", "source", "hash"}`` (raising when the skill is missing);
    compiled code is cached by content hash. ``record(name, ok, duration_ms)`` keeps statistics.
    """

    def __init__(
        self,
        fetch: Callable[[str], dict[str, Any]],
        namespaces: Callable[[], dict[str, Any]],
        record: Callable[[str, bool, float], None] | None = None,
        max_depth: int = 16,
    ) -> None:
        self._fetch = fetch
        self._namespaces = namespaces
        self._record = record
        self.max_depth = max_depth
        self._code: dict[str, Any] = {}

    def _compile(self, info: dict[str, Any]) -> Any:
        key = str(info.get("hash") or "") + str(info["name"])
        code = self._code.get(key)
        if code is None:
            source = info["source"]
            filename = f"<skill:{info['name']}>"
            code = compile(source, filename, "exec", dont_inherit=True)
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            if len(self._code) > 512:
                self._code.clear()
            self._code[key] = code
        return code

    def invoke(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        errors = _errors_module()
        depth_var = _skill_depth()
        depth = depth_var.get()
        if depth >= self.max_depth:
            raise errors.SkillExecutionError(
                f"skills.{name}: skills nested more than {self.max_depth} levels deep "
                "(unbounded recursion?)",
                operation="invoke",
            )
        info = self._fetch(name)
        code = self._compile(info)
        namespace: dict[str, Any] = {"__name__": f"skill_{name}", "__builtins__": __builtins__}
        namespace.update(self._namespaces())
        token = depth_var.set(depth + 1)
        start = time.perf_counter()
        ok = False
        try:
            exec(code, namespace)
            run = namespace.get("run")
            if not callable(run):
                raise errors.SkillExecutionError(
                    f"skill {name!r} defines no run()", operation="invoke"
                )
            import inspect

            signature = inspect.signature(run)
            for injected in NAMESPACE_NAMES:  # run(tools, ...) gets the namespace it asks for
                if (
                    injected in signature.parameters
                    and injected not in kwargs
                    and injected in namespace
                ):
                    kwargs = {**kwargs, injected: namespace[injected]}
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise errors.SkillValidationError(
                    f"skills.{name}() got wrong arguments: {exc}; expected {name}{signature}",
                    skill_name=name,
                ) from None
            result = run(*args, **kwargs)
            if inspect.iscoroutine(result):
                result = run_coroutine_in_thread(result)
            ok = True
            return result
        finally:
            depth_var.reset(token)
            if self._record is not None:
                with contextlib.suppress(Exception):
                    self._record(name, ok, (time.perf_counter() - start) * 1000.0)


class SkillCallable:
    """``skills.<name>``: call it with the skill's arguments."""

    def __init__(self, owner: Any, name: str) -> None:
        self._owner = owner
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._owner._invoke(self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<skill {self.name}>"


class SkillsProxy(_Proxy):
    """``skills`` in the worker: the library lives on the host; skill code runs here."""

    _record_results = frozenset({"search", "list", "get", "create", "rollback", "history"})

    def __init__(self, channel: Channel, name: str) -> None:
        super().__init__(channel, name)
        object.__setattr__(self, "_runner", None)

    def bind_runner(self, namespaces: Callable[[], dict[str, Any]]) -> None:
        runner = SkillRunner(
            fetch=lambda n: self._call("source", n),
            namespaces=namespaces,
            record=lambda n, ok, ms: self._call("record", n, ok, ms),
        )
        object.__setattr__(self, "_runner", runner)

    def search(self, query: str, limit: int = 5) -> Any:
        return self._call("search", query, limit)

    def list(self) -> Any:
        return self._call("list")

    def get(self, name: str) -> Any:
        return self._call("get", name)

    def create(self, name: str, source: str, description: str = "") -> Any:
        return self._call("create", name, source, description)

    def delete(self, name: str) -> bool:
        return bool(self._call("delete", name))

    def describe(self, name: str | None = None) -> str:
        return str(self._call("describe", name))

    def history(self, name: str) -> Any:
        return self._call("history", name)

    def rollback(self, name: str, version: int) -> Any:
        return self._call("rollback", name, version)

    def invoke(self, skill_name: str, /, *args: Any, **kwargs: Any) -> Any:
        return self._invoke(skill_name, args, kwargs)

    def _invoke(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._runner.invoke(name, args, kwargs)

    def __getattr__(self, name: str) -> SkillCallable:
        if name.startswith("_"):
            raise AttributeError(name)
        if not self._call("exists", name):
            raise _errors_module().SkillNotFoundError(name)
        return SkillCallable(self, name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(s["name"] for s in self.list())})


class _WorkerCallable:
    """``tools.<name>.<callable>`` in the worker."""

    def __init__(self, owner: ToolsProxy, tool: str, info: dict[str, Any]) -> None:
        self._owner = owner
        self._tool = tool
        self._info = info

    def __call__(self, **kwargs: Any) -> Any:
        return self._owner._call_tool(self._tool, self._info["name"], kwargs)

    call_sync = __call__

    async def call_async(self, **kwargs: Any) -> Any:
        return self._owner._call_tool(self._tool, self._info["name"], kwargs)

    def describe(self) -> dict[str, str]:
        return {p["name"]: p.get("description", "") for p in self._info.get("parameters", [])}

    def signature(self) -> str:
        return str(self._info.get("signature", self._info["name"]))

    def __repr__(self) -> str:
        return f"<tools.{self._tool}.{self.signature()}>"


class _WorkerTool:
    """``tools.<name>`` in the worker."""

    def __init__(self, owner: ToolsProxy, info: dict[str, Any]) -> None:
        self._owner = owner
        self._info = info

    def __call__(self, **kwargs: Any) -> Any:
        return self._owner._call_tool(self._info["name"], None, kwargs)

    call_sync = __call__

    async def call_async(self, **kwargs: Any) -> Any:
        return self._owner._call_tool(self._info["name"], None, kwargs)

    def list(self) -> list[Record]:
        return [Record(c) for c in self._info.get("callables", [])]

    def describe(self) -> str:
        return str(self._owner.describe(self._info["name"]))

    def __getattr__(self, name: str) -> _WorkerCallable:
        if name.startswith("_"):
            raise AttributeError(name)
        tool = self._info["name"]
        callables = self._info.get("callables", [])
        if not callables:  # not listed yet (an unreachable MCP server): let the host decide
            return _WorkerCallable(self._owner, tool, {"name": name})
        for c in callables:
            if c["name"] == name:
                return _WorkerCallable(self._owner, tool, c)
        known = [f"{tool}.{c['name']}" for c in self._info.get("callables", [])]
        raise _errors_module().ToolNotFoundError(f"{tool}.{name}", known)

    def __repr__(self) -> str:
        return f"<tool {self._info['name']}: {self._info.get('description', '')}>"


class ToolsProxy(_Proxy):
    """``tools`` in the worker: every call is executed by the host (credentials, MCP
    connections and HTTP clients never enter the worker)."""

    _record_results = frozenset({"list", "search"})

    def list(self) -> Any:
        return self._call("list")

    def search(self, query: str, limit: int = 10) -> Any:
        return self._call("search", query, limit)

    def describe(self, name: str | None = None) -> str:
        return str(self._call("describe", name))

    def _call_tool(self, tool: str, callable_name: str | None, kwargs: dict[str, Any]) -> Any:
        return self._call("call", tool, callable_name, kwargs)

    def __getattr__(self, name: str) -> _WorkerTool:
        if name.startswith("_"):
            raise AttributeError(name)
        return _WorkerTool(self, self._call("get", name))

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(t["name"] for t in self.list())})


class DepsProxy(_Proxy):
    """``deps`` in the worker: installs run on the host, into the overlay on this sys.path."""

    _record_results = frozenset({"add", "sync"})

    def add(self, spec: str) -> Any:
        result = self._call("add", spec)
        import importlib

        importlib.invalidate_caches()  # the new package is importable without a restart
        return result

    def list(self) -> list[str]:
        return list(self._call("list"))

    def remove(self, name: str) -> bool:
        return bool(self._call("remove", name))

    def sync(self) -> Any:
        result = self._call("sync")
        import importlib

        importlib.invalidate_caches()
        return result

    def __repr__(self) -> str:
        return f"<DepsNamespace: {len(self.list())} packages configured>"


PROXIES: dict[str, type[_Proxy]] = {
    "deps": DepsProxy,
    "tools": ToolsProxy,
    "skills": SkillsProxy,
    "artifacts": ArtifactsProxy,
}


class Worker:
    """Runs cells sent by the host in one persistent namespace."""

    def __init__(self, channel: Channel, namespaces: list[str], output_limit: int) -> None:
        self.channel = channel
        self.stdout = OutputCapture(output_limit)
        self.stderr = OutputCapture(output_limit)
        self._loop: Any = None
        self.cell_count = 0
        self.globals: dict[str, Any] = {}
        self.proxies: dict[str, _Proxy] = {
            n: PROXIES[n](channel, n) for n in namespaces if n in PROXIES
        }
        skills = self.proxies.get("skills")
        if isinstance(skills, SkillsProxy):
            skills.bind_runner(lambda: dict(self.proxies))
        self.reset()

    def run_coroutine(self, coro: Any) -> Any:
        # asyncio is imported on first top-level await only: it is most of the start-up cost.
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)

    def reset(self) -> None:
        self.globals.clear()
        self.globals.update({"__name__": "__main__", "__builtins__": __builtins__})
        self.globals.update(self.proxies)

    def run(self, message: dict[str, Any]) -> dict[str, Any]:
        self.cell_count += 1
        code = message.get("code")
        out, err = self.stdout, self.stderr
        reply: dict[str, Any] = {"op": "result", "id": message.get("id")}
        # Restore namespaces the user deleted or replaced, so the next cell can count on them.
        for name, proxy in self.proxies.items():
            if self.globals.get(name) is not proxy:
                self.globals[name] = proxy
        saved = sys.stdout, sys.stderr
        start = time.perf_counter()
        value: Any = None
        try:
            if not isinstance(code, str):
                raise TypeError("code must be a string")
            cell = compile_cell(code, f"<cell-{self.cell_count}>")
            sys.stdout, sys.stderr = out.stream, err.stream
            _State.in_user_code = True
            try:
                value = execute_cell(cell, self.globals, self.run_coroutine)
            finally:
                _State.in_user_code = False
        except BaseException as exc:  # user code may raise anything, SystemExit included
            _State.in_user_code = False
            reply["error"], reply["traceback"] = describe_exception(exc)
            reply["interrupted"] = isinstance(exc, KeyboardInterrupt)
            value = None
        finally:
            sys.stdout, sys.stderr = saved
        reply["duration_ms"] = (time.perf_counter() - start) * 1000.0
        reply["stdout"] = out.take()
        reply["stderr"] = err.take()
        if value is not None:
            reply["repr"] = safe_repr(value)
            try:
                reply["value"] = encode_data(value)
                reply["has_value"] = True
                # A value too large for one frame travels as its (capped) repr only.
                if len(json.dumps(reply["value"])) > self.channel.max_frame // 2:
                    del reply["value"]
                    reply["has_value"] = False
            except (Unencodable, RecursionError, ValueError):
                reply.pop("value", None)
                reply["has_value"] = False
        return reply

    def serve(self) -> None:
        while True:
            try:
                message = self.channel.recv()
            except KeyboardInterrupt:
                continue
            op = message.get("op")
            if op == "run":
                reply = self.run(message)
            elif op == "reset":
                self.reset()
                reply = {"op": "reset_done", "id": message.get("id")}
            elif op == "ping":
                reply = {"op": "pong", "id": message.get("id")}
            elif op == "shutdown":
                return
            else:
                continue  # stale rpc_result or unknown op
            self.channel.send(reply)


def main(argv: list[str]) -> int:
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray fd-level output joins stderr, which the host drains
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    for path in config.get("sys_path") or []:
        if path not in sys.path:
            sys.path.append(path)  # the deps overlay: the interpreter's own packages win
    failed = apply_limits(config.get("limits") or {})
    import faulthandler

    faulthandler.enable()  # a crash leaves its Python traceback in the stray output
    signal.signal(signal.SIGINT, _on_sigint)
    channel = Channel(in_fd, out_fd, int(config.get("max_frame") or DEFAULT_MAX_FRAME))
    worker = Worker(
        channel,
        list(config.get("namespaces") or []),
        int(config.get("output_limit") or DEFAULT_OUTPUT_LIMIT),
    )
    channel.send(
        {
            "op": "ready",
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "limits_failed": failed,
        }
    )
    with contextlib.suppress(ChannelClosed):
        worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
