"""ContainerExecutor: the same worker and host channel, inside a Docker container — or, with
``remote_url``, a Session run by a session server over HTTP (no Docker on the client).

``docker run -i`` speaks the same length-prefixed frames over the container's stdin/stdout as
a subprocess worker does over its pipes (chosen over the reference's HTTP session server: one
protocol, the host keeps storage, tools and credentials, nothing listens on a port). The host's
package folder is mounted read-only so worker and host always match; the image needs only
Python >= 3.11. Limits come from the config: memory (swap equal), CPU quota, process count,
no network, read-only root with a tmpfs, an unprivileged user, all capabilities dropped.

Without Docker (or with its daemon down) the executor is constructed normally and refuses to
start with an error that says what is missing.

With ``remote_url`` the executor is a client of ``py-code-mode serve`` (or the reference's
``uvicorn py_code_mode.execution.container.server:app``): runs, resets and the tools and deps
facades go to one server session (``X-Session-ID``); the server owns its storage, as in the
reference, so the Session's own storage serves only its skills and artifacts facades (share it:
RedisStorage on the server's Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigurationError, RemoteSessionError, WorkerError
from ...types import ExecutionResult
from ..protocol import Capability
from ..subprocess_executor import WORKER_PATH, SubprocessConfig, SubprocessExecutor, WorkerProcess
from .image import DEFAULT_IMAGE

PACKAGE_MOUNT = "/opt/py_code_mode"


@dataclass(frozen=True)
class ContainerConfig(SubprocessConfig):
    """The reference project's ContainerConfig fields, on top of the subprocess settings."""

    image: str = DEFAULT_IMAGE
    auto_build: bool = False
    port: int = 0
    host: str = "localhost"
    timeout: float = 30.0
    startup_timeout: float = 60.0
    health_check_interval: float = 0.5
    environment: dict[str, str] = field(default_factory=dict)
    remove_on_exit: bool = True
    name: str | None = None
    auth_token: str | None = None
    auth_disabled: bool = False
    remote_url: str | None = None
    network_disabled: bool = True
    memory_limit: str | int | None = "1g"
    cpu_quota: float | None = None  # CPUs, e.g. 1.5
    pids_limit: int | None = 256
    user: str = "65534:65534"
    read_only: bool = True
    docker: str = "docker"


