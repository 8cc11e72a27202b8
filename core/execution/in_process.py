"""InProcessExecutor: runs code in the host process. Fastest; for trusted code only.

Each executor owns one persistent thread that runs its cells (a thread per run would add a
tail of several milliseconds). Running off the event loop thread keeps the loop free, lets sync
namespace calls reach async host code without deadlock, and lets a timeout interrupt a
pure-Python loop by raising an asynchronous exception in that thread. Output is captured per
thread through a router installed on ``sys.stdout``/``sys.stderr``, so two sessions running at
once never see each other's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import itertools
import linecache
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compat import warn_unused
from ..types import ExecutionResult
from ..worker.cells import (
    DEFAULT_OUTPUT_LIMIT,
    OutputCapture,
    coalesced,
    compile_cell,
    describe_exception,
    execute_cell,
    safe_repr,
)
from .protocol import Capability, ExecutorBase, hand_on, validate_timeout

if TYPE_CHECKING:
    from .host import HostNamespaces, NamespaceOptions

log = logging.getLogger(__name__)
_CAPTURE: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar(
    "py_code_mode_capture", default=None
)
_GRACE_SECONDS = 1.0
_EXECUTOR_NUMBERS = itertools.count(1)  # tells the cells of executors in one process apart


class _StreamRouter:
    """Stands in for sys.stdout/sys.stderr: writes go to the current run's buffer, if any."""

    def __init__(self, wrapped: Any, index: int) -> None:
        self._wrapped = wrapped
        self._index = index

    def write(self, s: str) -> int:
        capture = _CAPTURE.get()
        if capture is None:
            return self._wrapped.write(s)  # type: ignore[no-any-return]
        return capture[self._index].write(s)

    def flush(self) -> None:
        if _CAPTURE.get() is None:
            self._wrapped.flush()

    def close(self) -> None:
        """Code must not close the host's real stream."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


def _install_routers() -> None:
    # Re-checked on every run: test runners and others may have replaced the streams since.
    if not isinstance(sys.stdout, _StreamRouter):
        sys.stdout = _StreamRouter(sys.stdout, 0)  # type: ignore[assignment]
    if not isinstance(sys.stderr, _StreamRouter):
        sys.stderr = _StreamRouter(sys.stderr, 1)  # type: ignore[assignment]


def terminal_input(prompt: object = "") -> str:
    """``input()`` for in-process cells: reads the terminal when there is one (the prompt goes
    straight to it, not into the captured output); otherwise says it cannot — a server's stdin
    (an MCP stdio stream) must never be read by user code."""
    stdin, stdout = sys.__stdin__, sys.__stdout__
    if stdin is None or stdout is None or not stdin.isatty():
        raise EOFError(
            "input() cannot read here: no terminal is attached to this process; pass the data "
            "in a variable, a file or an artifact instead"
        )
    stdout.write(str(prompt))
    stdout.flush()
    line = stdin.readline()
    if not line:
        raise EOFError("EOF when reading a line")
    return line.rstrip("\n")


class _Relay:
    """Hands what a cell prints (on its thread) to ``on_output`` on the event loop, coalesced:
    one call per stream per turn of the loop, however many writes came in between."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_output: Callable[[str, str], Any]
    ) -> None:
        self.loop = loop
        self.on_output = on_output
        # The listener runs in the caller's context, not the cell's: what it prints goes to the
        # real streams, not into the cell's capture.
        self.context = contextvars.copy_context()
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []
        self._scheduled = False

    def writer(self, stream: str) -> Callable[[str], None]:
        return lambda text: self._push(stream, text)

    def _push(self, stream: str, text: str) -> None:
        with self._lock:
            self._pending.append((stream, text))
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the caller's loop closed: nobody listens
            self.loop.call_soon_threadsafe(self._flush, context=self.context)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending, self._scheduled = self._pending, [], False
        for stream, text in coalesced(pending):
            hand_on(self.on_output, stream, text)


