"""The template: a pre-imported worker interpreter that forks a fresh worker per request.

Started once per host process and interpreter configuration (``__main__.py --template``), it
imports everything a worker needs, freezes the garbage collector's view of those objects (so
that a forked child does not copy the pages to scan them), and then only waits. Each request
on its control socket (``SOCK_SEQPACKET``) carries the worker's configuration and, as
``SCM_RIGHTS``, the four descriptors the host made for it: the frame pipe (fd 0), the channel
socket (fd 1), the stray-output pipe (fd 2) and a status pipe the template keeps. The forked
child becomes a worker of its own: a new session and process group, every other descriptor
closed (nothing of another session's channel survives), its environment, working folder and
limits set, then the same ``process.main`` a spawned worker runs. The template answers with
the child's pid (the host pins the channel to it; the kernel stamps every write with the
writer's pid) and, once it reaps the child, writes its wait status to the status pipe.

Dying with the host: a child's parent is the template, so ``PR_SET_PDEATHSIG`` would tie it to
the template, and killing the template would kill every session's worker. Instead every worker
holds a pidfd of the host and a thread (all signals blocked) that waits on it and kills the
worker's process group when the host ends. The template also watches that pidfd and stops its
children, and exits when the host closes the control socket (its live children go on: each
one's channel is the host's, not the template's).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no enum conversion
import _thread
import array
import contextlib
import gc
import json
import os
import select
import signal
import socket
import sys
from typing import Any

from . import process

_MAX_REQUEST = 1 << 20
_FDS = 4  # frame pipe, channel socket, stray pipe, status pipe


def _fd_limit() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536


def _watch_host(host_pidfd: int) -> None:
    """Wait for the host to end, then kill this worker's process group (its children too)."""
    poller = select.poll()
    poller.register(host_pidfd, select.POLLIN)
    try:
        events = poller.poll()  # keeps waiting on the pidfd even if the code closes the fd
    except OSError:
        return
    if any(mask & select.POLLIN for _fd, mask in events):
        os.killpg(os.getpid(), signal.SIGKILL)


#: Every signal, as plain numbers (``_signal``: no enum conversion, which costs 0.3 ms).
_ALL_SIGNALS = _signal.valid_signals()


def _start_watcher(host_pidfd: int) -> None:
    # The thread inherits this mask: a SIGINT must reach the main thread (where the cell runs
    # and waits), never this one.
    old = _signal.pthread_sigmask(signal.SIG_BLOCK, _ALL_SIGNALS)
    try:
        _thread.start_new_thread(_watch_host, (host_pidfd,))
    finally:
        _signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _become_worker(request: dict[str, Any], fds: list[int], host_pidfd: int) -> int:
    """In the forked child: take on the worker's own session, descriptors and environment."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # its own session and process group: killed as a whole, away from the others
    frames, channel, stray, _status = fds
    os.dup2(frames, 0)
    os.dup2(channel, 1)
    os.dup2(stray, 2)
    # Everything else goes: the template's control socket and other sessions' status pipes.
    os.closerange(3, host_pidfd)
    os.closerange(host_pidfd + 1, _fd_limit())
    # The template started with this worker's environment (it is the template's key), all but
    # HOME, which is the session's own.
    os.environ["HOME"] = str(request["home"])
    cwd = request.get("cwd")
    if cwd:
        os.chdir(cwd)
    config = str(request.get("config") or "{}")
    sys.argv[:] = [str(request.get("argv0") or sys.argv[0]), config]
    _start_watcher(host_pidfd)
    return process.main(["worker", config])


class Template:
    def __init__(self, control: socket.socket, host_pidfd: int) -> None:
        self.control = control
        self.host_pidfd = host_pidfd
        self.children: dict[int, int] = {}  # pid -> its status pipe
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # wakes the poll below

    def serve(self) -> None:
        poller = select.poll()
        for fd in (self.control.fileno(), self.host_pidfd, self.wake_r):
            poller.register(fd, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self.wake_r in ready:
                os.read(self.wake_r, 4096)
            self.reap()
            if self.host_pidfd in ready:  # the host ended: so do its workers
                for pid in list(self.children):
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
                return
            if self.control.fileno() in ready and not self.handle():
                return  # the host let go of this template; its children go on

    def handle(self) -> bool:
        try:
            data, ancillary, _flags, _addr = self.control.recvmsg(
                _MAX_REQUEST, socket.CMSG_SPACE(_FDS * 4)
            )
        except InterruptedError:
            return True
        if not data:
            return False
        fds = array.array("i")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        try:
            request = json.loads(data)
            if len(fds) != _FDS or not isinstance(request, dict):
                raise ValueError("a request holds a JSON object and four descriptors")
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    self.control.detach()  # closed below with every other descriptor
                    code = _become_worker(request, list(fds), self.host_pidfd)
                finally:
                    for stream in (sys.stdout, sys.stderr):
                        with contextlib.suppress(Exception):
                            stream.flush()
                    os._exit(code)
            self.children[pid] = fds[3]
            reply: dict[str, Any] = {"pid": pid}
        except Exception as exc:  # the host hears why, and the template goes on
            reply = {"error": f"{type(exc).__name__}: {exc}"}
            if len(fds) > 3:
                os.close(fds[3])
        finally:
            for fd in fds[:3]:
                os.close(fd)
        self.control.send(json.dumps(reply).encode())
        return True

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            status_fd = self.children.pop(pid, None)
            if status_fd is not None:
                with contextlib.suppress(OSError):
                    os.write(status_fd, status.to_bytes(4, "little", signed=True))
                os.close(status_fd)


def main(argv: list[str]) -> int:
    config = json.loads(argv[2])
    host_pid = int(config["host_pid"])
    if os.getppid() != host_pid:
        return 2  # the host is already gone
    host_pidfd = os.pidfd_open(host_pid)
    control = socket.socket(fileno=int(config["control_fd"]))
    import faulthandler  # noqa: F401  what a worker imports at start (see process.main)
    import resource  # noqa: F401

    # The worker's lazy imports that every cell needs, loaded once here for all children.
    from . import cells, errors, namespaces, skills, surface, wire  # noqa: F401

    gc.collect()
    gc.freeze()  # children never scan (so never copy) the template's objects
    template = Template(control, host_pidfd)
    control.send(json.dumps({"op": "ready", "pid": os.getpid()}).encode())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # the host stops reading start-up errors here
    os.close(devnull)
    template.serve()
    return 0
