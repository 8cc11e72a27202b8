"""Where the recorded package list lives.

FileDepsStore keeps runtime changes in ``{base}/deps/requirements.txt`` (sorted, one per line)
and reads ``{base}/requirements.txt`` as a read-only seed written by the operator; ``list()``
is the union, so both the reference project's layouts keep working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from .._fileio import atomic_write, file_lock
from .specs import spec_name, validate_spec


@runtime_checkable
class DepsStore(Protocol):
    def list(self) -> list[str]: ...

    def add(self, spec: str) -> None: ...

    def remove(self, name: str) -> bool: ...


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(line)
    return out


def _merge(specs: list[str]) -> list[str]:
    """One entry per project name (the later one wins), sorted."""
    by_name: dict[str, str] = {}
    for spec in specs:
        by_name[spec_name(spec)] = spec
    return sorted(by_name.values(), key=spec_name)


class MemoryDepsStore:
    """A package list kept in memory."""

    def __init__(self, specs: list[str] | None = None) -> None:
        self._specs = _merge([validate_spec(s) for s in specs or []])

    def list(self) -> list[str]:
        return list(self._specs)

    def add(self, spec: str) -> None:
        self._specs = _merge([*self._specs, spec])

    def remove(self, name: str) -> bool:
        key = spec_name(name)
        kept = [s for s in self._specs if spec_name(s) != key]
        changed = len(kept) != len(self._specs)
        self._specs = kept
        return changed


class FileDepsStore:
    """``{base}/requirements.txt`` (read-only seed) + ``{base}/deps/requirements.txt`` (runtime)."""

    def __init__(self, base: Path | str, seed: Path | str | None = None) -> None:
        self.base = Path(base)
        self.path = self.base / "deps" / "requirements.txt"
        self.seed = Path(seed) if seed is not None else self.base / "requirements.txt"
        self._lock = self.base / "deps" / ".lock"

    def seeded(self) -> list[str]:
        if self.seed == self.path:
            return []
        out = []
        for line in _read_lines(self.seed):
            try:
                out.append(validate_spec(line, allow_unsafe=True))  # the operator wrote it
            except ValueError:
                out.append(line)
        return out

    def list(self) -> list[str]:
        return _merge([*self.seeded(), *_read_lines(self.path)])

    def add(self, spec: str) -> None:
        with file_lock(self._lock):
            specs = _merge([*_read_lines(self.path), spec])
            atomic_write(self.path, ("\n".join(specs) + "\n").encode())

    def remove(self, name: str) -> bool:
        key = spec_name(name)
        with file_lock(self._lock):
            current = _read_lines(self.path)
            kept = [s for s in current if spec_name(s) != key]
            if len(kept) == len(current):
                return False
            atomic_write(self.path, ("\n".join(kept) + "\n").encode() if kept else b"")
            return True
