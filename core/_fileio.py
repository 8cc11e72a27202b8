"""Atomic file writes and inter-process locks, shared by every file-backed store."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import StorageWriteError


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file and a rename: readers see old or new, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # e.g. a file where a folder of the path should be
        raise StorageWriteError(f"Could not write {path}: {exc}", path=str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageWriteError(f"Could not write {path}: {exc}", path=str(path)) from exc


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[int]:
    """An exclusive advisory lock held by this process (and thread) until the block ends.

    Yields the lock file's descriptor (a store may keep a small counter in that file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