class CellTimeout(BaseException):
    """Raised inside a cell's thread when its run timed out."""


@dataclass(frozen=True)
class InProcessConfig:
    """Settings of an :class:`InProcessExecutor` (fields as in the reference project)."""

    default_timeout: float | None = 30.0
    allow_runtime_deps: bool = True
    tools_path: Path | str | None = None
    deps: tuple[str, ...] | None = None
    deps_file: Path | str | None = None
    ipc_timeout: float | None = 30.0
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    deps_installer: Any = None  # a PackageInstaller (find_links, index_url, timeout, ...)

    def __post_init__(self) -> None:
        validate_timeout(self.default_timeout, "default_timeout")
        warn_unused(self)
        if self.deps is not None and not isinstance(self.deps, tuple):
            object.__setattr__(self, "deps", tuple(self.deps))


class _Job:
    __slots__ = ("fn", "future", "loop", "interrupted")

    def __init__(self, fn: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.interrupted = False


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


class _CellThread:
    """One persistent thread that runs jobs in order and can be interrupted."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._current: _Job | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Any) -> _Job:
        job = _Job(fn, asyncio.get_running_loop())
        self._jobs.put(job)
        return job

    def interrupt(self, job: _Job | None = None, exc: type[BaseException] = CellTimeout) -> bool:
        """Raise ``exc`` in the running job (``job``, or whichever runs); False if none runs."""
        with self._lock:
            current = self._current
            if current is None or current.interrupted or (job is not None and current is not job):
                return False
            current.interrupted = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread.ident or 0), ctypes.py_object(exc)
            )
            return True

    def stop(self) -> None:
        self._jobs.put(None)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()  # drives top-level await in cells
        while True:
            try:
                job = self._jobs.get()
                if job is None:
                    break
                with self._lock:
                    self._current = job
                try:
                    result = job.fn(loop)
                except BaseException as exc:
                    result = exc
                finally:
                    with self._lock:
                        self._current = None
                        if job.interrupted:  # drop an interrupt that arrived too late to land
                            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                                ctypes.c_ulong(self._thread.ident or 0), None
                            )
                if job.loop.is_closed():
                    _log_dropped(job, result)
                else:
                    try:
                        job.loop.call_soon_threadsafe(_resolve, job.future, result)
                    except RuntimeError:  # closed between the check and the call
                        _log_dropped(job, result)
            except CellTimeout:  # an interrupt that landed after its cell had finished
                continue
        loop.close()


def _log_dropped(job: _Job, result: Any) -> None:
    """The caller's loop closed while its cell ran: nobody can receive ``result`` any more."""
    shown = f"{type(result).__name__}: {result}" if isinstance(result, BaseException) else "a value"
    log.warning("a cell finished after its caller's event loop closed; dropped %s", shown)


class InProcessExecutor(ExecutorBase):
    """Runs code in the host process (trusted code only; see docs/executors.md)."""

    config_class: type[InProcessConfig] = InProcessConfig

    def __init__(
        self,
        registry: Any = None,
        skill_library: Any = None,
        artifact_store: Any = None,
        deps_namespace: Any = None,
        default_timeout: float | None = 30.0,
        config: InProcessConfig | None = None,
    ) -> None:
        if isinstance(registry, InProcessConfig):  # the reference docs' InProcessExecutor(config)
            config, registry = registry, None
        self.config = config or InProcessConfig(default_timeout=default_timeout)
        self._registry = registry
        self._skill_library = skill_library
        self._artifact_store = artifact_store
        self._deps_namespace = deps_namespace
        self._globals: dict[str, Any] = {}
        self._injected: dict[str, Any] = {}
        self._host: HostNamespaces | None = None
        self.registry: Any = registry
        self.deps: Any = deps_namespace
        self._thread: _CellThread | None = None
        self._lock = asyncio.Lock()  # one run at a time; binds to a loop on first use
        self._start_lock = asyncio.Lock()
        self._cells = 0
        # linecache is process-wide: each executor's cells get file names of their own, so a
        # traceback quotes this session's cell, never another session's cell of that number.
        self._number = next(_EXECUTOR_NUMBERS)
        self._stdout = OutputCapture(self.config.output_limit)
        self._stderr = OutputCapture(self.config.output_limit)
        self._started = False
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, storage: Any = None) -> None:
        async with self._start_lock:  # concurrent starts: one set of namespaces, one thread
            if not self._started and not self._closed:
                await self._start(storage)

    async def _start(self, storage: Any) -> None:
        self._host = await self._namespaces(storage)
        self.deps = self._host.deps
        self.registry = self._host.registry
        if self.deps is not None:
            # Packages installed at run time live in the overlay; the host's own install wins.
            overlay = str(self.deps.installer.target)
            if overlay not in sys.path:
                sys.path.append(overlay)
        self._injected = self._host.in_code
        self._reset_globals()
        self._thread = _CellThread(f"py-code-mode-cell-{id(self):x}")
        self._started = True

    def namespace_options(self) -> NamespaceOptions:
        """Explicit objects given to the constructor win; deps install into this interpreter."""
        from .host import NamespaceOptions

        c = self.config
        return NamespaceOptions(
            tools_path=c.tools_path,
            registry=self._registry,
            artifacts=self._artifact_store,
            skills=self._skill_library,
            deps=getattr(self._deps_namespace, "_manager", self._deps_namespace),
            python=sys.executable,
            allow_runtime_deps=c.allow_runtime_deps,
            deps_specs=c.deps,
            deps_file=c.deps_file,
            deps_installer=c.deps_installer,
        )

    def _cell_name(self, number: int) -> str:
        return f"<cell-{number}@{self._number}>"

    def _reset_globals(self) -> None:
        self._globals.clear()
        self._globals.update(
            {"__name__": "__main__", "__builtins__": __builtins__, "input": terminal_input}
        )
        self._globals.update(self._injected)

    async def reset(self) -> None:
        """Clear user variables; the namespaces stay."""
        if not self._started:
            return
        self._reset_globals()

    async def close(self) -> None:
        self._closed = True
        async with self._start_lock:  # a start in flight finishes first, then is undone
            pass
        if self._started and self._host is not None:
            await self._host.aclose()  # close MCP connections and HTTP clients we opened
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        for number in range(1, self._cells + 1):  # the sources of this session's cells
            linecache.cache.pop(self._cell_name(number), None)
        self._started = False
        self._closed = True

    def interrupt(self) -> bool:
        """Raise KeyboardInterrupt in the running cell (Ctrl-C); the run returns it as its
        error, with the output so far. False when nothing runs."""
        thread = self._thread
        return thread is not None and thread.interrupt(exc=KeyboardInterrupt)

    # --- capabilities ------------------------------------------------------------------------

    def supported_capabilities(self) -> set[str]:
        caps = {Capability.TIMEOUT, Capability.RESET}
        if self.config.allow_runtime_deps:
            caps |= {Capability.DEPS_INSTALL, Capability.DEPS_UNINSTALL}
        return caps

    # --- running -----------------------------------------------------------------------------

    def _run_cell(
        self, code: str, loop: asyncio.AbstractEventLoop, relay: _Relay | None = None
    ) -> ExecutionResult:
        """Runs in the cell thread (``loop`` drives top-level await in the cell)."""
        self._cells += 1
        out, err = self._stdout, self._stderr
        if relay is not None:
            out.listen(relay.writer("stdout"))
            err.listen(relay.writer("stderr"))
        # The user may have deleted or replaced a namespace; put it back for this cell.
        for name, obj in self._injected.items():
            if self._globals.get(name) is not obj:
                self._globals[name] = obj
        token = _CAPTURE.set((out.stream, err.stream))
        start = time.perf_counter()
        value: Any = None
        error = tb = None
        try:
            cell = compile_cell(code, self._cell_name(self._cells))
            value = execute_cell(cell, self._globals, loop.run_until_complete)
        except CellTimeout:
            error = "TimeoutError: interrupted"  # the caller replaces this with the timeout
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code too
            error, tb = describe_exception(exc)
            value = None
        finally:
            _CAPTURE.reset(token)
        stdout, stderr = out.take(), err.take()  # the last of it still reaches the relay
        if relay is not None:
            out.listen(None)
            err.listen(None)
        return ExecutionResult(
            value=value,
            repr=safe_repr(value) if value is not None else None,
            stdout=stdout,
            stderr=stderr,
            error=error,
            traceback=tb,
            duration_ms=(time.perf_counter() - start) * 1000.0,
        )

    async def run(
        self,
        code: str,
        timeout: float | None = None,
        *,
        on_output: Callable[[str, str], Any] | None = None,
    ) -> ExecutionResult:
        """Run ``code`` on the cell thread. ``on_output(stream, text)`` (``"stdout"`` or
        ``"stderr"``) is called on this event loop as the code prints, line by line, coalesced;
        the result's ``stdout``/``stderr`` still hold all of it (capped)."""
        refused = await self._prepare_run(code, timeout)
        if refused is not None:
            return refused
        if timeout is None:
            timeout = self.config.default_timeout
        relay = _Relay(asyncio.get_running_loop(), on_output) if on_output is not None else None
        await self._lock.acquire()
        handed_over = False
        try:
            _install_routers()
            assert self._thread is not None
            thread = self._thread
            job = thread.submit(lambda loop: self._run_cell(code, loop, relay))
            try:
                return await self._await_job(thread, job, timeout)
            except asyncio.CancelledError:
                # The caller gave up: interrupt the code as a timeout does. The run lock
                # passes to the clean-up, so the next run starts once the cell has ended.
                thread.interrupt(job)
                asyncio.get_running_loop().create_task(self._settle_cancelled(thread, job))
                handed_over = True
                raise
        finally:
            if not handed_over:
                self._lock.release()

    async def _settle_cancelled(self, thread: _CellThread, job: _Job) -> None:
        try:
            await self._stop_interrupted(thread, job)
        finally:
            self._lock.release()

    async def _stop_interrupted(self, thread: _CellThread, job: _Job) -> Any:
        """Wait briefly for an interrupted job; abandon its thread when it does not stop.
        Returns the job's result, or None when the thread was abandoned."""
        try:
            async with asyncio.timeout(_GRACE_SECONDS):
                return await asyncio.shield(job.future)
        except TimeoutError:
            # Stuck in a native call that ignores interrupts: abandon that thread.
            thread.stop()
            if self._thread is thread:
                self._thread = _CellThread(f"py-code-mode-cell-{id(self):x}")
            # The abandoned code may still print: give the next runs their own buffers.
            self._stdout = OutputCapture(self.config.output_limit)
            self._stderr = OutputCapture(self.config.output_limit)
            return None

    async def _await_job(
        self, thread: _CellThread, job: _Job, timeout: float | None
    ) -> ExecutionResult:
        try:
            async with asyncio.timeout(timeout):
                result = await asyncio.shield(job.future)
        except TimeoutError:
            assert timeout is not None  # asyncio.timeout(None) never fires
            thread.interrupt(job)
            result = await self._stop_interrupted(thread, job)
            if result is None:
                return ExecutionResult(
                    error=(
                        f"TimeoutError: Execution timed out after {timeout} seconds; the code "
                        "was blocked in a native call and was abandoned (variables are kept)"
                    ),
                    duration_ms=(timeout + _GRACE_SECONDS) * 1000.0,
                )
            message = f"TimeoutError: Execution timed out after {timeout} seconds"
            if isinstance(result, ExecutionResult):
                return result.model_copy(
                    update={"error": message, "traceback": None, "value": None, "repr": None}
                )
            return ExecutionResult(error=message, duration_ms=timeout * 1000.0)
        if isinstance(result, BaseException):
            return ExecutionResult(error=f"{type(result).__name__}: {result}")
        return result  # type: ignore[no-any-return]
