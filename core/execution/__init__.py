"""Executors: where and how a session's code runs."""

from .container import ContainerConfig, ContainerExecutor
from .in_process import InProcessConfig, InProcessExecutor
from .protocol import Capability, Executor, get_backend, list_backends, register_backend
from .sandbox import SandboxConfig, SandboxExecutor
from .subprocess_executor import SubprocessConfig, SubprocessExecutor

SUBPROCESS_AVAILABLE = True
CONTAINER_AVAILABLE = True  # the executor exists; start() says if Docker is missing

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
