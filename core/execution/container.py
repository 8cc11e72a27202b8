"""ContainerExecutor: the same worker and host channel, inside a Docker container.

``docker run -i`` speaks the same length-prefixed frames over the container's stdin/stdout as
a subprocess worker does over its pipes (chosen over the reference's HTTP session server: one
protocol, the host keeps storage, tools and credentials, nothing listens on a port). The host's
package folder is mounted read-only so worker and host always match; the image needs only
Python >= 3.11. Limits come from the config: memory (swap equal), CPU quota, process count,
no network, read-only root with a tmpfs, an unprivileged user, all capabilities dropped.

Without Docker (or with its daemon down) the executor is constructed normally and refuses to
start with an error that says what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WorkerError
from .protocol import Capability
from .subprocess_executor import WORKER_PATH, SubprocessConfig, SubprocessExecutor, WorkerProcess

DEFAULT_IMAGE = "py-code-mode-tools:latest"
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

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> ContainerExecutor:
        raise TypeError(
            "ContainerExecutor.create() is gone; use ContainerExecutor(ContainerConfig(...))"
        )

    async def start(self, storage: Any = None) -> None:
        if self._started:
            return
        if self.config.remote_url:
            raise WorkerError(
                "remote_url session servers are not supported; run the container locally"
            )
        problem = await asyncio.to_thread(docker_problem, self.config.docker)
        if problem is not None:
            raise WorkerError(f"ContainerExecutor cannot start: {problem}")
        if not await asyncio.to_thread(image_present, self.config.image, self.config.docker):
            raise WorkerError(
                f"ContainerExecutor cannot start: image {self.config.image!r} is not present; build it "
                "with `py-code-mode container build` (offline: see docs/executors.md)"
            )
        await super().start(storage)

    def supported_capabilities(self) -> set[str]:
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


def build_image(
    image: str = DEFAULT_IMAGE, base: str = "py-code-mode-base:bookworm", docker: str = "docker"
) -> None:
    """Build the worker image from ``docker/Dockerfile`` on top of ``base`` (classic builder)."""
    root = Path(__file__).resolve().parents[2]
    dockerfile = root / "docker" / "Dockerfile"
    if not dockerfile.is_file():
        raise FileNotFoundError(f"{dockerfile} is missing (build from a source checkout)")
    subprocess.run(
        [docker, "build", "--pull=false", "-f", str(dockerfile), "--build-arg", f"BASE={base}", "-t", image, str(root)],
        check=True, env={"DOCKER_BUILDKIT": "0", **__import__("os").environ},
    )  # fmt: skip
