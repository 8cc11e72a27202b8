"""Where skills are kept: their sources, versions and usage statistics.

``FileSkillStore`` keeps each skill as ``skills/<name>.py`` (source only, as in the reference
project, so a file dropped there by hand is a skill) and its bookkeeping under the hidden
``.code-mode/`` folder: ``skills/<name>.json`` (explicit description, version, times),
``history/<name>/<version>.json`` (earlier versions) and ``stats/<name>.json`` (usage).
Every write is atomic and happens under an inter-process lock.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._fileio import atomic_write, file_lock
from ..errors import SkillNotFoundError, SkillValidationError, StorageReadError
from .skill import Skill, SkillStats, parse_skill, validate_skill_name

log = logging.getLogger(__name__)
_FULL_RESCAN_SECONDS = 2.0


class SkillVersion(dict):  # type: ignore[type-arg]
    """One entry of a skill's history: ``{version, description, content_hash, saved_at, current}``."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


@runtime_checkable
class SkillStore(Protocol):
    """The storage contract a SkillLibrary works over."""

    def scan(self) -> dict[str, Skill]: ...

    def get(self, name: str) -> Skill | None: ...

    def save(self, skill: Skill) -> Skill: ...

    def delete(self, name: str) -> bool: ...

    def history(self, name: str) -> list[SkillVersion]: ...

    def get_version(self, name: str, version: int) -> Skill: ...

    def record_usage(self, name: str, ok: bool, duration_ms: float) -> None: ...

    def stats(self) -> dict[str, SkillStats]: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _summary(name: str, entry: dict[str, Any]) -> str:
    """The docstring description of an archived version written before ``summary`` was kept."""
    try:
        return parse_skill(name, entry.get("source", ""))[0].description
    except (SkillValidationError, SyntaxError):
        return ""


def _version_of(skill: Skill, *, current: bool) -> SkillVersion:
    return SkillVersion(
        version=skill.version,
        description=skill.description,
        content_hash=skill.content_hash,
        saved_at=_iso(skill.updated_at),
        current=current,
    )


def _flush_at_exit(ref: weakref.ReferenceType[FileSkillStore]) -> None:
    store = ref()
    if store is not None:
        with contextlib.suppress(Exception):
            store.flush_stats()


