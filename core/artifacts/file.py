"""Artifacts as files: ``{artifacts}/{name}`` plus an index ``.artifacts.json``.

The index maps each name to ``{description, created_at, metadata}`` (metadata carries the
internal ``_data_type``), as in the reference project, so existing folders keep working. Data is
written first, then the index, each atomically, under an inter-process lock.

Issue 22: a server saves and loads artifacts for many sessions, so the index is not parsed
again while its bytes are unchanged (one parsed copy per folder and process, compared byte for
byte with the file, so another process's write is always seen), it is written with the C JSON
encoder (one artifact per line; the pure-Python indenting encoder cost milliseconds at 100
entries), and every write bumps a counter kept in the lock file, which :meth:`change_stamp`
reads in place of listing every artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import weakref
from collections.abc import Hashable
from dataclasses import dataclass
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
# The write counter at the start of the lock file (the lock itself is flock, on the same file;
# older versions leave the file empty, which reads as 0).
_COUNTER = struct.Struct("<Q")


@dataclass(frozen=True)
class _Parsed:
    """One version of the index: its bytes, parsed, and each entry's line as written."""

    raw: bytes
    index: dict[str, Any]
    lines: dict[str, str]


def _line(name: str, entry: Any) -> str:
    return f"  {json.dumps(name, ensure_ascii=False)}: {json.dumps(entry, ensure_ascii=False)}"


class _IndexCache:
    """The last index seen in one folder, shared by every store over it in this process (a
    server makes one storage per session). Replaced whole, never changed in place, so readers
    on other threads always see one consistent version."""

    def __init__(self) -> None:
        self.parsed: _Parsed | None = None


_CACHES: weakref.WeakValueDictionary[Path, _IndexCache] = weakref.WeakValueDictionary()
_CACHES_LOCK = threading.Lock()


def _cache_for(root: Path) -> _IndexCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(root)
        if cache is None:
            cache = _CACHES[root] = _IndexCache()
        return cache


class FileArtifactStore:
    """Artifacts kept as files in one folder."""

    #: Methods cheap enough to call on an event loop (a stat and an 8-byte read).
    inline = frozenset({"change_stamp"})

    def __init__(self, path: Path | str) -> None:
        self._root = Path(path).expanduser().resolve()
        self._cache = _cache_for(self._root)  # held: the registry keeps it only while used

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

    def _parsed(self) -> _Parsed:
        """The index as it is on disk now: read every time (one read of its bytes), parsed
        only when those bytes differ from the last version seen."""
        try:
            raw = (self._root / INDEX_NAME).read_bytes()
        except FileNotFoundError:
            raw = b""
        known = self._cache.parsed
        if known is not None and known.raw == raw:
            return known
        index: Any = {}
        if raw:
            try:
                index = json.loads(raw)
            except ValueError as exc:
                raise StorageReadError(
                    f"Artifact index {self._root / INDEX_NAME} is corrupt: {exc}",
                    path=str(self._root / INDEX_NAME),
                ) from exc
        index = index if isinstance(index, dict) else {}
        parsed = _Parsed(raw, index, {})
        self._cache.parsed = parsed
        return parsed

    def _read_index(self) -> dict[str, Any]:
        """The index (do not change it: it is the cached copy)."""
        return self._parsed().index

    def _write_index(
        self, lock_fd: int, before: _Parsed, name: str, entry: dict[str, Any] | None
    ) -> None:
        """Write ``before`` with ``name`` set to ``entry`` (or removed), then count the write.
        Called with the lock held (``lock_fd``). One entry per line, each encoded once."""
        index = dict(before.index)
        if entry is None:
            index.pop(name, None)
        else:
            index[name] = entry
        known = before.lines
        lines = {k: known[k] if k in known and k != name else _line(k, v) for k, v in index.items()}
        raw = ("{\n" + ",\n".join(lines.values()) + "\n}\n" if lines else "{}\n").encode()
        atomic_write(self._root / INDEX_NAME, raw)
        self._cache.parsed = _Parsed(raw, index, lines)
        _bump(lock_fd)

    def change_stamp(self) -> Hashable:
        """A value that differs whenever the artifact list may have changed since it was taken:
        the write counter every save, register and delete bumps, and the index file's identity,
        time and size (for writers that keep no counter, such as the reference project). Equal
        stamps mean nothing was written here in between (a data file changed by hand outside
        the index is not seen)."""
        try:
            st = os.stat(self._root / INDEX_NAME)
            seen: tuple[int, ...] = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            seen = ()
        return (_read_counter(self._root / LOCK_NAME), seen)

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
        with file_lock(self._root / LOCK_NAME) as lock_fd:
            try:
                atomic_write(target, raw)
            except (StorageWriteError, OSError) as exc:  # the old version stays as it was
                raise ArtifactWriteError(
                    f"artifact {name!r} could not be written: {exc}", operation="save"
                ) from exc
            self._write_index(lock_fd, self._parsed(), name, entry)
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
        with file_lock(self._root / LOCK_NAME) as lock_fd:
            self._write_index(lock_fd, self._parsed(), name, entry)
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
        with file_lock(self._root / LOCK_NAME) as lock_fd:
            before = self._parsed()
            if name in before.index:
                self._write_index(lock_fd, before, name, None)
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                os.unlink(target)

    def __repr__(self) -> str:
        return f"<ArtifactStore {self._root}: {len(self._read_index())} artifact(s)>"


def _read_counter(lock: Path) -> int:
    """The write counter, read without taking the lock: a read that races a write can only
    give a value that differs, i.e. one more "may have changed"."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        raw = os.pread(fd, _COUNTER.size, 0)
    finally:
        os.close(fd)
    return _COUNTER.unpack(raw)[0] if len(raw) == _COUNTER.size else 0


def _bump(lock_fd: int) -> None:
    """Count one write (the caller holds the lock on ``lock_fd``)."""
    raw = os.pread(lock_fd, _COUNTER.size, 0)
    count = _COUNTER.unpack(raw)[0] if len(raw) == _COUNTER.size else 0
    os.pwrite(lock_fd, _COUNTER.pack((count + 1) % 2**64), 0)
