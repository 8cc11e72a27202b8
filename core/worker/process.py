"""The worker process: channel, resource limits and the main loop.

Channel: the worker keeps private duplicates of its original stdin/stdout for frames (see
:mod:`.wire`); fd 0 becomes /dev/null and fd 1 joins fd 2, which the host drains as "stray"
output (C-level writes, crash messages). The host gives the worker a Unix socket as its
stdout: the kernel stamps everything written to it with the writer's pid, so the host takes
frames from this process only, never from a process the code forked. Namespace calls are sent to
the host as ``rpc`` frames and answered with ``rpc_result`` frames (``note`` frames get no
answer); the worker never opens a store itself, and only speaks while a cell runs (a thread
that outlives its cell gets an error instead).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from . import errors, namespaces
from .cells import (
    DEFAULT_OUTPUT_LIMIT,
    OutputCapture,
    coalesced,
    compile_cell,
    describe_exception,
    execute_cell,
    safe_repr,
)
from .wire import (
    _COUNT_ABOVE,
    DEFAULT_MAX_FRAME,
    DEFAULT_MAX_VALUES,
    HEADER,
    FrameTooLarge,
    Unencodable,
    count_values,
    encode_data,
    loads,
)

_READ_SIZE = 256 * 1024
_NOTES_LIMIT = 64 * 1024  # one-way frames kept for the next write at most


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
    in_frame = False  # the main thread is between the first and last byte of a frame
    deferred = False  # a SIGINT arrived then: raised once the frame is whole


_MAIN_THREAD = threading.main_thread().ident


def _on_sigint(signum: int, frame: Any) -> None:
    # Interrupts only user code; a late SIGINT after a cell ended is dropped. In the middle of
    # a frame it waits for the frame's end (half a frame would put the channel out of step):
    # a flag instead of blocking the signal around every frame (two system calls each way).
    if _State.in_frame:
        _State.deferred = True
    elif _State.in_user_code:
        raise KeyboardInterrupt


def _frame_done() -> None:
    """The main thread finished a frame: raise an interrupt that arrived meanwhile."""
    _State.in_frame = False
    if _State.deferred:
        _State.deferred = False
        if _State.in_user_code:
            raise KeyboardInterrupt


#: One encoder for every frame (json.dumps with options builds a new one per call).
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=True).encode


class Channel:
    """Length-prefixed JSON frames over two file descriptors.

    Frames it sends stay within what the host accepts (``max_frame`` bytes, ``max_values``
    values): a larger one raises :class:`~.wire.FrameTooLarge` here instead of costing the host
    and this worker its channel. Calls are served only while a cell runs (``active``).
    """

    def __init__(
        self,
        in_fd: int,
        out_fd: int,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_values: int = DEFAULT_MAX_VALUES,
    ) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.max_frame = max_frame
        self.max_values = max_values
        self._next_id = 0
        self._call_lock = threading.Lock()  # threads started by user code share the channel
        self.owner = os.getpid()
        self.active = False  # a cell runs: the host expects frames
        self.streamer: OutputStreamer | None = None
        self._inbox = bytearray()  # read from the host, not yet taken as frames
        self._notes: list[bytes] = []  # one-way frames waiting for the next frame
        self._notes_size = 0

    def _check_owner(self) -> None:
        # A process forked by user code (os.fork, a fork bomb) must never speak on the channel:
        # its frames would interleave with the worker's. It ends when it reaches it.
        if os.getpid() != self.owner:
            os._exit(0)

    def send(self, message: dict[str, Any]) -> None:
        """Send one frame; FrameTooLarge (nothing sent) when the host would refuse it."""
        self._check_owner()
        try:
            data = _ENCODE(message).encode("utf-8")
        except (TypeError, ValueError) as exc:
            data = _ENCODE(
                {"op": message.get("op"), "id": message.get("id"), "error": str(exc)}
            ).encode("utf-8")
        if len(data) > self.max_frame:
            raise FrameTooLarge(f"{len(data):,} bytes (limit {self.max_frame:,})")
        if len(data) > _COUNT_ABOVE:
            count = count_values(data)
            if count > self.max_values:
                raise FrameTooLarge(f"{count:,} values (limit {self.max_values:,})")
        frame = HEADER.pack(len(data)) + data
        if self._notes:  # one-way messages travel with the next frame: one write, one wake-up
            frame = b"".join(self._notes) + frame
            self._notes.clear()
            self._notes_size = 0
        self._write(frame)

    def _write(self, frame: bytes) -> None:
        # A SIGINT in the middle of a write would leave half a frame on the channel: on the
        # main thread it waits for the end of the frame (see _on_sigint); other threads never
        # run signal handlers.
        main = threading.get_ident() == _MAIN_THREAD
        if main:
            _State.in_frame = True
        try:
            n = os.write(self.out_fd, frame)
            if n < len(frame):
                view = memoryview(frame)[n:]
                while view:
                    view = view[os.write(self.out_fd, view) :]
        finally:
            if main:
                _frame_done()

    def recv(self) -> dict[str, Any]:
        self._check_owner()
        # Reads go to a buffer: an interrupt while waiting (for the first byte or the rest of
        # a frame) leaves what arrived in the buffer, so the channel never gets out of step;
        # and a frame costs one read, not two.
        # (The reads stay in this function: tests look for a worker idle in ``recv``.)
        inbox = self._inbox
        while True:
            if len(inbox) >= HEADER.size:
                (size,) = HEADER.unpack_from(inbox)
                if size > self.max_frame:
                    raise ChannelClosed
                end = HEADER.size + size
                if len(inbox) >= end:
                    break
            chunk = os.read(self.in_fd, _READ_SIZE)
            if not chunk:
                raise ChannelClosed
            inbox += chunk
        body = bytes(inbox[HEADER.size : end])
        del inbox[:end]
        message = loads(body, None)  # from the host: trusted, decoded in one pass
        if not isinstance(message, dict):
            raise ChannelClosed
        return message

    def notify(self, namespace: str, method: str, args: tuple[Any, ...]) -> None:
        """Tell the host something that needs no answer (a skill's usage statistics); dropped
        when no cell runs or when it is too large."""
        with self._call_lock:
            if self.active:
                message = {"op": "note", "ns": namespace, "method": method,
                           "args": encode_data(list(args))}  # fmt: skip
                with contextlib.suppress(FrameTooLarge, TypeError, ValueError):
                    self._queue_note(message)

    def _queue_note(self, message: dict[str, Any]) -> None:
        """Keep a one-way frame for the next frame's write (the result at the latest): the
        note costs no write and no wake-up of its own."""
        data = _ENCODE(message).encode("utf-8")
        if len(data) > min(self.max_frame, _COUNT_ABOVE):
            raise FrameTooLarge(f"{len(data):,} bytes")
        self._notes.append(HEADER.pack(len(data)) + data)
        self._notes_size += len(data)
        if self._notes_size > _NOTES_LIMIT:
            notes = b"".join(self._notes)
            self._notes.clear()
            self._notes_size = 0
            self._write(notes)

    def call(
        self, namespace: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Ask the host to run ``namespace.method(*args, **kwargs)`` and wait for the answer."""
        with self._call_lock:
            if not self.active:
                # The host only listens while a cell runs: a thread that outlived its cell
                # would be taken for an attack on the channel (and the worker replaced).
                raise RuntimeError(
                    f"{namespace}.{method}: the namespaces can only be used while a cell runs "
                    "(this thread outlived the cell that started it)"
                )
            try:
                return self._call(namespace, method, args, kwargs)
            except FrameTooLarge as exc:
                raise ValueError(f"{namespace}.{method}: the call has {exc}") from None

    def finish(self, reply: dict[str, Any]) -> None:
        """Send a cell's result; from then on no frame leaves until the next cell starts (a
        call in flight on another thread ends first)."""
        with self._call_lock:
            if self.streamer is not None:
                self.streamer.flush_locked()  # the last output goes before the result
            self.active = False
            self.send(reply)

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
                return reply.get("value")
            raise errors.rebuild(reply.get("error") or {})


class OutputStreamer:
    """Sends what a cell prints to the host as it prints: ``output`` frames from a thread of
    its own, at most one per stream every ``interval`` seconds (a print loop makes a few
    frames, not one per line), and only while a cell runs."""

    def __init__(self, channel: Channel, interval: float = 0.02) -> None:
        self.channel = channel
        self.interval = interval
        self._cond = threading.Condition()
        self._pending: list[tuple[str, str]] = []
        self._thread: threading.Thread | None = None

    def writer(self, stream: str) -> Any:
        def write(text: str) -> None:
            with self._cond:
                self._pending.append((stream, text))
                self._cond.notify()

        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, name="py-code-mode-output", daemon=True
            )
            self._thread.start()
        return write

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            time.sleep(self.interval)  # let what follows join the same frame
            with self.channel._call_lock:
                self.flush_locked()

    def flush_locked(self) -> None:
        """Send what is pending (the caller holds the channel's call lock)."""
        with self._cond:
            pending, self._pending = self._pending, []
        if not self.channel.active:
            return  # between cells nobody listens (it is in the next result's output)
        for stream, text in coalesced(pending):
            with contextlib.suppress(FrameTooLarge):
                self.channel.send({"op": "output", "stream": stream, "text": text})


