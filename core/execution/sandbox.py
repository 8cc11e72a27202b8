"""SandboxExecutor: the subprocess worker inside bubblewrap, for untrusted code.

The worker sees a read-only system, a private writable workspace (``/tmp/workspace``), its own
PID, IPC, UTS and network namespaces (no network unless ``network=True``), no host environment
variables beyond an allow-list, and none of the host's home folders or the storage folder. It
dies with its parent. When the host runs as root, the worker drops to an unprivileged uid/gid
of its own (one per executor, so kernel limits such as RLIMIT_NPROC are per session).

Without bubblewrap (or without the kernel features it needs) the executor refuses to start
with an error that says how to fix it; it never falls back to running unsandboxed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WorkerError
from . import seccomp
from .protocol import Capability
from .subprocess_executor import WORKER_PATH, SubprocessConfig, SubprocessExecutor, WorkerProcess

WORKSPACE = "/tmp/workspace"
_INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and make sure the kernel "
    "allows mount and PID namespaces (in a container: run it with --privileged or "
    "--security-opt seccomp=unconfined)"
)


@dataclass(frozen=True)
class SandboxConfig(SubprocessConfig):
    """A SubprocessConfig plus the sandbox's own settings."""

    network: bool = False
    uid: int | None = None  # None: a fresh unprivileged uid when the host is root
    gid: int | None = None
    env_allow: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
    hide: tuple[str, ...] = ("/root", "/home", "/srv", "/var/lib", "/run/secrets")
    max_processes: int | None = 256
    seccomp: bool = True  # refuse ptrace, mount, namespaces, kernel modules, bpf, ... (x86_64)


