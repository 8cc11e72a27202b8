"""py-code-mode: let AI agents write Python with tools, skills, artifacts and deps.

The public API is re-exported here lazily (PEP 562), so ``import py_code_mode`` stays fast (code
in a worker that imports ``py_code_mode.errors`` loads nothing else).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Session": ".session",
    "SyncSession": ".session",
    "create_session": ".factory",
    "ExecutionResult": ".types",
    "Artifact": ".types",
    "JsonSchema": ".types",
    "FileStorage": ".storage.file",
    "RedisStorage": ".storage.redis",
    "StorageUnavailable": ".storage.redis",
    "StorageBackend": ".storage.protocol",
    "Executor": ".execution.protocol",
    "Capability": ".execution.protocol",
    "InProcessExecutor": ".execution.in_process",
    "InProcessConfig": ".execution.in_process",
    "SubprocessExecutor": ".execution.subprocess_executor",
    "SubprocessConfig": ".execution.subprocess_executor",
    "SandboxExecutor": ".execution.sandbox",
    "SandboxConfig": ".execution.sandbox",
    "SUBPROCESS_AVAILABLE": ".execution",
    "CONTAINER_AVAILABLE": ".execution",
}
_ERRORS = [
    "CodeModeError",
    "ConfigurationError",
    "MissingPackageError",
    "ExecutionError",
    "WorkerError",
    "StorageError",
    "StorageReadError",
    "StorageWriteError",
    "ToolError",
    "ToolNotFoundError",
    "ToolCallError",
    "ToolTimeoutError",
    "SkillError",
    "SkillNotFoundError",
    "SkillValidationError",
    "SkillExecutionError",
    "ArtifactError",
    "ArtifactNotFoundError",
    "ArtifactNameError",
    "ArtifactWriteError",
    "DepsError",
    "DependencyError",
    "RuntimeDepsDisabledError",
    "SessionError",
    "SessionLoopError",
]
_EXPORTS.update({name: ".errors" for name in _ERRORS})

_EXPORTS.update(
    {"ContainerExecutor": ".execution.container", "ContainerConfig": ".execution.container"}
)

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from ._version import package_version

        globals()[name] = value = package_version()
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'py_code_mode' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .errors import *  # noqa: F403
    from .execution import CONTAINER_AVAILABLE, SUBPROCESS_AVAILABLE
    from .execution.container import ContainerConfig, ContainerExecutor
    from .execution.in_process import InProcessConfig, InProcessExecutor
    from .execution.protocol import Capability, Executor
    from .execution.sandbox import SandboxConfig, SandboxExecutor
    from .execution.subprocess_executor import SubprocessConfig, SubprocessExecutor
    from .factory import create_session
    from .session import Session, SyncSession
    from .storage.file import FileStorage
    from .storage.protocol import StorageBackend
    from .storage.redis import RedisStorage, StorageUnavailable
    from .types import Artifact, ExecutionResult, JsonSchema
