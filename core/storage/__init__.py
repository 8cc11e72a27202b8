"""Storage backends: where skills, artifacts and recorded deps live."""

from typing import Any

from .file import FileStorage
from .protocol import StorageBackend

__all__ = ["FileStorage", "RedisStorage", "StorageBackend", "StorageUnavailable"]


def __getattr__(name: str) -> Any:
    if name in (
        "RedisStorage",
        "StorageUnavailable",
        "RedisSkillStore",
        "RedisArtifactStore",
        "RedisDepsStore",
    ):
        from . import redis

        return getattr(redis, name)
    raise AttributeError(name)
