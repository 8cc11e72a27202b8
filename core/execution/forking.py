"""Host side of the fork-from-template worker (Linux): the templates and a forked worker's
process handle.

One template per host process and per interpreter-and-environment (``TemplateKey``): every
session with that configuration forks its workers from it, so the interpreter's pages are
shared copy-on-write instead of paid again by every session and its warm spare. See
worker/template.py for the template itself and docs/ARCHITECTURE.md for the measurements.

A forked worker is the template's child, not ours: no asyncio child watcher sees it. Its death
is learned from the status pipe the template writes when it reaps it (the wait status, so the
error still says "killed by signal SIGSEGV"), or, when the template is gone, from a pidfd
(readable once the process has ended; its status is then unknown). Signals go through the
pidfd, so a recycled pid is never signalled.
"""

from __future__ import annotations

import array
import asyncio
import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WorkerError

#: How long a fork request may take (the template answers right after fork()).
REQUEST_TIMEOUT = 10.0


def supported() -> bool:
    """Linux with pidfds (5.3+), SCM_RIGHTS and SO_PASSCRED."""
    if not sys.platform.startswith("linux"):
        return False
    if not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return False
    if not (hasattr(socket, "SOCK_SEQPACKET") and hasattr(socket, "SO_PASSCRED")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class TemplateKey:
    """What a worker inherits from the interpreter's start-up, so what templates differ by:
    the interpreter, the worker module and the environment (HOME aside: it is per session and
    set after the fork; ``PYTHON*`` and ``MALLOC_*`` act at start-up)."""

    python: str
    worker: str
    env: tuple[tuple[str, str], ...]


class Template:
    """One running template process and its control socket."""

    def __init__(self, key: TemplateKey, startup_timeout: float) -> None:
        self.key = key
        self._lock = threading.Lock()  # one request at a time on the socket, from any loop
        self._home = tempfile.mkdtemp(prefix="py-code-mode-template-")
        host_end, template_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"host_pid": os.getpid(), "control_fd": template_end.fileno()}
        env = dict(key.env)
        env["HOME"] = self._home  # no user site-packages, as for a spawned worker
        try:
            self.process = subprocess.Popen(
                [key.python, "-P", key.worker, "--template", json.dumps(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                cwd="/",  # holds no folder of anyone's
                pass_fds=(template_end.fileno(),),
                start_new_session=True,  # a terminal's Ctrl-C is not for it
            )
        except OSError as exc:
            host_end.close()
            raise WorkerError(f"Could not start the worker template ({key.python}): {exc}") from exc
        finally:
            template_end.close()
        self.control = host_end
        self.control.settimeout(startup_timeout)
        try:
            ready = self._receive()
        except (OSError, ValueError) as exc:
            self.close()
            raise WorkerError(f"The worker template did not start: {exc}") from exc
        if ready.get("op") != "ready":
            detail = self._stderr()
            self.close()
            raise WorkerError(f"The worker template did not start: {detail or ready}")
        self.pid = int(ready["pid"])
        assert self.process.stderr is not None
        self.process.stderr.close()  # from now on its stderr is /dev/null's concern
        self.control.settimeout(REQUEST_TIMEOUT)

    def _stderr(self) -> str:
        with contextlib.suppress(Exception):
            self.process.kill()
            _out, err = self.process.communicate(timeout=5)
            return (err or b"").decode("utf-8", "replace").strip()[-2000:]
        return ""

    def _receive(self) -> dict[str, Any]:
        data = self.control.recv(65536)
        if not data:
            raise ConnectionError("the template closed its socket")
        message = json.loads(data)
        if not isinstance(message, dict):
            raise ValueError("not an object")
        return message

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, request: dict[str, Any], fds: list[int]) -> int:
        """Fork a worker with these descriptors; its pid. ConnectionError: template gone."""
        data = json.dumps(request).encode("utf-8")
        with self._lock:
            try:
                self.control.sendmsg(
                    [data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                )
                reply = self._receive()
            except (OSError, ValueError) as exc:
                raise ConnectionError(f"the worker template stopped answering: {exc}") from exc
        if "pid" not in reply:
            raise WorkerError(f"The worker template could not fork: {reply.get('error')}")
        return int(reply["pid"])

    def close(self) -> None:
        """Let the template go: it exits; workers it forked go on (their host is still here)."""
        self.control.close()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        if self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(Exception):
                self.process.wait(timeout=5)
        import shutil

        shutil.rmtree(self._home, ignore_errors=True)


class TemplatePool:
    """The host's templates, one per key, started on first use and replaced when one died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._templates: dict[TemplateKey, Template] = {}
        self._starting: dict[TemplateKey, threading.Lock] = {}

    def peek(self, key: TemplateKey) -> Template | None:
        with self._lock:
            template = self._templates.get(key)
        return template if template is not None and template.alive else None

    def get(self, key: TemplateKey, startup_timeout: float) -> Template:
        """The live template for ``key``, started if needed (blocking: call it off the loop)."""
        with self._lock:
            starting = self._starting.setdefault(key, threading.Lock())
        with starting:  # two sessions that need a new template start one
            template = self.peek(key)
            if template is not None:
                return template
            with self._lock:
                old = self._templates.pop(key, None)
            if old is not None:
                old.close()
            template = Template(key, startup_timeout)
            with self._lock:
                self._templates[key] = template
            return template

    def discard(self, template: Template) -> None:
        with self._lock:
            if self._templates.get(template.key) is template:
                del self._templates[template.key]
        template.close()

    def templates(self) -> list[Template]:
        with self._lock:
            return list(self._templates.values())

    def close(self) -> None:
        with self._lock:
            templates, self._templates = list(self._templates.values()), {}
        for template in templates:
            template.close()

    def _forget(self) -> None:
        """In a child of the host (os.fork): the templates are the parent's, not ours."""
        self._lock = threading.Lock()
        self._templates = {}
        self._starting = {}


#: The host process's templates (shared by every executor, event loop and thread).
POOL = TemplatePool()
atexit.register(POOL.close)
os.register_at_fork(after_in_child=POOL._forget)


class _StrayPipe(asyncio.Protocol):
    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol  # the executor's _WorkerProtocol: fd 2 is its stray output

    def data_received(self, data: bytes) -> None:
        self.protocol.pipe_data_received(2, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.pipe_connection_lost(2, exc)


class ForkedTransport:
    """The process handle of a forked worker, shaped as the asyncio subprocess transport that
    WorkerProcess uses: pid, return code, the frame pipe (fd 0), signals, close."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, protocol: Any) -> None:
        self.loop = loop
        self._pid = pid
        self._protocol = protocol
        self._returncode: int | None = None
        self.status_unknown = False  # it ended while its template was gone
        self._pidfd: int | None = None
        self._status_fd: int | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._stray: asyncio.ReadTransport | None = None
        self._closed = False

    async def connect(self, frames_w: int, stray_r: int, status_r: int) -> None:
        """Take over the host's ends of the worker's pipes (they are closed with this)."""
        self._status_fd = status_r
        self.loop.add_reader(status_r, self._status_readable)
        try:
            self._pidfd = os.pidfd_open(self._pid)
        except ProcessLookupError:
            self._pidfd = None  # already gone (and reaped): the status pipe says how
        # The transports own the files and close them.
        frames = open(frames_w, "wb", buffering=0)  # noqa: SIM115
        stray_file = open(stray_r, "rb", buffering=0)  # noqa: SIM115
        stdin, _ = await self.loop.connect_write_pipe(asyncio.Protocol, frames)
        self._stdin = stdin
        stray, _ = await self.loop.connect_read_pipe(lambda: _StrayPipe(self._protocol), stray_file)
        self._stray = stray

    def _status_readable(self) -> None:
        assert self._status_fd is not None
        try:
            data = os.read(self._status_fd, 8)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.loop.remove_reader(self._status_fd)
        os.close(self._status_fd)
        self._status_fd = None
        if len(data) >= 4:
            self._exited(os.waitstatus_to_exitcode(int.from_bytes(data[:4], "little", signed=True)))
        elif self._pidfd is None:
            self._exited(None)
        else:  # the template is gone: the pidfd says when the process ends
            self.loop.add_reader(self._pidfd, self._pidfd_readable)

    def _pidfd_readable(self) -> None:
        assert self._pidfd is not None
        self.loop.remove_reader(self._pidfd)
        self._exited(None)

    def _exited(self, code: int | None) -> None:
        if self._returncode is not None or self.status_unknown:
            return
        if code is None:
            self.status_unknown = True
            code = 0
        self._returncode = code
        self._protocol.process_exited()

    # --- the asyncio.SubprocessTransport surface WorkerProcess uses ----------------------------

    def get_pid(self) -> int:
        return self._pid

    def get_returncode(self) -> int | None:
        return self._returncode

    def get_pipe_transport(self, fd: int) -> Any:
        return self._stdin if fd == 0 else None

    def send_signal(self, sig: int) -> None:
        if self._pidfd is None or self._returncode is not None:
            raise ProcessLookupError(self._pid)
        signal.pidfd_send_signal(self._pidfd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for transport in (self._stdin, self._stray):
            if transport is not None:
                transport.close()
        if self._status_fd is not None:
            self.loop.remove_reader(self._status_fd)
            os.close(self._status_fd)
            self._status_fd = None
        if self._pidfd is not None:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


async def fork_worker(
    key: TemplateKey, request: dict[str, Any], fds: list[int], startup_timeout: float
) -> int:
    """Fork a worker from the host's template for ``key`` (started, or restarted once, as
    needed); its pid."""
    for attempt in range(2):
        template = POOL.peek(key)
        if template is None:
            template = await asyncio.to_thread(POOL.get, key, startup_timeout)
        try:
            return template.fork(request, fds)
        except ConnectionError as exc:
            POOL.discard(template)
            if attempt:
                raise WorkerError(f"Could not fork a worker: {exc}") from exc
    raise AssertionError("unreachable")


def worker_path_key(python: str, worker: Path, env: dict[str, str]) -> TemplateKey:
    return TemplateKey(python, str(worker), tuple(sorted(env.items())))