_ERRORS: Any = None


class ChannelTransport:
    """The namespaces' transport in a worker process: calls to the host over the channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def call(self, namespace: str, method: str, args: tuple[Any, ...]) -> Any:
        return self.channel.call(namespace, method, args, {})

    async def call_async(self, namespace: str, method: str, args: tuple[Any, ...]) -> Any:
        # On a helper thread: the cell's event loop keeps running while the host works.
        import asyncio

        return await asyncio.to_thread(self.channel.call, namespace, method, args, {})

    def notify(self, namespace: str, method: str, args: tuple[Any, ...]) -> None:
        self.channel.notify(namespace, method, args)

    def host_attribute(self, namespace: str, name: str) -> Any:
        raise AttributeError(
            f"{namespace}.{name} does not exist in a worker (it is an in-process extra); "
            f"{namespace} has: {', '.join(sorted(n for n, m in namespaces.SURFACE[namespace].items() if not m.internal))}"
        )


class Worker:
    """Runs cells sent by the host in one persistent namespace."""

    def __init__(self, channel: Channel, names: list[str], output_limit: int) -> None:
        self.channel = channel
        self.stdout = OutputCapture(output_limit)
        self.stderr = OutputCapture(output_limit)
        self._loop: Any = None
        self.cell_count = 0
        self.globals: dict[str, Any] = {}
        self.proxies: dict[str, Any] = namespaces.build(ChannelTransport(channel), names)
        tools = self.proxies.get("tools")
        self._tools = tools if isinstance(tools, namespaces.Tools) else None
        self._threads = -1  # threads alive after the last health check
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

    def health(self) -> str | None:
        """Why this worker could not serve another cell, or None.

        Threads a cell leaves running keep their stacks: enough of them exhaust the address
        space (or the process limit), and every later call that needs memory or a thread fails
        while no code of the session can stop them. So whenever the number of threads changed
        during a cell, one thread is started as a probe (about 50 µs; never on a cell that left
        the threads as they were); if it cannot start, the worker is replaced. Data the code
        holds in variables is not a reason: ``del`` frees it."""
        import _thread

        count = _thread._count()  # type: ignore[attr-defined]
        if count != self._threads:
            try:
                probe = threading.Thread(target=int, name="py-code-mode-health")
                probe.start()
                probe.join()
            except (RuntimeError, MemoryError) as exc:
                return f"it cannot start a thread ({exc}): the code left {count} threads running"
            self._threads = _thread._count()  # type: ignore[attr-defined]
        return None

    def run(self, message: dict[str, Any]) -> dict[str, Any]:
        self.cell_count += 1
        code = message.get("code")
        out, err = self.stdout, self.stderr
        reply: dict[str, Any] = {"op": "result", "id": message.get("id")}
        # Restore namespaces the user deleted or replaced, so the next cell can count on them.
        for name, proxy in self.proxies.items():
            if self.globals.get(name) is not proxy:
                self.globals[name] = proxy
        if self._tools is not None:
            self._tools.new_cell()
        streaming = bool(message.get("stream"))
        if streaming:
            if self.channel.streamer is None:
                self.channel.streamer = OutputStreamer(self.channel)
            out.listen(self.channel.streamer.writer("stdout"))
            err.listen(self.channel.streamer.writer("stderr"))
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
        if streaming:
            out.listen(None)
            err.listen(None)
        if value is not None:
            reply["repr"] = safe_repr(value)
            try:
                reply["value"] = encode_data(value)
                reply["has_value"] = True
            except (Unencodable, RecursionError, ValueError):
                pass
        degraded = self.health()
        if degraded is not None:
            reply["degraded"] = degraded
        return reply

    def finish(self, reply: dict[str, Any]) -> None:
        """Send a cell's result. A value too large for the channel travels as its repr, with a
        note that says why."""
        try:
            self.channel.finish(reply)
            return
        except FrameTooLarge:
            if "value" not in reply:
                raise
        reply["value_dropped"] = self._too_large(reply.pop("value"))
        reply["has_value"] = False
        self.channel.finish(reply)

    def _too_large(self, value: Any) -> str:
        """Why a value cannot travel, in the terms of the channel's limits."""
        channel = self.channel
        text = json.dumps(value, separators=(",", ":")).encode("utf-8")
        count = count_values(text)
        if count > channel.max_values:
            return f"it holds {count:,} values (a result may hold {channel.max_values:,})"
        return f"it is {len(text):,} bytes as data (a result may carry {channel.max_frame:,})"

    def serve(self) -> None:
        while True:
            try:
                message = self.channel.recv()
            except KeyboardInterrupt:
                continue
            op = message.get("op")
            if op == "run":
                self.channel.active = True
                self.finish(self.run(message))
                continue
            if op == "reset":
                self.reset()
                reply = {"op": "reset_done", "id": message.get("id")}
            elif op == "ping":
                reply = {"op": "pong", "id": message.get("id")}
            elif op == "shutdown":
                return
            else:
                continue  # stale rpc_result or unknown op
            self.channel.send(reply)


def _no_terminal_input(prompt: object = "") -> str:
    """``input()`` in a worker: there is no terminal to read, so say so (an EOFError, as
    ``input()`` raises at the end of its input)."""
    raise EOFError(
        "input() cannot read here: the code runs in a worker process without a terminal; "
        "pass the data in a variable, a file or an artifact instead"
    )


def main(argv: list[str]) -> int:
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray fd-level output joins stderr, which the host drains
    os.close(devnull)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    builtins.input = _no_terminal_input
    for path in config.get("sys_path") or []:
        if path not in sys.path:
            sys.path.append(path)  # the deps overlay: the interpreter's own packages win
    limits = config.get("limits") or {}
    failed = apply_limits(limits)
    import faulthandler

    faulthandler.enable()  # a crash leaves its Python traceback in the stray output
    signal.signal(signal.SIGINT, _on_sigint)
    channel = Channel(
        in_fd,
        out_fd,
        int(config.get("max_frame") or DEFAULT_MAX_FRAME),
        int(config.get("max_values") or DEFAULT_MAX_VALUES),
    )
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