class FileSkillStore:
    """Skills as files under a base folder."""

    def __init__(self, skills_path: Path | str, meta_path: Path | str) -> None:
        self.skills_path = Path(skills_path)
        self.meta_path = Path(meta_path)
        self._lock_file = self.meta_path / "skills.lock"
        self._cache: dict[str, tuple[tuple[int, ...], Skill]] = {}
        self._bad: dict[str, tuple[tuple[int, ...], str]] = {}
        self._scan_key: tuple[int, int] | None = None
        self._scan_time = 0.0
        self._scan_result: dict[str, Skill] = {}
        self._guard = threading.RLock()
        self._warned: set[str] = set()
        self._stats_errors: dict[str, str] = {}
        self._stats_cache: tuple[float, dict[str, SkillStats]] | None = None
        self._pending: dict[str, tuple[int, int, float]] = {}
        self._pending_last_used: dict[str, datetime] = {}
        self._flushed_at = time.monotonic()
        atexit.register(_flush_at_exit, weakref.ref(self))

    # --- paths -------------------------------------------------------------------------------

    def _source(self, name: str) -> Path:
        return self.skills_path / f"{name}.py"

    def _sidecar(self, name: str) -> Path:
        return self.meta_path / "skills" / f"{name}.json"

    def _history_dir(self, name: str) -> Path:
        return self.meta_path / "history" / name

    def _stats_file(self, name: str) -> Path:
        return self.meta_path / "stats" / f"{name}.json"

    @staticmethod
    def _mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0

    # --- reading -----------------------------------------------------------------------------

    def _read_sidecar(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads(self._sidecar(name).read_bytes())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _load(self, name: str, path: Path) -> Skill:
        """Parse one skill file; cached by its stat and its sidecar's."""
        st = path.stat()
        # Atomic writes replace the inode, so the key changes even within one timestamp tick;
        # the sidecar is always rewritten with the source, so it needs no stat of its own.
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        bad = self._bad.get(name)
        if bad is not None and bad[0] == key:
            raise StorageReadError(bad[1], path=str(path))
        try:
            source = path.read_text(encoding="utf-8")
            meta = self._read_sidecar(name)
            description = (
                meta.get("description") if isinstance(meta.get("description"), str) else None
            )
            skill, _ = parse_skill(name, source, description, version=int(meta.get("version") or 1))
        except (SkillValidationError, UnicodeDecodeError, OSError) as exc:
            message = f"Skill file {path} cannot be loaded: {exc}"
            self._bad[name] = (key, message)
            log.warning("skipping skill file: %s", message)
            raise StorageReadError(message, path=str(path)) from exc
        skill = skill.model_copy(
            update={
                "created_at": _parse_time(meta.get("created_at")),
                "updated_at": _parse_time(meta.get("updated_at"))
                or datetime.fromtimestamp(st.st_mtime, UTC),
            }
        )
        self._cache[name] = (key, skill)
        return skill

    def scan(self) -> dict[str, Skill]:
        """Every loadable skill by name. Files that fail to load are skipped with a warning."""
        with self._guard:
            key = (self._mtime(self.skills_path), self._mtime(self.meta_path / "skills"))
            fresh = time.monotonic() - self._scan_time < _FULL_RESCAN_SECONDS
            if key == self._scan_key and fresh:
                return self._scan_result
            result: dict[str, Skill] = {}
            try:
                entries = sorted(os.scandir(self.skills_path), key=lambda e: e.name)
            except FileNotFoundError:
                entries = []
            for entry in entries:
                if not entry.name.endswith(".py") or entry.name.startswith(("_", ".")):
                    continue
                name = entry.name[:-3]
                try:
                    validate_skill_name(name)
                except SkillValidationError as exc:
                    if name not in self._warned:
                        self._warned.add(name)
                        log.warning("skipping skill file %s: %s", entry.path, exc)
                    continue
                try:
                    result[name] = self._load(name, Path(entry.path))
                except (StorageReadError, FileNotFoundError):
                    continue  # logged once by _load, or deleted while scanning
            for gone in set(self._cache) - set(result):
                self._cache.pop(gone, None)
            self._scan_key, self._scan_time, self._scan_result = key, time.monotonic(), result
            return result

    def get(self, name: str) -> Skill | None:
        """The skill, or None; a file that exists but does not load raises StorageReadError."""
        validate_skill_name(name)
        path = self._source(name)
        if not path.is_file():
            return None
        with self._guard:
            return self._load(name, path)

    # --- writing -----------------------------------------------------------------------------

    def _archive(self, current: Skill) -> None:
        """Copy the current version into the history (before it is replaced or deleted)."""
        entry = {
            "version": current.version,
            "source": current.source,
            "description": current.description if current.explicit_description else None,
            # The effective description (explicit or the docstring's) for `history`, and the
            # time this version was saved (not the time it was replaced).
            "summary": current.description,
            "content_hash": current.content_hash,
            "saved_at": _iso(current.updated_at or _now()),
        }
        atomic_write(
            self._history_dir(current.name) / f"{current.version}.json",
            json.dumps(entry, indent=2).encode(),
        )

    def _current_or_none(self, name: str) -> Skill | None:
        try:
            return self.get(name)
        except StorageReadError:
            return None

    def save(self, skill: Skill) -> Skill:
        """Store ``skill`` as the new current version; the previous one goes to the history."""
        with file_lock(self._lock_file):
            current = self._current_or_none(skill.name)
            if current is not None and current.content_hash == skill.content_hash:
                return current
            version = self._next_version(skill.name, current)
            if current is not None:
                self._archive(current)
            now = _now()
            created = current.created_at if current is not None else now
            meta = {
                "description": skill.description if skill.explicit_description else None,
                "version": version,
                "created_at": _iso(created),
                "updated_at": _iso(now),
            }
            atomic_write(self._sidecar(skill.name), json.dumps(meta, indent=2).encode())
            atomic_write(self._source(skill.name), skill.source.encode("utf-8"))
            saved = skill.model_copy(
                update={"version": version, "created_at": created, "updated_at": now}
            )
            self._note_write(skill.name, saved)
        return saved

    def _note_write(self, name: str, skill: Skill | None) -> None:
        """Apply our own write to the cached scan, so a library of thousands of files is not
        rescanned for one change (other processes' writes still trigger a full rescan)."""
        with self._guard:
            age = time.monotonic() - self._scan_time
            if self._scan_key is None or age >= _FULL_RESCAN_SECONDS:
                self._scan_key = None
                return
            result = dict(self._scan_result)
            if skill is None:
                result.pop(name, None)
                self._cache.pop(name, None)
            else:
                st = self._source(name).stat()
                self._cache[name] = ((st.st_ino, st.st_mtime_ns, st.st_size), skill)
                result[name] = skill
            self._scan_result = dict(sorted(result.items()))
            self._scan_key = (self._mtime(self.skills_path), self._mtime(self.meta_path / "skills"))

    def _next_version(self, name: str, current: Skill | None) -> int:
        versions = [v["version"] for v in self._archived(name)]
        if current is not None:
            versions.append(current.version)
        return max(versions, default=0) + 1

    def delete(self, name: str) -> bool:
        validate_skill_name(name)
        with file_lock(self._lock_file):
            path = self._source(name)
            if not path.exists():
                return False
            current = self._current_or_none(name)
            if current is not None:
                self._archive(current)
            path.unlink(missing_ok=True)
            self._sidecar(name).unlink(missing_ok=True)
            self._note_write(name, None)
            return True

    # --- history -----------------------------------------------------------------------------

    def _archived(self, name: str) -> list[dict[str, Any]]:
        folder = self._history_dir(name)
        entries = []
        try:
            files = list(folder.glob("*.json"))
        except OSError:
            files = []
        for file in files:
            try:
                data = json.loads(file.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("version"), int):
                entries.append(data)
        return sorted(entries, key=lambda d: d["version"])

    def history(self, name: str) -> list[SkillVersion]:
        """Every version, oldest first; the last one is current (unless the skill was deleted)."""
        validate_skill_name(name)
        out = [
            SkillVersion(
                version=d["version"],
                description=d.get("description") or d.get("summary") or _summary(name, d),
                content_hash=d.get("content_hash", ""),
                saved_at=d.get("saved_at"),
                current=False,
            )
            for d in self._archived(name)
        ]
        current = self._current_or_none(name)
        if current is not None:
            out = [v for v in out if v["version"] != current.version]
            out.append(_version_of(current, current=True))
        return out

    def get_version(self, name: str, version: int) -> Skill:
        validate_skill_name(name)
        current = self._current_or_none(name)
        if current is not None and current.version == version:
            return current
        for entry in self._archived(name):
            if entry["version"] == version:
                skill, _ = parse_skill(
                    name, entry["source"], entry.get("description"), version=version
                )
                return skill
        known = [v["version"] for v in self.history(name)]
        if not known:
            raise SkillNotFoundError(name)
        raise SkillValidationError(
            f"Skill {name!r} has no version {version}; versions: {known}", skill_name=name
        )

    # --- usage -------------------------------------------------------------------------------

    def record_usage(self, name: str, ok: bool, duration_ms: float) -> None:
        """Count one call. Counts are buffered and written at most once a second (and at exit):
        a file write per call would cost more than most skills."""
        with self._guard:
            calls, failures, total = self._pending.get(name, (0, 0, 0.0))
            self._pending[name] = (
                calls + 1,
                failures + (0 if ok else 1),
                total + float(duration_ms),
            )
            self._pending_last_used[name] = _now()
            due = time.monotonic() - self._flushed_at >= 1.0
        if due:
            self.flush_stats()

    def flush_stats(self) -> None:
        """Write buffered usage counts to ``.code-mode/stats/``.

        Counts already on disk are added to, never reset: a field that does not hold a number is
        kept under ``"corrupt"`` in the same file, and a file that is not JSON at all is set aside
        as ``<name>.json.corrupt-<time>``; both are logged and listed in :attr:`stats_errors`.
        """
        with self._guard:
            pending, self._pending = self._pending, {}
            last_used, self._pending_last_used = self._pending_last_used, {}
            self._flushed_at = time.monotonic()
        if not pending or not self.meta_path.parent.exists():
            return
        with file_lock(self.meta_path / "stats.lock"):
            for name, (calls, failures, total) in pending.items():
                path = self._stats_file(name)
                try:
                    data = self._stats_for_update(name, path)
                except OSError as exc:  # unreadable now (permissions, I/O): keep the counts
                    log.warning("usage stats %s not updated, will retry: %s", path, exc)
                    self._requeue(name, (calls, failures, total), last_used.get(name))
                    continue
                good, bad = _stat_fields(data)
                if bad:
                    data["corrupt"] = {**_as_dict(data.get("corrupt")), **bad}
                    self._report(name, path, bad)
                data["calls"] = good["calls"] + calls
                data["failures"] = good["failures"] + failures
                data["total_duration_ms"] = good["total_duration_ms"] + total
                data["last_used"] = _iso(last_used.get(name) or _now())
                atomic_write(path, json.dumps(data).encode())
        self._stats_cache = None

    def _stats_for_update(self, name: str, path: Path) -> dict[str, Any]:
        """The stats record to add to; an unparsable file is moved aside (and reported)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            if isinstance(data, dict):
                return data
            problem = f"holds a JSON {type(data).__name__}, not an object"
        except ValueError as exc:
            problem = f"is not valid JSON ({exc})"
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        message = f"usage stats file {path} {problem}; moved to {aside}, counting anew"
        log.warning("%s", message)
        self._stats_errors[name] = message
        return {}

    def _requeue(self, name: str, counts: tuple[int, int, float], last: datetime | None) -> None:
        with self._guard:
            calls, failures, total = self._pending.get(name, (0, 0, 0.0))
            self._pending[name] = (calls + counts[0], failures + counts[1], total + counts[2])
            if last is not None:
                self._pending_last_used.setdefault(name, last)

    def _report(self, name: str, path: Path, bad: dict[str, Any]) -> None:
        fields = ", ".join(f"{key}={value!r}" for key, value in bad.items())
        message = f"usage stats file {path} has unreadable counts ({fields}); kept under 'corrupt'"
        if self._stats_errors.get(name) != message:
            log.warning("%s", message)
        self._stats_errors[name] = message

    @property
    def stats_errors(self) -> dict[str, str]:
        """Skills whose stored usage counts were damaged, with what was wrong (see
        :meth:`flush_stats`); the readable counts of those skills are still used."""
        self.stats()
        return dict(self._stats_errors)

    def stats(self) -> dict[str, SkillStats]:
        """Usage per skill; cached briefly (it only breaks ties in search)."""
        if self._pending:
            self.flush_stats()
        cached = self._stats_cache
        if cached is not None and time.monotonic() - cached[0] < _FULL_RESCAN_SECONDS:
            return cached[1]
        out = self._read_stats()
        self._stats_cache = (time.monotonic(), out)
        return out

    def _read_stats(self) -> dict[str, SkillStats]:
        out = {}
        folder = self.meta_path / "stats"
        try:
            files = list(folder.glob("*.json"))
        except OSError:
            return {}
        for file in files:
            name = file.stem
            try:
                data = json.loads(file.read_bytes())
            except FileNotFoundError:
                continue  # removed while we listed
            except (OSError, ValueError) as exc:
                message = f"usage stats file {file} cannot be read: {exc}"
                if self._stats_errors.get(name) != message:
                    log.warning("%s", message)
                self._stats_errors[name] = message
                continue
            good, bad = _stat_fields(_as_dict(data))
            bad.update(_as_dict(_as_dict(data).get("corrupt")))
            if bad:
                self._report(name, file, bad)
            elif name in self._stats_errors:
                del self._stats_errors[name]
            out[name] = SkillStats(
                calls=good["calls"],
                failures=good["failures"],
                last_used=_parse_time(_as_dict(data).get("last_used")),
                total_duration_ms=good["total_duration_ms"],
            )
        return out


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _stat_fields(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(readable counts, with 0 for missing ones; unreadable values by field)."""
    good: dict[str, Any] = {}
    bad: dict[str, Any] = {}
    for key, kind in (("calls", int), ("failures", int), ("total_duration_ms", float)):
        value = data.get(key, 0)
        try:
            if isinstance(value, bool) or value is None:
                raise TypeError(key)
            number = kind(value)
            if number < 0 or (kind is int and number != float(value)):
                raise ValueError(key)
            good[key] = number
        except (TypeError, ValueError):
            good[key] = kind(0)
            bad[key] = value
    return good, bad


class MemorySkillStore:
    """Skills kept in memory (lost when the process ends); for tests and ephemeral agents."""

    def __init__(self) -> None:
        self._skills: dict[str, Skill] = {}
        self._history: dict[str, list[Skill]] = {}
        self._stats: dict[str, SkillStats] = {}

    def scan(self) -> dict[str, Skill]:
        return dict(sorted(self._skills.items()))

    def get(self, name: str) -> Skill | None:
        validate_skill_name(name)
        return self._skills.get(name)

    def save(self, skill: Skill) -> Skill:
        current = self._skills.get(skill.name)
        if current is not None and current.content_hash == skill.content_hash:
            return current
        past = self._history.setdefault(skill.name, [])
        if current is not None:
            past.append(current)
        version = max([s.version for s in past], default=0) + 1
        now = _now()
        saved = skill.model_copy(update={"version": version, "created_at": now, "updated_at": now})
        self._skills[skill.name] = saved
        return saved

    def delete(self, name: str) -> bool:
        validate_skill_name(name)
        current = self._skills.pop(name, None)
        if current is not None:
            self._history.setdefault(name, []).append(current)
        return current is not None

    def history(self, name: str) -> list[SkillVersion]:
        versions = [_version_of(s, current=False) for s in self._history.get(name, [])]
        if name in self._skills:
            versions.append(_version_of(self._skills[name], current=True))
        return versions

    def get_version(self, name: str, version: int) -> Skill:
        for s in [
            *self._history.get(name, []),
            *([self._skills[name]] if name in self._skills else []),
        ]:
            if s.version == version:
                return s
        if name not in self._skills and name not in self._history:
            raise SkillNotFoundError(name)
        raise SkillValidationError(f"Skill {name!r} has no version {version}", skill_name=name)

    def record_usage(self, name: str, ok: bool, duration_ms: float) -> None:
        stats = self._stats.setdefault(name, SkillStats())
        stats.calls += 1
        stats.failures += 0 if ok else 1
        stats.total_duration_ms += duration_ms
        stats.last_used = _now()

    def stats(self) -> dict[str, SkillStats]:
        return dict(self._stats)
