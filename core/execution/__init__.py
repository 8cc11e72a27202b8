"""Executors: where and how a session's code runs."""

from typing import Any

from .container import ContainerConfig, ContainerExecutor
from .in_process import InProcessConfig, InProcessExecutor
from .protocol import Capability, Executor, get_backend, list_backends, register_backend
from .sandbox import SandboxConfig, SandboxExecutor
from .subprocess_executor import SubprocessConfig, SubprocessExecutor

#: The subprocess executor needs only the standard library: always there.
SUBPROCESS_AVAILABLE = True


def __getattr__(name: str) -> Any:
    # As in the reference: whether the container executor can work here (a docker client on
    # PATH, or a remote_url to a session server). Looked up when asked, not at import.
    if name == "CONTAINER_AVAILABLE":
        import shutil

        return shutil.which("docker") is not None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register_backend("in-process", InProcessExecutor)
register_backend("subprocess", SubprocessExecutor)
register_backend("sandbox", SandboxExecutor)
register_backend("container", ContainerExecutor)

__all__ = [
    "CONTAINER_AVAILABLE",
    "SUBPROCESS_AVAILABLE",
    "Capability",
    "ContainerConfig",
    "ContainerExecutor",
    "Executor",
    "InProcessConfig",
    "InProcessExecutor",
    "SandboxConfig",
    "SandboxExecutor",
    "SubprocessConfig",
    "SubprocessExecutor",
    "get_backend",
    "list_backends",
    "register_backend",
]
