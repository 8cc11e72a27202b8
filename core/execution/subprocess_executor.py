"""SubprocessExecutor: one long-lived worker process per session, spoken to over a pipe.

The worker (``worker.py``, stdlib-only) runs the code; this host side owns the storage and every
namespace object and answers the worker's RPC frames. Timeouts interrupt first (SIGINT: state
survives if the code yields), then kill the whole process group and switch to a fresh worker. A
worker that dies (segfault, ``os._exit``, out of memory) gives an error result, and the next run
uses a fresh worker; a spare worker is kept warm so that this is near-instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..compat import warn_unused
from ..errors import WorkerError
from ..types import ExecutionResult
from ..worker.cells import DEFAULT_OUTPUT_LIMIT
from ..worker.wire import DEFAULT_MAX_FRAME, DEFAULT_MAX_VALUES, HEADER, FrameTooLarge, loads
from . import forking
from .host import HostNamespaces, NamespaceOptions
from .protocol import (
    Capability,
    ExecutorBase,
    OutputListener,
    get_backend,
    hand_on,
    validate_timeout,
)

#: The worker is launched by this path (``python -P``): a stdlib-only package, see worker/.
WORKER_PATH = Path(__file__).resolve().parent.parent / "worker" / "__main__.py"
_EOF: dict[str, Any] = {"op": "__eof__"}
_STRAY_LIMIT = 64 * 1024
_READ_SIZE = 256 * 1024
_EXIT_READS = 64  # reads after the worker exited: what its socket still holds (~200 KB)
_FOREIGN_LIMIT = 1024 * 1024  # bytes from other processes before the worker is replaced
_NOTES_WAITING = 1024  # one-way frames queued on the host before reading waits for them
_CLOSING_OPS = frozenset({"ready", "result", "reset_done", "pong"})
#: Linux: the kernel-verified sender of every read (struct ucred: pid, uid, gid).
_SCM_CREDENTIALS = getattr(socket, "SCM_CREDENTIALS", None)
_PASSCRED = hasattr(socket, "SO_PASSCRED") and _SCM_CREDENTIALS is not None
_CREDS = struct.Struct("3i")
_CREDS_SPACE = socket.CMSG_SPACE(_CREDS.size) if _PASSCRED else 0
_VERSION_RE = re.compile(r"^\d+\.\d+$")
#: One encoder for every frame (json.dumps with options builds a new one per call).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def _expire(waiter: asyncio.Future[None]) -> None:
    """A wait for a frame timed out (next_frame raises TimeoutError: no frame came)."""
    if not waiter.done():
        waiter.set_result(None)


@functools.cache
def _die_with_parent() -> tuple[str, ...]:
    """A launcher that sets PR_SET_PDEATHSIG, then execs the worker: util-linux's setpriv
    (2.33+, Linux). Elsewhere, nothing (the worker then stops when it reads the closed channel)."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv is None:
        return ()
    try:
        usage = subprocess.run([setpriv, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--") if "--pdeathsig" in usage.stdout else ()


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


@dataclass(frozen=True)
class SubprocessConfig:
    """Settings of a :class:`SubprocessExecutor`.

    The reference project's fields keep their meaning: ``python_version`` and ``venv_path``
    (alias ``venv_dir``) choose the interpreter that runs the worker; ``base_deps``,
    ``cache_venv`` and ``cleanup_venv_on_close`` are accepted (the worker needs no packages, so
    no venv is built for it). The limits apply to the worker process and its children.
    """

    python_version: str | None = None
    venv_path: Path | str | None = None
    base_deps: tuple[str, ...] = ("ipykernel",)
    startup_timeout: float = 30.0
    default_timeout: float | None = 60.0
    allow_runtime_deps: bool = True
    cleanup_venv_on_close: bool | None = None
    cache_venv: bool = True
    tools_path: Path | str | None = None
    deps: tuple[str, ...] | None = None
    deps_file: Path | str | None = None
    ipc_timeout: float | None = None
    venv_dir: Path | str | None = None
    python_executable: str | None = None
    cwd: Path | str | None = None
    env: dict[str, str] | None = None
    memory_limit_mb: int | None = 2048
    cpu_limit_seconds: int | None = None
    max_open_files: int | None = 1024
    max_processes: int | None = None
    max_file_size_mb: int | None = 1024
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    max_frame_bytes: int = DEFAULT_MAX_FRAME
    max_frame_values: int = DEFAULT_MAX_VALUES
    interrupt_grace: float = 1.0
    warm_spare: bool = True
    #: Fork workers from a pre-imported template shared by the host's sessions (Linux): no
    #: spare interpreter per session. None: where the platform allows it, else spawn.
    fork_template: bool | None = None
    extra_sys_path: tuple[str, ...] = field(default_factory=tuple)
    deps_installer: Any = None  # a PackageInstaller (find_links, index_url, timeout, ...)

    def __post_init__(self) -> None:
        if self.python_version is not None and not _VERSION_RE.match(str(self.python_version)):
            raise ValueError(f"python_version must look like '3.12', got {self.python_version!r}")
        if self.startup_timeout <= 0:
            raise ValueError("startup_timeout must be > 0")
        validate_timeout(self.default_timeout, "default_timeout")
        warn_unused(self)
        if self.venv_dir is not None and self.venv_path is None:
            object.__setattr__(self, "venv_path", self.venv_dir)
        if self.deps is not None and not isinstance(self.deps, tuple):
            object.__setattr__(self, "deps", tuple(self.deps))
        if self.python_version is None:
            object.__setattr__(
                self, "python_version", f"{sys.version_info.major}.{sys.version_info.minor}"
            )

    @staticmethod
    def get_canonical_venv_path(version: str) -> Path:
        return _cache_home() / "py-code-mode" / f"venv-{version}"

    def get_resolved_cleanup(self) -> bool:
        if self.cleanup_venv_on_close is None:
            return not self.cache_venv
        return self.cleanup_venv_on_close

    def resolve_python(self) -> str:
        """The interpreter that runs the worker."""
        if self.python_executable:
            return self.python_executable
        if self.venv_path is not None:
            python = Path(self.venv_path).expanduser() / "bin" / "python"
            if not python.exists():
                raise WorkerError(f"No Python interpreter at {python} (venv_path={self.venv_path})")
            return str(python)
        current = f"{sys.version_info.major}.{sys.version_info.minor}"
        if self.python_version in (None, current):
            return sys.executable
        found = shutil.which(f"python{self.python_version}")
        if found is None:
            raise WorkerError(
                f"python_version={self.python_version!r}: no 'python{self.python_version}' on PATH"
            )
        return found

    def limits(self) -> dict[str, Any]:
        return {
            "memory_mb": self.memory_limit_mb,
            "cpu_seconds": self.cpu_limit_seconds,
            "open_files": self.max_open_files,
            "processes": self.max_processes,
            "file_size_mb": self.max_file_size_mb,
            "core_mb": 0,
        }


class _WorkerProtocol(asyncio.SubprocessProtocol):
    """Routes the worker's stray output (fd 2) and its exit; frames arrive on the socket."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 2:
            self.worker._feed_stray(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 2 and not self.worker._stray_closed.done():
            self.worker._stray_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.worker._exited.done():
            self.worker._exited.set_result(None)
        self.worker._on_exit()


class WorkerProcess:
    """One running worker: its process, the frames it sent, and its stray output.

    **Who is heard.** The worker's stdout is a Unix socket whose host end has ``SO_PASSCRED``:
    the kernel stamps every write with the writer's pid (in the host's PID namespace, also for
    a sandboxed worker), and never joins writes of two processes in one read. The pid that sent
    the ``ready`` frame, before any code ran, is the worker's (``peer_pid``); bytes from any
    other process (a child the code forked, which inherited the socket) are dropped, so nothing
    but the worker can put a frame on the channel. (A container's frames are relayed by the
    docker client, whose pid is the one pinned; see docs/security.md.)

    **What it may cost.** Frames are size-checked (``max_frame``) and their values counted
    (``max_values``) before they are parsed, then parsed and decoded in one pass. Frames are
    handed straight to the waiting coroutine (no reader task, no queue hop); when two wait
    unread, reading stops until they are taken, so a worker that writes faster than the host
    serves it waits in its own write. A frame while no exchange is open (``expecting``: a run,
    a reset, the start) is unsolicited: the worker is stopped at once.
    """

    def __init__(self, max_frame: int, max_values: int = DEFAULT_MAX_VALUES) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.max_frame = max_frame
        self.max_values = max_values
        self.transport: asyncio.SubprocessTransport | None = None
        self.signal_pid: int | None = None
        self.wrapped = False  # launched through a wrapper (bwrap, docker) that reports 128 + signal
        self.protocol_error: str | None = None
        self.peer_pid: int | None = None
        self.expecting = True  # the ready frame
        self.frame_size = 0  # of the frame next_frame returned last
        self.foreign_bytes = 0
        self.foreign_pids: set[int | None] = set()
        self.frames_by_op: Counter[str] = Counter()  # frames received, by op (diagnostics)
        self._sock: socket.socket | None = None
        self._chunk = bytearray(_READ_SIZE)  # reused by every read: no allocation per frame
        self._view = memoryview(self._chunk)
        self._reading = False
        self._buffer = bytearray()
        self._frames: deque[tuple[dict[str, Any], int]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._gone = False
        self._stray = bytearray()
        self._stray_dropped = 0
        self._stray_closed: asyncio.Future[None] = loop.create_future()
        self._exited: asyncio.Future[None] = loop.create_future()

    @classmethod
    async def spawn(
        cls,
        argv: list[str],
        env: dict[str, str],
        cwd: str | None,
        max_frame: int,
        timeout: float,
        pass_fds: tuple[int, ...] = (),
        max_values: int = DEFAULT_MAX_VALUES,
    ) -> WorkerProcess:
        loop = asyncio.get_running_loop()
        worker = cls(max_frame, max_values)
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if _PASSCRED:
            host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        host_end.setblocking(False)
        worker._attach(host_end)
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _WorkerProtocol(worker),
                *argv,
                stdin=subprocess.PIPE,
                stdout=worker_end.fileno(),  # frames: the socket (see the class docstring)
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                start_new_session=True,  # its own process group, killed as a whole
                pass_fds=pass_fds,
            )
        except OSError as exc:
            worker._detach()
            raise WorkerError(f"Could not start the worker ({argv[0]}): {exc}") from exc
        finally:
            worker_end.close()
        worker.transport = transport
        try:
            ready = await worker.next_frame(timeout)
        except TimeoutError:
            ready = None
        if ready is None or ready.get("op") != "ready":
            await worker.kill()
            detail = worker.take_stray().strip() or worker.protocol_error or "no output"
            raise WorkerError(f"The worker did not start within {timeout}s: {detail[-2000:]}")
        return worker

    @classmethod
    async def fork(
        cls,
        key: forking.TemplateKey,
        request: dict[str, Any],
        max_frame: int,
        timeout: float,
        max_values: int = DEFAULT_MAX_VALUES,
    ) -> WorkerProcess:
        """A worker forked from the host's template (see forking.py): the same channel as a
        spawned one, over descriptors the host makes and hands to the template."""
        loop = asyncio.get_running_loop()
        worker = cls(max_frame, max_values)
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        host_end.setblocking(False)
        frames_r, frames_w = os.pipe()
        stray_r, stray_w = os.pipe()
        status_r, status_w = os.pipe()
        ours = [frames_w, stray_r, status_r]
        try:
            pid = await forking.fork_worker(
                key, request, [frames_r, worker_end.fileno(), stray_w, status_w], timeout
            )
        except BaseException:
            host_end.close()
            for fd in ours:
                os.close(fd)
            raise
        finally:
            worker_end.close()
            for fd in (frames_r, stray_w, status_w):
                os.close(fd)
        # The kernel stamps each write with its sender: only this pid is heard, from the start.
        worker.peer_pid = pid
        worker._attach(host_end)
        transport = forking.ForkedTransport(loop, pid, _WorkerProtocol(worker))
        worker.transport = cast(asyncio.SubprocessTransport, transport)
        await transport.connect(frames_w, stray_r, status_r)
        try:
            ready = await worker.next_frame(timeout)
        except TimeoutError:
            ready = None
        if ready is None or ready.get("op") != "ready":
            await worker.kill()
            detail = worker.take_stray().strip() or worker.protocol_error or "no output"
            raise WorkerError(f"The worker did not start within {timeout}s: {detail[-2000:]}")
        return worker

    @property
    def pid(self) -> int:
        assert self.transport is not None
        return self.transport.get_pid()

    @property
    def alive(self) -> bool:
        return (
            self.transport is not None
            and self.transport.get_returncode() is None
            and self.protocol_error is None
            and not self._eof
        )

    # --- the channel socket ------------------------------------------------------------------

    def _attach(self, sock: socket.socket) -> None:
        self._sock = sock
        self._resume()

    def _detach(self) -> None:
        self._pause()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _pause(self) -> None:
        if self._reading and self._sock is not None:
            self.loop.remove_reader(self._sock.fileno())
        self._reading = False

    def _resume(self) -> None:
        if not self._reading and self._sock is not None and not self._eof:
            self.loop.add_reader(self._sock.fileno(), self._readable)
            self._reading = True

    def _receive(self) -> tuple[bytes | memoryview, int | None] | None:
        """One read: (data, sender pid); None when nothing is there. b"" at end of file."""
        assert self._sock is not None
        try:
            size, ancillary, _flags, _address = self._sock.recvmsg_into([self._chunk], _CREDS_SPACE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b"", None
        data = self._view[:size]
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == _SCM_CREDENTIALS and len(payload) >= 12:
                pid = _CREDS.unpack_from(payload)[0]
        return data, pid

    def _readable(self) -> None:
        received = self._receive()
        if received is not None:
            self._take(*received)

    def _take(self, data: bytes | memoryview, pid: int | None) -> None:
        if not data:
            self._detach()
            self._deliver(_EOF)
            return
        if _PASSCRED:
            if self.peer_pid is None and pid is not None:
                self.peer_pid = pid  # the first writer: the worker, before any code ran
            if pid != self.peer_pid:
                self.foreign_bytes += len(data)
                self.foreign_pids.add(pid)
                if self.foreign_bytes > _FOREIGN_LIMIT:
                    self._fail(
                        f"other processes (pids {sorted(p or 0 for p in self.foreign_pids)}) "
                        f"wrote {self.foreign_bytes:,} bytes to its channel"
                    )
                return
        self._buffer += data
        self._parse()

    def _parse(self) -> None:
        buf = self._buffer
        while self._reading and len(buf) >= HEADER.size and self.protocol_error is None:
            if not self.expecting:
                self._fail("it wrote to the channel between runs (a thread the code left running?)")
                return
            (size,) = HEADER.unpack_from(buf)
            if size > self.max_frame:
                self._fail(f"it sent a frame of {size:,} bytes (limit {self.max_frame:,})")
                return
            end = HEADER.size + size
            if len(buf) < end:
                return
            if len(buf) == end:  # the common case: take the buffer itself, no copy
                body, buf = buf, bytearray()
                self._buffer = buf
                del body[: HEADER.size]
            else:
                body = buf[HEADER.size : end]
                del buf[:end]
            try:
                message = loads(body, self.max_values)
            except FrameTooLarge as exc:
                self._fail(f"it sent a frame of {exc}")
                return
            except (ValueError, RecursionError) as exc:
                self._fail(f"it sent a malformed frame ({exc})")
                return
            del body
            if not isinstance(message, dict):
                self._fail("it sent a frame that is not an object")
                return
            op = message.get("op")
            if op in _CLOSING_OPS:
                self.expecting = False  # this exchange is over: nothing more may come
            if isinstance(op, str):
                self.frames_by_op[op] += 1
            self._frames.append((message, size))
            self._wake()
            if len(self._frames) >= 2:
                self._pause()  # taken up again by next_frame

    def _fail(self, reason: str) -> None:
        """The worker broke the protocol: stop it now and end its channel."""
        self.protocol_error = reason
        self._buffer.clear()
        self._detach()
        self._killpg()
        self._deliver(_EOF)

    def _on_exit(self) -> None:
        """The process ended: what it wrote before is read, then the channel ends (a child
        that inherited the socket keeps it open, but is not heard)."""
        self._gone = True
        if self._sock is not None and self._reading:
            for _ in range(_EXIT_READS):
                received = self._receive()
                if received is None or not self._reading:
                    break
                self._take(*received)
                if not received[0]:
                    break
        if self._reading or self._sock is None:
            self._detach()
            self._deliver(_EOF)

    def _deliver(self, message: dict[str, Any]) -> None:
        if self._eof:
            return
        self._eof = True
        self._frames.append((message, 0))
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _feed_stray(self, data: bytes) -> None:
        self._stray += data
        if len(self._stray) > _STRAY_LIMIT:
            cut = len(self._stray) - _STRAY_LIMIT
            self._stray_dropped += cut
            del self._stray[:cut]

    # --- API ---------------------------------------------------------------------------------

    def take_stray(self) -> str:
        text = self._stray.decode("utf-8", "replace")
        if self._stray_dropped:
            text = f"... [{self._stray_dropped} earlier bytes dropped]\n" + text
        self._stray.clear()
        self._stray_dropped = 0
        return text

    def take_notices(self) -> str:
        """What the host ignored on this worker's channel since the last call (for stderr)."""
        if not self.foreign_bytes:
            return ""
        pids = ", ".join(str(p) for p in sorted(p or 0 for p in self.foreign_pids))
        text = (
            f"[py-code-mode] ignored {self.foreign_bytes:,} bytes that another process "
            f"(pid {pids}) wrote to the worker's channel: only the worker itself is heard\n"
        )
        self.foreign_bytes = 0
        self.foreign_pids.clear()
        return text

    async def next_frame(self, timeout: float | None) -> dict[str, Any]:
        """The next frame; ``_EOF`` once the worker is gone. Raises TimeoutError."""
        if not self._frames:
            # A bare future and (with a timeout) one timer: asyncio.timeout() costs several
            # times as much, on every frame.
            waiter = self._waiter = self.loop.create_future()
            timer = self.loop.call_later(timeout, _expire, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self._frames:
                raise TimeoutError
        message, self.frame_size = self._frames[0]
        if message is not _EOF:
            self._frames.popleft()
            if not self._reading and len(self._frames) < 2 and self._sock is not None:
                self._resume()
                self._parse()
                if self._gone and self._reading:
                    self._on_exit()
        return message

    def drain_stale(self) -> bool:
        """Drop frames left over from an earlier run; False if the worker is gone."""
        while self._frames and self._frames[0][0] is not _EOF:
            self._frames.popleft()
        if not self._reading and self._sock is not None:
            self._resume()
            self._parse()
        return self.alive

    async def request(self, message: dict[str, Any]) -> None:
        """Open an exchange (a run, a reset): the worker may answer until its closing frame."""
        self.expecting = True
        await self.send(message)

    async def send(self, message: dict[str, Any]) -> None:
        data = _ENCODE(message).encode("utf-8")
        pipe = self.transport.get_pipe_transport(0) if self.transport is not None else None
        if pipe is None or pipe.is_closing() or self._eof:
            raise WorkerError("The worker's channel is closed")
        # Not isinstance(asyncio.WriteTransport): uvloop's pipe transports are their own classes.
        cast(asyncio.WriteTransport, pipe).write(HEADER.pack(len(data)) + data)

    def interrupt(self) -> None:
        if self.signal_pid is not None:  # a sandboxed worker: signal Python, not its wrapper
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.signal_pid, signal.SIGINT)
        elif self.transport is not None:
            with contextlib.suppress(ProcessLookupError):
                self.transport.send_signal(signal.SIGINT)

    def _killpg(self) -> None:
        # SIGKILL the whole group (the worker leads it). Not transport.kill(): its poll() would
        # reap the child behind asyncio's watcher ("Unknown child process" warnings).
        if self.transport is None:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                self.transport.send_signal(signal.SIGKILL)

    async def kill(self) -> None:
        if self.transport is None:
            self._detach()
            return
        self._killpg()
        await self._settle()
        self._detach()
        self.transport.close()

    async def _settle(self) -> None:
        """Wait (briefly) for the process to be reaped and its stray output to be read."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await asyncio.shield(self._exited)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.shield(self._stray_closed)

    async def exit_description(self) -> str:
        """How the process ended (waits briefly for it to finish dying)."""
        await self._settle()
        code = self.transport.get_returncode() if self.transport is not None else None
        if code is None:
            return "it stopped answering"
        if getattr(self.transport, "status_unknown", False):
            return "it ended; how is unknown (the template that forked it had stopped)"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        if code > 128 and (self.wrapped or self.signal_pid is not None):
            with contextlib.suppress(ValueError):
                return f"killed by signal {signal.Signals(code - 128).name}"
        return f"exit code {code}"


def _text(value: Any, limit: int) -> str:
    """A string field from an untrusted frame, capped."""
    if not isinstance(value, str):
        return ""
    if len(value) > limit + 200:
        return value[:limit] + f"\n... [output truncated: {len(value) - limit} more characters]\n"
    return value


class SubprocessExecutor(ExecutorBase):
    """Runs code in a persistent worker process (the default for the CLI and the MCP server)."""

    config_class: type[SubprocessConfig] = SubprocessConfig

    def __new__(
        cls, config: SubprocessConfig | None = None, *, registry: Any = None, sandbox: bool = False
    ) -> Any:
        if sandbox and cls is SubprocessExecutor:  # SubprocessExecutor(sandbox=True) is the sandbox
            return super().__new__(get_backend("sandbox"))
        return super().__new__(cls)

    def __init__(
        self, config: SubprocessConfig | None = None, *, registry: Any = None, sandbox: bool = False
    ) -> None:
        self.config = config or SubprocessConfig()
        self._registry = registry
        self.registry: Any = registry
        self.deps: Any = None
        self._host: HostNamespaces | None = None
        self._worker: WorkerProcess | None = None
        self._spare: asyncio.Task[WorkerProcess] | None = None
        self._lock = asyncio.Lock()  # one run (or reset) at a time; binds to a loop on first use
        self._start_lock = asyncio.Lock()
        self._next_id = 0
        self._started = False
        self._closed = False
        self._notices: list[str] = []  # for the next result's stderr
        self._fork_failed = False
        self._fork_request: tuple[forking.TemplateKey, dict[str, Any]] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, storage: Any = None) -> None:
        async with self._start_lock:  # concurrent starts: one worker, not two
            if not self._started and not self._closed:
                await self._start(storage)

    async def _start(self, storage: Any) -> None:
        self._host = await self._namespaces(storage)
        self.registry = self._host.registry
        self.deps = self._host.deps
        self._worker = await self._spawn()
        self._started = True
        self._warm_spare()

    def namespace_options(self) -> NamespaceOptions:
        """Deps install with the worker's interpreter; everything else from the storage."""
        c = self.config
        return NamespaceOptions(
            tools_path=c.tools_path,
            registry=self._registry,
            python=c.resolve_python(),
            allow_runtime_deps=c.allow_runtime_deps,
            deps_specs=c.deps,
            deps_file=c.deps_file,
            deps_installer=c.deps_installer,
            source_builds=False,  # no package build code chosen by the worker runs on the host
        )

    def _worker_argv(self) -> list[str]:
        assert self._host is not None
        worker_config = {
            "namespaces": self._host.names,
            "limits": self.config.limits(),
            "output_limit": self.config.output_limit,
            "max_frame": self.config.max_frame_bytes,
            "max_values": self.config.max_frame_values,
            "sys_path": [*self.config.extra_sys_path, *self._overlay()],
        }
        return [
            self.config.resolve_python(),
            "-P",  # keep the worker's own folder off sys.path
            str(WORKER_PATH),
            json.dumps(worker_config),
        ]

    def _overlay(self) -> list[str]:
        if self.deps is None:
            return []
        target = self.deps.installer.target
        target.mkdir(parents=True, exist_ok=True)
        return [str(target)]

    #: Host environment variables a worker keeps (``LC_*``-style patterns): what the
    #: interpreter, the locale and TLS need, never credentials. ``config.env`` adds more.
    ENV_ALLOW: tuple[str, ...] = (
        "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "PYTHONPATH",
        "PYTHONHOME", "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONHASHSEED", "PYTHONWARNINGS",
        "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONNOUSERSITE", "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    )  # fmt: skip

    def _worker_env(self) -> dict[str, str]:
        """The worker's environment, built from an allow-list: secrets in the host's
        environment (an API key, a tool's ``${VAR}`` credential) stay on the host. HOME is a
        private folder of this executor (removed with it), so the code neither writes into
        the user's dotfiles nor has libraries pick up credentials from them."""
        env = {
            key: value
            for key, value in os.environ.items()
            if any(fnmatch.fnmatchcase(key, pattern) for pattern in self.ENV_ALLOW)
        }
        home = getattr(self, "_worker_home", None)
        if home is None:
            home = self._worker_home = tempfile.mkdtemp(prefix="py-code-mode-home-")
            weakref.finalize(self, shutil.rmtree, home, True)
        env["HOME"] = home
        env.update(self.config.env or {})
        if self.config.memory_limit_mb:
            env.setdefault("MALLOC_ARENA_MAX", "2")  # fewer arenas: normal code fits the limit
        return env

    def _forks(self) -> bool:
        """Whether workers are forked from the host's template (else spawned, with a spare)."""
        wanted = self.config.fork_template
        if wanted is False or self._fork_failed:
            return False
        return forking.supported() and _PASSCRED

    async def _fork(self) -> WorkerProcess:
        if self._fork_request is None:  # the same for every worker of this executor
            argv = self._worker_argv()
            env = self._worker_env()
            home = env.pop("HOME")  # per session, set after the fork; the rest is the template's
            key = forking.worker_path_key(argv[0], WORKER_PATH, env)
            cwd = self.config.cwd if self.config.cwd is not None else os.getcwd()
            request = {"config": argv[-1], "home": home, "cwd": str(cwd), "argv0": str(WORKER_PATH)}
            self._fork_request = key, request
        key, request = self._fork_request
        return await WorkerProcess.fork(
            key,
            request,
            self.config.max_frame_bytes,
            self.config.startup_timeout,
            self.config.max_frame_values,
        )

    async def _spawn(self) -> WorkerProcess:
        if self.config.fork_template and not self._forks():
            raise WorkerError("fork_template=True: forking workers needs Linux with pidfds (5.3+)")
        if self._forks():
            try:
                return await self._fork()
            except WorkerError:
                if self.config.fork_template:
                    raise
                self._fork_failed = True  # no template here: spawn (and keep a spare) instead
        cwd = str(self.config.cwd) if self.config.cwd is not None else None
        return await WorkerProcess.spawn(
            # The worker dies with this process, whatever kills it (SIGTERM, SIGHUP, SIGKILL):
            # the kernel signals it when the thread that started it exits (PR_SET_PDEATHSIG).
            [*_die_with_parent(), *self._worker_argv()],
            self._worker_env(),
            cwd,
            self.config.max_frame_bytes,
            self.config.startup_timeout,
            self._pass_fds(),
            self.config.max_frame_values,
        )

    def _pass_fds(self) -> tuple[int, ...]:
        """Extra file descriptors the worker's launcher inherits (the sandbox's seccomp filter)."""
        return ()

    def _warm_spare(self) -> None:
        # A forked worker is ready in about a millisecond: no spare interpreter is kept.
        if self._forks():
            return
        if self.config.warm_spare and self._spare is None and not self._closed:
            self._spare = asyncio.create_task(self._spawn())

    async def _take_worker(self) -> WorkerProcess:
        """The current worker, or a fresh one (the warm spare when there is one). A worker
        that stopped between runs is replaced, and the next result says so."""
        if self._worker is not None and self._worker.alive:
            return self._worker
        if self._worker is not None:
            stopped = self._worker
            reason = stopped.protocol_error or await stopped.exit_description()
            await stopped.kill()
            self._worker = None
            self._notices.append(
                f"[py-code-mode] the worker stopped between runs ({reason}); this run started "
                "in a fresh worker and variables were lost\n"
            )
        worker = None
        if self._spare is not None:
            spare, self._spare = self._spare, None
            with contextlib.suppress(WorkerError):
                worker = await spare
            if worker is not None and not worker.alive:
                await worker.kill()
                worker = None
        self._worker = worker or await self._spawn()
        self._warm_spare()
        return self._worker

    async def _discard_worker(self) -> None:
        if self._worker is not None:
            await self._worker.kill()
            self._worker = None

    async def reset(self) -> None:
        """Clear user variables (the namespaces stay)."""
        if not self._started or self._closed:
            return
        async with self._lock:
            worker = await self._take_worker()
            if worker.drain_stale():
                self._next_id += 1
                try:
                    await worker.request({"op": "reset", "id": self._next_id})
                    frame = await worker.next_frame(5.0)
                    if frame.get("op") == "reset_done":
                        return
                except (TimeoutError, WorkerError):
                    pass
            await self._discard_worker()
            await self._take_worker()

    async def close(self) -> None:
        self._closed = True
        async with self._start_lock:  # a start in flight finishes first, then is undone
            pass
        was_started = self._started
        self._closed = True
        self._started = False
        await self._discard_worker()
        if was_started and self._host is not None:
            await self._host.aclose()
        if self._spare is not None:
            # Let a starting spare finish (it takes milliseconds) so that it can be killed;
            # cancelling it mid-start would orphan the process.
            spare, self._spare = self._spare, None
            with contextlib.suppress(Exception):
                worker = await spare
                await worker.kill()

    def interrupt(self) -> bool:
        """Send the running cell a KeyboardInterrupt (SIGINT to the worker, as Ctrl-C does); the
        run returns it as its error, with the output so far. False when nothing runs."""
        worker = self._worker
        if worker is None or not self._lock.locked():
            return False
        worker.interrupt()
        return True

    # --- capabilities ------------------------------------------------------------------------

    def supported_capabilities(self) -> set[str]:
        caps = {Capability.TIMEOUT, Capability.PROCESS_ISOLATION, Capability.RESET}
        if self.config.allow_runtime_deps:
            caps |= {Capability.DEPS_INSTALL, Capability.DEPS_UNINSTALL}
        if self.config.memory_limit_mb:
            caps.add(Capability.MEMORY_LIMIT)
        if self.config.cpu_limit_seconds:
            caps.add(Capability.CPU_LIMIT)
        return caps

    # --- running -----------------------------------------------------------------------------

    async def run(
        self,
        code: str,
        timeout: float | None = None,
        *,
        on_output: OutputListener | None = None,
    ) -> ExecutionResult:
        """Run ``code`` in the worker. ``on_output(stream, text)`` (``"stdout"`` or
        ``"stderr"``) is called on this event loop as the code prints, line by line, coalesced
        by the worker into a few frames a second; the result's ``stdout``/``stderr`` still hold
        all of it (capped)."""
        refused = await self._prepare_run(code, timeout)
        if refused is not None:
            return refused
        if timeout is None:
            timeout = self.config.default_timeout
        await self._lock.acquire()
        handed_over = False
        try:
            try:
                worker = await self._take_worker()
                if not worker.drain_stale():
                    await self._discard_worker()
                    worker = await self._take_worker()
                self._next_id += 1
                run_id = self._next_id
                message: dict[str, Any] = {"op": "run", "id": run_id, "code": code}
                if on_output is not None:
                    message["stream"] = True
                await worker.request(message)
            except WorkerError as exc:
                await self._discard_worker()
                return ExecutionResult(error=f"WorkerError: {exc}")
            try:
                return await self._await_result(worker, run_id, timeout, on_output)
            except asyncio.CancelledError:
                # The caller gave up: stop the code as a timeout does. The run lock passes to
                # the clean-up, so the next run starts once the worker is quiet (or replaced).
                worker.interrupt()
                asyncio.get_running_loop().create_task(self._settle_cancelled(worker, run_id))
                handed_over = True
                raise
        finally:
            if not handed_over:
                self._lock.release()

    async def _settle_cancelled(self, worker: WorkerProcess, run_id: int) -> None:
        """After a cancelled run: wait for the interrupted cell to end, else replace the worker.
        Holds the run lock until then (it was handed over by the cancelled run)."""
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.config.interrupt_grace
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    await self._discard_worker()
                    return
                try:
                    frame = await worker.next_frame(remaining)
                except TimeoutError:
                    continue
                if frame is _EOF:
                    await self._discard_worker()
                    return
                if frame.get("op") == "rpc":  # refused: the run it belongs to was cancelled
                    await worker.send(
                        {
                            "op": "rpc_result",
                            "id": frame.get("id"),
                            "ok": False,
                            "error": {"type": "KeyboardInterrupt", "message": "cancelled"},
                        }
                    )
                elif frame.get("op") == "result" and frame.get("id") == run_id:
                    worker.take_stray()
                    return
        except (WorkerError, OSError):
            await self._discard_worker()
        finally:
            self._lock.release()

    async def _await_result(
        self,
        worker: WorkerProcess,
        run_id: int,
        timeout: float | None,
        on_output: OutputListener | None = None,
    ) -> ExecutionResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        streamed = {"stdout": 0, "stderr": 0}  # what was handed on: no more than the cap
        deadline = started + timeout if timeout is not None else None
        interrupted = False
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                if not interrupted:
                    interrupted = True
                    worker.interrupt()
                    deadline = loop.time() + self.config.interrupt_grace
                    continue
                return await self._kill_after_timeout(worker, timeout, started)
            try:
                frame = await worker.next_frame(remaining)
            except TimeoutError:
                continue
            if frame is _EOF:
                return await self._worker_died(worker, started)
            op = frame.get("op")
            if op == "rpc":
                reply = await self._serve_rpc(frame, remaining, interrupted, worker.frame_size)
                try:
                    await worker.send({"op": "rpc_result", "id": frame.get("id"), **reply})
                except WorkerError:
                    continue  # the EOF frame follows
            elif op == "output":
                stream, text = frame.get("stream"), frame.get("text")
                if on_output is not None and stream in streamed and isinstance(text, str):
                    text = text[: max(0, self.config.output_limit - streamed[stream])]
                    if text:
                        streamed[stream] += len(text)
                        hand_on(on_output, stream, text)
            elif op == "note":
                host = self._host
                assert host is not None
                host.note_soon(
                    frame.get("ns"), frame.get("method"), frame.get("args"), worker.frame_size
                )
                if host.notes_waiting > _NOTES_WAITING:
                    await host.notes_settled()  # a worker that floods notes waits for them
            elif op == "result" and frame.get("id") == run_id:
                assert self._host is not None
                await self._host.notes_settled()  # a run's statistics are kept when it ends
                result = self._result(frame, worker, timeout if interrupted else None)
                degraded = frame.get("degraded")
                if degraded is not None:
                    result = await self._replace_degraded(result, str(degraded)[:500])
                return result

    async def _replace_degraded(self, result: ExecutionResult, why: str) -> ExecutionResult:
        """The worker said it cannot serve another cell: replace it now, and say so."""
        await self._discard_worker()
        note = (
            f"the worker could not go on after this run ({why}); a fresh worker was started "
            "and variables were lost"
        )
        if result.error is not None:
            return result.model_copy(update={"error": f"{result.error}; {note}"})
        return result.model_copy(update={"stderr": f"{result.stderr}[py-code-mode] {note}\n"})

    async def _serve_rpc(
        self, frame: dict[str, Any], remaining: float | None, interrupted: bool, size: int
    ) -> dict[str, Any]:
        assert self._host is not None
        if interrupted:
            return {"ok": False, "error": {"type": "KeyboardInterrupt", "message": "timed out"}}
        limit = self.config.ipc_timeout
        if remaining is not None:
            limit = remaining if limit is None else min(limit, remaining)
        call = self._host.dispatch(
            frame.get("ns"), frame.get("method"), frame.get("args"), frame.get("kwargs"), size
        )
        if limit is None:
            return await call
        try:
            # In this task (wait_for would start one per call): the call is cancelled at the
            # limit all the same.
            async with asyncio.timeout(limit):
                return await call
        except TimeoutError:
            return {
                "ok": False,
                "error": {
                    "type": "TimeoutError",
                    "message": f"{frame.get('ns')}.{frame.get('method')} timed out",
                },
            }

    def _result(
        self, frame: dict[str, Any], worker: WorkerProcess, timed_out_after: float | None
    ) -> ExecutionResult:
        limit = self.config.output_limit
        value = frame.get("value") if frame.get("has_value") else None  # decoded with the frame
        error = frame.get("error") if isinstance(frame.get("error"), str) else None
        traceback_text = _text(frame.get("traceback"), limit) or None
        if timed_out_after is not None and error is not None:
            error = f"TimeoutError: Execution timed out after {timed_out_after} seconds"
            traceback_text = None
        stderr = (
            self._take_notices(worker) + _text(frame.get("stderr"), limit) + worker.take_stray()
        )
        dropped = frame.get("value_dropped")
        if isinstance(dropped, str):
            stderr += (
                f"[py-code-mode] the value did not come back as data: {dropped[:200]}; "
                "its repr is returned instead\n"
            )
        duration = frame.get("duration_ms")
        return ExecutionResult(
            value=value,
            repr=_text(frame.get("repr"), limit) or None,
            stdout=_text(frame.get("stdout"), limit),
            stderr=stderr,
            error=error,
            traceback=traceback_text,
            duration_ms=float(duration) if isinstance(duration, (int, float)) else None,
        )

    async def _kill_after_timeout(
        self, worker: WorkerProcess, timeout: float | None, started: float
    ) -> ExecutionResult:
        await self._discard_worker()
        stray = worker.take_stray()
        return ExecutionResult(
            error=(
                f"TimeoutError: Execution timed out after {timeout} seconds; the code did not "
                "stop when interrupted, so the worker was restarted and its state was lost"
            ),
            stderr=stray,
            duration_ms=(asyncio.get_running_loop().time() - started) * 1000.0,
        )

    def _take_notices(self, worker: WorkerProcess | None) -> str:
        """What happened outside this run that its caller should know (for its stderr)."""
        notices, self._notices = "".join(self._notices), []
        return notices + (worker.take_notices() if worker is not None else "")

    async def _worker_died(self, worker: WorkerProcess, started: float) -> ExecutionResult:
        if worker.protocol_error is not None:
            what = f"the worker was stopped while running this code: {worker.protocol_error}"
        else:
            reason = await worker.exit_description()
            what = f"the worker process died while running this code ({reason})"
        await self._discard_worker()
        loop = asyncio.get_running_loop()
        return ExecutionResult(
            error=f"WorkerCrashedError: {what}; a fresh worker was started and variables were lost",
            stderr=self._take_notices(worker) + worker.take_stray(),
            duration_ms=(loop.time() - started) * 1000.0,
        )