def _descendants(pid: int) -> list[int]:
    """Host pids below ``pid``, parents first (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        for child in children.get(current, []):
            out.append(child)
            queue.append(child)
    return out


class SandboxExecutor(SubprocessExecutor):
    """Runs code in a bubblewrap sandbox (same frames and host channel as SubprocessExecutor)."""

    config_class: type[SubprocessConfig] = SandboxConfig

    def __init__(
        self, config: SubprocessConfig | None = None, *, registry: Any = None, sandbox: bool = True
    ) -> None:
        if config is not None and not isinstance(config, SandboxConfig):
            # SubprocessExecutor(config, sandbox=True): keep every setting, add the sandbox's.
            from dataclasses import fields

            config = SandboxConfig(
                **{f.name: getattr(config, f.name) for f in fields(SubprocessConfig)}
            )
        super().__init__(config or SandboxConfig(), registry=registry)
        self.config: SandboxConfig
        self._workspace: Path | None = None
        self._storage_root: Path | None = None
        self._seccomp_fd: int | None = None
        self._spawn_lock = asyncio.Lock()
        self._filter = (
            seccomp.build_filter() if self.config.seccomp and seccomp.supported() else b""
        )
        as_root = os.geteuid() == 0
        uid = (
            self.config.uid
            if self.config.uid is not None
            else (random.randint(200_000, 260_000) if as_root else None)
        )
        gid = self.config.gid if self.config.gid is not None else uid
        self.uid, self.gid = uid, gid

    @staticmethod
    def check() -> str | None:
        """None when sandboxes can start here, else what is missing."""
        binary = shutil.which("bwrap")
        if binary is None:
            return f"bubblewrap (bwrap) is not installed: {_INSTALL_HINT}"
        probe = [binary, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid",
                 "--unshare-net", "--die-with-parent", "true"]  # fmt: skip
        try:
            result = subprocess.run(probe, capture_output=True, text=True, timeout=15)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not run: {exc}; {_INSTALL_HINT}"
        if result.returncode != 0:
            return f"bubblewrap cannot create a sandbox here ({result.stderr.strip()}); {_INSTALL_HINT}"
        return None

    async def start(self, storage: Any = None) -> None:
        if self._started:
            return
        problem = self.check()
        if problem is not None:
            raise WorkerError(f"SandboxExecutor cannot start: {problem}")
        root = getattr(storage, "root", None)
        self._storage_root = Path(root) if root is not None else None
        self._workspace = Path(tempfile.mkdtemp(prefix="py-code-mode-sandbox-"))
        if self.uid is not None and os.geteuid() == 0:
            os.chown(self._workspace, self.uid, self.gid or self.uid)
        await super().start(storage)

    async def close(self) -> None:
        await super().close()
        if self._workspace is not None:
            shutil.rmtree(self._workspace, ignore_errors=True)

    def supported_capabilities(self) -> set[str]:
        caps = super().supported_capabilities() | {Capability.FILESYSTEM_ISOLATION}
        if not self.config.network:
            caps.add(Capability.NETWORK_ISOLATION)
        return caps

    def _needed_paths(self) -> list[str]:
        """What the worker must read even when it lies under a hidden folder."""
        python = Path(self.config.resolve_python())
        paths = {sys.base_prefix, sys.prefix, str(python.parent.parent), str(python.resolve().parent.parent),
                 str(WORKER_PATH.parent.parent)}  # fmt: skip
        # The interpreter's own library folders; not the host's whole sys.path (which holds the
        # current directory, possibly a private checkout that must stay unreadable).
        import sysconfig

        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            with contextlib.suppress(KeyError):
                paths.add(sysconfig.get_paths()[key])
        paths.update(
            p
            for p in sys.path
            if p and os.path.isdir(p) and ("-packages" in p or p.startswith(sys.base_prefix))
        )
        if self.deps is not None:
            paths.add(str(self.deps.installer.target))
        return sorted(p for p in paths if os.path.exists(p))

    def _worker_argv(self) -> list[str]:
        inner = super()._worker_argv()
        bwrap = shutil.which("bwrap") or "bwrap"
        argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        hidden = [h for h in self.config.hide if os.path.isdir(h)]
        if self._storage_root is not None and self._storage_root.is_dir():
            hidden.append(str(self._storage_root))
        for path in hidden:
            argv += ["--tmpfs", path]
        covered = [*hidden, "/tmp"]  # /tmp is a fresh tmpfs too (a venv may live there)
        made: set[str] = set()
        for path in self._needed_paths():
            root = next(
                (h for h in covered if path == h or path.startswith(h.rstrip("/") + "/")), None
            )
            if root is None:
                continue
            # Create the parents on the tmpfs as traversable (bwrap would copy a 0700 mode).
            for parent in reversed(Path(path).parents):
                text = str(parent)
                if len(text) > len(root.rstrip("/")) and text not in made:
                    made.add(text)
                    argv += ["--perms", "0755", "--dir", text]
            argv += ["--ro-bind", path, path]
        argv += ["--bind", str(self._workspace), WORKSPACE, "--chdir", WORKSPACE]
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.config.network:
            argv.append("--unshare-net")
        argv += ["--die-with-parent", "--new-session", "--clearenv"]
        if self._seccomp_fd is not None:
            argv += ["--seccomp", str(self._seccomp_fd)]
        env = {k: os.environ[k] for k in self.config.env_allow if k in os.environ}
        env.update({"HOME": WORKSPACE, "TMPDIR": WORKSPACE, "PYTHONDONTWRITEBYTECODE": "1"})
        if self.config.memory_limit_mb:
            env["MALLOC_ARENA_MAX"] = "2"
        env.update(self.config.env or {})
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv.append("--")
        if self.uid is not None and os.geteuid() == 0:
            uid, gid = self._fresh_ids()
            argv += ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]  # fmt: skip
        return argv + inner

    def _fresh_ids(self) -> tuple[int, int]:
        """A new uid/gid per worker: what a dying worker leaves behind (a fork bomb's last
        processes) never counts against the next one's process limit."""
        if self.config.uid is not None:
            return (
                self.config.uid,
                self.config.gid if self.config.gid is not None else self.config.uid,
            )
        uid = random.randint(200_000, 260_000)
        if self._workspace is not None:
            os.chown(self._workspace, uid, uid)
        return uid, uid

    def _pass_fds(self) -> tuple[int, ...]:
        return (self._seccomp_fd,) if self._seccomp_fd is not None else ()

    async def _spawn(self) -> WorkerProcess:
        async with self._spawn_lock:
            # bwrap reads the filter from an inherited descriptor, once per sandbox.
            if self.config.seccomp and seccomp.supported():
                read_end, write_end = os.pipe()
                os.write(write_end, self._filter)
                os.close(write_end)
                self._seccomp_fd = read_end
            try:
                worker = await super()._spawn()
            finally:
                if self._seccomp_fd is not None:
                    os.close(self._seccomp_fd)
                    self._seccomp_fd = None
        # SIGINT must reach the Python worker itself, not bwrap: find its host pid.
        for pid in reversed(_descendants(worker.pid)):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if WORKER_PATH.name.encode() in fh.read():
                        worker.signal_pid = pid
                        break
            except OSError:
                continue
        return worker
