"""Artifacts as files: ``{artifacts}/{name}`` plus an index ``.artifacts.json``.

The index maps each name to ``{description, created_at, metadata}`` (metadata carries the
internal ``_data_type``), as in the reference project, so existing folders keep working. Data is
written first, then the index, each atomically, under an inter-process lock.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._fileio import atomic_write, file_lock
from ..errors import (
    ArtifactNameError,
    ArtifactNotFoundError,
    ArtifactWriteError,
    StorageReadError,
    StorageWriteError,
)
from ..types import Artifact
from .protocol import MISSING, decode_artifact, encode_artifact, validate_artifact_name

INDEX_NAME = ".artifacts.json"
LOCK_NAME = ".artifacts.lock"


class FileArtifactStore:
    """Artifacts kept as files in one folder."""

    def __init__(self, path: Path | str) -> None:
        self._root = Path(path).expanduser().resolve()

    @property
    def path(self) -> Path:
        return self._root

    path_obj = path

    # --- helpers -----------------------------------------------------------------------------

    def _file(self, name: str) -> Path:
        validate_artifact_name(name)
        target = self._root / name
        # A symlink inside the folder must not lead a write outside it.
        resolved = target.resolve()
        if resolved != self._root and self._root not in resolved.parents:
            raise ArtifactNameError(name, "resolves outside the artifacts folder")
        return target

    def _read_index(self) -> dict[str, Any]:
        try:
            raw = (self._root / INDEX_NAME).read_bytes()
        except FileNotFoundError:
            return {}
        try:
            index = json.loads(raw)
        except ValueError as exc:
            raise StorageReadError(
                f"Artifact index {self._root / INDEX_NAME} is corrupt: {exc}",
                path=str(self._root / INDEX_NAME),
            ) from exc
        return index if isinstance(index, dict) else {}

    def _write_index(self, index: dict[str, Any]) -> None:
        atomic_write(
            self._root / INDEX_NAME, json.dumps(index, indent=2, ensure_ascii=False).encode()
        )

    def _artifact(self, name: str, entry: dict[str, Any]) -> Artifact:
        created = entry.get("created_at")
        try:
            created_at = datetime.fromisoformat(created) if created else datetime.now(UTC)
        except (TypeError, ValueError):
            created_at = datetime.now(UTC)
        return Artifact(
            name=name,
            path=str(self._root / name),
            description=str(entry.get("description") or ""),
            metadata=dict(entry.get("metadata") or {}),
            created_at=created_at,
        )

    # --- public API --------------------------------------------------------------------------

    def save(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> Artifact:
        """Store ``data`` under ``name`` (overwriting), and return its metadata."""
        target = self._file(name)
        raw, data_type = encode_artifact(data)
        entry = {
            "description": str(description or ""),
            "created_at": datetime.now(UTC).isoformat(),
            "metadata": {**dict(metadata or {}), "_data_type": data_type},
        }
        with file_lock(self._root / LOCK_NAME):
            try:
                atomic_write(target, raw)
            except (StorageWriteError, OSError) as exc:  # the old version stays as it was
                raise ArtifactWriteError(
                    f"artifact {name!r} could not be written: {exc}", operation="save"
                ) from exc
            index = self._read_index()
            index[name] = entry
            self._write_index(index)
        artifact = self._artifact(name, entry)
        artifact.metadata.pop("_data_type", None)
        return artifact

    def register(
        self, name: str, description: str = "", metadata: dict[str, Any] | None = None
    ) -> Artifact:
        """Index a file that was written into the folder by hand."""
        target = self._file(name)
        if not target.is_file():
            raise ArtifactNotFoundError(name)
        entry = {
            "description": description,
            "created_at": datetime.now(UTC).isoformat(),
            "metadata": dict(metadata or {}),
        }
        with file_lock(self._root / LOCK_NAME):
            index = self._read_index()
            index[name] = entry
            self._write_index(index)
        return self._artifact(name, entry)

    def load(self, name: str, default: Any = MISSING) -> Any:
        """The stored data; a missing name raises ArtifactNotFoundError unless a default is given."""
        target = self._file(name)
        try:
            raw = target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            if default is not MISSING:
                return default
            raise ArtifactNotFoundError(name) from None
        entry = self._read_index().get(name) or {}
        data_type = (entry.get("metadata") or {}).get("_data_type")
        return decode_artifact(raw, data_type, name)

    def get(self, name: str) -> Artifact | None:
        validate_artifact_name(name)
        entry = self._read_index().get(name)
        if entry is None or not (self._root / name).is_file():
            return None
        return self._artifact(name, entry)

    def list(self) -> list[Artifact]:
        index = self._read_index()
        return [
            self._artifact(name, entry)
            for name, entry in sorted(index.items())
            if (self._root / name).is_file()
        ]

    def exists(self, name: str) -> bool:
        return self._file(name).is_file()

    def delete(self, name: str) -> None:
        """Remove an artifact; a missing name is ignored."""
        target = self._file(name)
        with file_lock(self._root / LOCK_NAME):
            index = self._read_index()
            if index.pop(name, None) is not None:
                self._write_index(index)
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                os.unlink(target)

    def __repr__(self) -> str:
        return f"<ArtifactStore {self._root}: {len(self._read_index())} artifact(s)>"