def docker_problem(docker: str = "docker") -> str | None:
    """None when a Docker daemon answers, else what is missing."""
    binary = shutil.which(docker)
    if binary is None:
        return "the docker client is not installed (Debian: apt-get install docker.io)"
    try:
        result = subprocess.run(
            [binary, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker did not answer: {exc}"
    if result.returncode != 0:
        return f"the Docker daemon is not running ({result.stderr.strip()[:300]}); start dockerd"
    return None


def image_present(image: str, docker: str = "docker") -> bool:
    result = subprocess.run([docker, "image", "inspect", image], capture_output=True, timeout=20)
    return result.returncode == 0


class ContainerExecutor(SubprocessExecutor):
    """Runs code in a container, one long-lived ``docker run -i`` worker per session."""

    config_class: type[SubprocessConfig] = ContainerConfig

    def __init__(self, config: ContainerConfig | None = None, *, registry: Any = None) -> None:
        if config is None:
            raise TypeError("ContainerExecutor needs a ContainerConfig (image, limits, ...)")
        super().__init__(config, registry=registry)
        self.config: ContainerConfig
        self._remote: Any = None  # a SessionClient when remote_url is set
        self._remote_capabilities: set[str] = set()

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> ContainerExecutor:
        raise TypeError(
            "ContainerExecutor.create() is gone; use ContainerExecutor(ContainerConfig(...))"
        )

    async def start(self, storage: Any = None) -> None:
        if self._started:
            return
        if self.config.remote_url:
            async with self._start_lock:
                if not self._started:
                    await self._start_remote()
            return
        problem = await asyncio.to_thread(docker_problem, self.config.docker)
        if problem is not None:
            raise WorkerError(f"ContainerExecutor cannot start: {problem}")
        if not await asyncio.to_thread(image_present, self.config.image, self.config.docker):
            raise WorkerError(
                f"ContainerExecutor cannot start: image {self.config.image!r} is not present; build it "
                "with `py-code-mode container build` (offline: see docs/executors.md)"
            )
        await super().start(storage)

    async def _start_remote(self) -> None:
        """Reach the server once (its address and the token are checked here, not at the first
        run) and take its tool list and capabilities."""
        from .client import SessionClient, SyncSessionClient

        c = self.config
        assert c.remote_url is not None
        client = SessionClient(c.remote_url, timeout=c.timeout, auth_token=c.auth_token)
        try:
            info = await client.info_raw()
            tools = await client.list_tools()
        except BaseException:
            await client.close()
            raise
        blocking = SyncSessionClient(
            c.remote_url, timeout=c.timeout, session_id=client.session_id, auth_token=c.auth_token
        )
        self.registry = _RemoteTools(blocking, tools)
        self.deps = _RemoteDeps(blocking)
        self._remote_capabilities = set(info.get("capabilities") or ())
        self._remote = client
        self._started = True

    async def run(
        self, code: str, timeout: float | None = None, *, on_output: Any = None
    ) -> ExecutionResult:
        if not self.config.remote_url:
            return await super().run(code, timeout, on_output=on_output)
        # A session server answers a run as a whole: nothing is streamed to ``on_output``.
        early = await self._prepare_run(code)
        if early is not None:
            return early
        wanted = timeout if timeout is not None else self.config.default_timeout
        try:
            result = await self._remote.execute(code, timeout=wanted)
        except RemoteSessionError as exc:  # runs never raise: the refusal is the result
            return ExecutionResult(error=f"{type(exc).__name__}: {exc}")
        return result.to_execution_result()  # type: ignore[no-any-return]

    async def reset(self) -> None:
        if not self.config.remote_url:
            await super().reset()
        elif self._remote is not None:
            await self._remote.reset()

    def supported_capabilities(self) -> set[str]:
        if self.config.remote_url:
            return set(self._remote_capabilities)
        caps = super().supported_capabilities() | {
            Capability.CONTAINER_ISOLATION,
            Capability.FILESYSTEM_ISOLATION,
        }
        if self.config.network_disabled:
            caps.add(Capability.NETWORK_ISOLATION)
        if self.config.cpu_quota:
            caps.add(Capability.CPU_LIMIT)
        return caps

    def _worker_argv(self) -> list[str]:
        c = self.config
        name = f"{c.name or 'py-code-mode'}-{uuid.uuid4().hex[:10]}"
        self._next_name = name
        argv = [c.docker, "run", "-i", "--pull", "never", "--name", name, "--log-driver", "none",
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", c.user]  # fmt: skip
        if c.remove_on_exit:
            argv.append("--rm")
        if c.network_disabled:
            argv += ["--network", "none"]
        if c.memory_limit:
            memory = (
                f"{c.memory_limit}m" if isinstance(c.memory_limit, int) else str(c.memory_limit)
            )
            argv += ["--memory", memory, "--memory-swap", memory]
        if c.cpu_quota:
            argv += ["--cpus", str(c.cpu_quota)]
        if c.pids_limit:
            argv += ["--pids-limit", str(c.pids_limit)]
        if c.read_only:
            argv += ["--read-only", "--tmpfs", "/tmp:rw,exec,size=256m", "--workdir", "/tmp"]
        for key, value in {**c.environment, "PYTHONDONTWRITEBYTECODE": "1"}.items():
            argv += ["-e", f"{key}={value}"]
        package = WORKER_PATH.parent.parent
        argv += ["-v", f"{package}:{PACKAGE_MOUNT}:ro"]
        if self.deps is not None:
            overlay = self.deps.installer.target
            overlay.mkdir(parents=True, exist_ok=True)
            argv += ["-v", f"{overlay}:/opt/deps:ro"]
        inner = super()._worker_argv()
        config_json = inner[-1].replace(
            str(self.deps.installer.target) if self.deps is not None else "\0", "/opt/deps"
        )
        return [
            *argv,
            c.image,
            "python3",
            "-P",
            f"{PACKAGE_MOUNT}/{WORKER_PATH.relative_to(package).as_posix()}",
            config_json,
        ]

    def _worker_env(self) -> dict[str, str]:
        # This is the docker client's environment (DOCKER_HOST, its config in HOME), not the
        # container's: the worker gets only ``ContainerConfig.environment`` (``-e``).
        return dict(os.environ)

    async def _spawn(self) -> WorkerProcess:
        try:
            worker = await super()._spawn()
        except WorkerError:
            await self._remove(getattr(self, "_next_name", None))
            raise
        worker.container_name = self._next_name  # type: ignore[attr-defined]
        worker.wrapped = True
        return worker

    async def _discard_worker(self) -> None:
        worker = self._worker
        await super()._discard_worker()
        if worker is not None:
            await self._remove(getattr(worker, "container_name", None))

    async def close(self) -> None:
        if self.config.remote_url:
            await self._close_remote()
            return
        spare = self._spare
        await super().close()
        if (
            spare is not None
            and spare.done()
            and not spare.cancelled()
            and spare.exception() is None
        ):
            await self._remove(getattr(spare.result(), "container_name", None))

    async def _remove(self, name: str | None) -> None:
        """Killing the docker client does not stop its container: remove it explicitly."""
        if not name:
            return
        with contextlib.suppress(Exception):
            proc = await asyncio.create_subprocess_exec(
                self.config.docker, "rm", "-f", name,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.wait_for(proc.wait(), 20)

    async def _close_remote(self) -> None:
        self._closed = True
        self._started = False
        client, self._remote = self._remote, None
        if client is None:
            return
        with contextlib.suppress(RemoteSessionError):  # the server frees it when idle anyway
            await client.close_session()
        await client.close()
        if isinstance(self.deps, _RemoteDeps):
            self.deps.client.close()


class _Record(dict):  # type: ignore[type-arg]
    """A server's JSON object as the facade reads records: ``to_dict()`` and attributes."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


class _RemoteTools:
    """The server's tools, shaped as the registry the Session's tool facade reads."""

    def __init__(self, client: Any, tools: list[dict[str, Any]]) -> None:
        self.client = client
        self._tools = [_Record(t) for t in tools]

    def list_tools(self, scope: Any = None) -> list[_Record]:
        return list(self._tools)

    def search(self, query: str, limit: int = 10) -> list[_Record]:
        found = self.client.call(
            "GET", "/api/tools/search", params={"query": query, "limit": limit}
        )
        return [_Record(t) for t in found]

    def describe(self, name: str | None = None) -> str:
        return "\n".join(
            f"- {t['name']}: {t.get('description', '')}"
            for t in self._tools
            if name is None or t["name"] == name
        )

    def register_callable(self, *args: Any, **kwargs: Any) -> None:
        raise ConfigurationError(
            "a session on a remote server cannot take Python tools from the client: put the "
            "tool in the server's tools folder (YAML), or run the session locally"
        )

    register_framework_tool = register_callable


class _RemoteDeps:
    """The server's deps, shaped as the DepsManager the Session's deps facade calls."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def list(self) -> list[str]:
        return list(self.client.call("GET", "/api/deps"))

    def add(self, spec: str) -> _Record:
        return _Record(
            self.client.call("POST", "/api/deps/add", json={"package": spec}, timeout=300)
        )

    def remove_report(self, name: str) -> dict[str, Any]:
        return dict(self.client.call("POST", "/api/deps/remove", json={"package": name}))

    def sync(self) -> _Record:
        return _Record(self.client.call("POST", "/api/deps/sync", timeout=600))
