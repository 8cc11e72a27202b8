"""Executors: where and how a session's code runs."""

from .in_process import InProcessConfig, InProcessExecutor
from .protocol import Capability, Executor, get_backend, list_backends, register_backend
from .sandbox import SandboxConfig, SandboxExecutor
from .subprocess_executor import SubprocessConfig, SubprocessExecutor

SUBPROCESS_AVAILABLE = True
CONTAINER_AVAILABLE = False

register_backend("in-process", InProcessExecutor)
register_backend("subprocess", SubprocessExecutor)
register_backend("sandbox", SandboxExecutor)

__all__ = [
    "CONTAINER_AVAILABLE",
    "SUBPROCESS_AVAILABLE",
    "Capability",
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
