"""Deps: packages for the executor's code, installed into a per-base overlay folder."""

from ..errors import RuntimeDepsDisabledError
from .installer import PackageInstaller, SyncResult
from .manager import ControlledDepsNamespace, DepsManager, DepsNamespace
from .specs import spec_name, validate_spec
from .store import DepsStore, FileDepsStore, MemoryDepsStore

__all__ = [
    "ControlledDepsNamespace",
    "DepsManager",
    "DepsNamespace",
    "DepsStore",
    "FileDepsStore",
    "MemoryDepsStore",
    "PackageInstaller",
    "RuntimeDepsDisabledError",
    "SyncResult",
    "spec_name",
    "validate_spec",
]
