"""Storage backends: where skills, artifacts and recorded deps live."""

from .file import FileStorage
from .protocol import StorageBackend

__all__ = ["FileStorage", "StorageBackend"]
