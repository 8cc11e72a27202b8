"""RedisStorage: skills, artifacts and recorded deps in a real Redis, shared by many agent
processes and machines. Each process keeps its search index as a local cache (LanceDB under the
user's cache folder), refreshed from Redis by content hash.

Key layout (P = prefix), compatible with the reference project:

| data | key |
|---|---|
| skills | hash ``P:skills:__skills__`` (field = name, value = JSON record) |
| skill versions | list ``P:skills:__history__:<name>`` |
| skill usage | hashes ``P:skills:__calls__``, ``__failures__``, ``__duration__``, ``__last_used__`` |
| artifact data | string ``P:artifacts:<name>`` (``%`` and ``:`` in a name percent-encoded) |
| artifact index | hash ``P:artifacts:__index__`` |
| recorded deps | set ``P:deps`` |

Names never hold a ``:`` in a key (skill names are identifiers, artifact names are encoded)
and names starting and ending with ``__`` are reserved, so no name reaches the index or a key
of another prefix; :func:`validate_prefix` refuses the prefixes whose keys could overlap.

Writes that belong together go in one MULTI/EXEC transaction (WATCHed where they read first).
Connection failures raise :class:`StorageUnavailable` naming the URL without its password;
idempotent reads are retried with backoff.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..artifacts.protocol import MISSING, decode_artifact, encode_artifact, validate_artifact_name
from ..errors import ArtifactNotFoundError, SkillNotFoundError, SkillValidationError, StorageError
from ..skills.skill import Skill, SkillStats, parse_skill, validate_skill_name
from ..skills.store import SkillVersion
from ..types import Artifact

T = TypeVar("T")
_RETRY_DELAYS = (0.05, 0.2, 0.5)


class StorageUnavailable(StorageError):
    """The storage backend cannot be reached."""


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (
            f":{parts.port}" if parts.port else ""
        )
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class _Redis:
    """A redis-py client with clear errors and retried reads."""

    def __init__(self, client: Any, label: str) -> None:
        self.client = client
        self.label = label

    def read(self, fn: Callable[[Any], T]) -> T:
        import redis

        for attempt, delay in enumerate((*_RETRY_DELAYS, None)):
            try:
                return fn(self.client)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if delay is None:
                    raise StorageUnavailable(
                        f"Redis at {self.label} is not reachable: {exc}", path=self.label
                    ) from None
                time.sleep(delay * (attempt + 1))
        raise AssertionError("unreachable")

    def write(self, fn: Callable[[Any], T]) -> T:
        import redis

        try:
            return fn(self.client)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StorageUnavailable(
                f"Redis at {self.label} is not reachable: {exc}; nothing was written",
                path=self.label,
            ) from None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class RedisSkillStore:
    """Skills in one Redis hash, with versions and usage counts."""

    def __init__(self, redis_client: Any, prefix: str, label: str = "redis") -> None:
        self._r = _Redis(redis_client, label)
        self.prefix = prefix
        self.key = f"{prefix}:__skills__"
        self._parsed: dict[str, tuple[str, Skill]] = {}

    def _history_key(self, name: str) -> str:
        return f"{self.prefix}:__history__:{name}"

    def _skill(self, name: str, raw: bytes | str) -> Skill:
        text = raw.decode() if isinstance(raw, bytes) else raw
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == text:
            return cached[1]
        record = json.loads(text)
        explicit = record.get("description") if record.get("explicit", True) else None
        skill, _ = parse_skill(
            name, record["source"], explicit or None, version=int(record.get("version") or 1)
        )
        skill = skill.model_copy(
            update={
                "created_at": _time(record.get("created_at")),
                "updated_at": _time(record.get("updated_at")),
            }
        )
        self._parsed[name] = (text, skill)
        return skill

    def scan(self) -> dict[str, Skill]:
        raw = self._r.read(lambda c: c.hgetall(self.key))
        out = {}
        for key, value in sorted(raw.items()):
            name = key.decode() if isinstance(key, bytes) else key
            try:
                out[name] = self._skill(name, value)
            except (ValueError, KeyError, SkillValidationError):
                continue  # a corrupt record is skipped in listings
        return out

    def get(self, name: str) -> Skill | None:
        validate_skill_name(name)
        raw = self._r.read(lambda c: c.hget(self.key, name))
        if raw is None:
            return None
        try:
            return self._skill(name, raw)
        except (ValueError, KeyError, SkillValidationError) as exc:
            from ..errors import StorageReadError

            raise StorageReadError(
                f"Skill record {name!r} in {self.key} is corrupt: {exc}", path=self.key
            ) from exc

    @staticmethod
    def _record(skill: Skill, version: int, created: str | None) -> str:
        return json.dumps(
            {
                "name": skill.name,
                "description": skill.description,
                "explicit": skill.explicit_description,
                "source": skill.source,
                "parameters": skill.parameters,
                "version": version,
                "created_at": created or _now(),
                "updated_at": _now(),
            }
        )

    def save(self, skill: Skill) -> Skill:
        def transaction(pipe: Any) -> Skill:
            raw = pipe.hget(self.key, skill.name)
            current = json.loads(raw) if raw else None
            if (
                current is not None
                and current.get("source") == skill.source
                and (current.get("description") == skill.description)
            ):
                pipe.multi()
                return self._skill(skill.name, raw)
            versions = [
                json.loads(v)["version"] for v in pipe.lrange(self._history_key(skill.name), 0, -1)
            ]
            version = max([*versions, int(current["version"]) if current else 0], default=0) + 1
            record = self._record(skill, version, current.get("created_at") if current else None)
            pipe.multi()
            if current is not None:
                pipe.rpush(self._history_key(skill.name), raw)
            pipe.hset(self.key, skill.name, record)
            return self._skill(skill.name, record)

        # redis-py's transaction() re-runs `transaction` when the WATCHed hash changed meanwhile.
        return self._r.write(
            lambda c: c.transaction(transaction, self.key, value_from_callable=True)
        )

    def delete(self, name: str) -> bool:
        validate_skill_name(name)

        def transaction(pipe: Any) -> bool:
            raw = pipe.hget(self.key, name)
            pipe.multi()
            if raw is None:
                return False
            pipe.rpush(self._history_key(name), raw)
            pipe.hdel(self.key, name)
            return True

        return bool(
            self._r.write(lambda c: c.transaction(transaction, self.key, value_from_callable=True))
        )

    def history(self, name: str) -> list[SkillVersion]:
        validate_skill_name(name)
        archived = [
            json.loads(v) for v in self._r.read(lambda c: c.lrange(self._history_key(name), 0, -1))
        ]
        current = self.get(name)
        out = [
            SkillVersion(version=int(a.get("version") or 1), description=a.get("description", ""),
                         content_hash="", saved_at=a.get("updated_at"), current=False)
            for a in archived
            if current is None or int(a.get("version") or 1) != current.version
        ]  # fmt: skip
        if current is not None:
            out.append(SkillVersion(version=current.version, description=current.description,
                                    content_hash=current.content_hash, saved_at=current.updated_at.isoformat()
                                    if current.updated_at else None, current=True))  # fmt: skip
        return sorted(out, key=lambda v: v["version"])

    def get_version(self, name: str, version: int) -> Skill:
        current = self.get(name)
        if current is not None and current.version == version:
            return current
        for raw in self._r.read(lambda c: c.lrange(self._history_key(name), 0, -1)):
            record = json.loads(raw)
            if int(record.get("version") or 1) == version:
                explicit = record.get("description") if record.get("explicit", True) else None
                return parse_skill(name, record["source"], explicit or None, version=version)[0]
        if current is None and not self.history(name):
            raise SkillNotFoundError(name)
        raise SkillValidationError(f"Skill {name!r} has no version {version}", skill_name=name)

    def record_usage(self, name: str, ok: bool, duration_ms: float) -> None:
        def write(c: Any) -> None:
            pipe = c.pipeline(transaction=True)
            pipe.hincrby(f"{self.prefix}:__calls__", name, 1)
            if not ok:
                pipe.hincrby(f"{self.prefix}:__failures__", name, 1)
            pipe.hincrbyfloat(f"{self.prefix}:__duration__", name, float(duration_ms))
            pipe.hset(f"{self.prefix}:__last_used__", name, _now())
            pipe.execute()

        self._r.write(write)

    def stats(self) -> dict[str, SkillStats]:
        def read(c: Any) -> list[dict[Any, Any]]:
            pipe = c.pipeline(transaction=False)
            for part in ("__calls__", "__failures__", "__duration__", "__last_used__"):
                pipe.hgetall(f"{self.prefix}:{part}")
            return list(pipe.execute())

        calls, failures, durations, last = (
            {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
            for d in self._r.read(read)
        )
        return {
            name: SkillStats(
                calls=int(count),
                failures=int(failures.get(name, 0)),
                total_duration_ms=float(durations.get(name, 0.0)),
                last_used=_time(
                    last[name].decode() if isinstance(last.get(name), bytes) else last.get(name)
                ),
            )
            for name, count in calls.items()
        }


def encode_key_part(name: str) -> str:
    """A name as one colon-free key segment: ``%`` and ``:`` are percent-encoded.

    Every other character is kept, so names without either keep the reference project's key
    (``P:artifacts:report.json``) and existing data is found where it was.
    """
    return name.replace("%", "%25").replace(":", "%3A")


class RedisArtifactStore:
    """Artifacts as Redis strings plus an index hash (the reference's layout).

    The data key is ``P:<encoded name>`` (:func:`encode_key_part`), so no name can reach a key
    outside this store's own ``P:`` namespace, another prefix's keys or the index. Entries
    written by the reference project for names that need encoding (a ``:`` or ``%``) still live
    at ``P:<raw name>``: they are read there, and moved to the encoded key by the next save or
    removed by delete (compatible encoding, no migration step).
    """

    def __init__(self, redis_client: Any, prefix: str, label: str = "redis") -> None:
        self._r = _Redis(redis_client, label)
        self.prefix = prefix
        self.index_key = f"{prefix}:__index__"
        # Counts saves and deletes (INCR in their transaction), for change_stamp. Artifact
        # names cannot start and end with "__", so no artifact's key can be this one.
        self.version_key = f"{prefix}:__version__"

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{encode_key_part(validate_artifact_name(name))}"

    def _legacy_key(self, name: str, entry: dict[str, Any] | None) -> str | None:
        """Where the reference project kept this name's data, when that differs from ours."""
        if entry is None or entry.get("encoded") or encode_key_part(name) == name:
            return None
        return f"{self.prefix}:{name}"

    @staticmethod
    def _entry(raw: Any) -> dict[str, Any] | None:
        return json.loads(raw) if raw else None

    @staticmethod
    def _string_at(c: Any, key: str | None) -> bool:
        # A legacy key is only this store's data when it holds a string (the reference layout
        # let names collide with other keys; those are never read, overwritten or deleted).
        return key is not None and c.type(key) in (b"string", "string")

    def _artifact(self, name: str, entry: dict[str, Any]) -> Artifact:
        return Artifact(
            name=name,
            path=self._legacy_key(name, entry) or f"{self.prefix}:{encode_key_part(name)}",
            description=str(entry.get("description") or ""),
            metadata=dict(entry.get("metadata") or {}),
            created_at=_time(entry.get("created_at")) or datetime.now(UTC),
        )

    def _rewrite(self, name: str, write: Callable[[Any], None]) -> None:
        """Run ``write`` in one MULTI/EXEC; for a name the reference kept under another key, drop
        that copy in the same transaction (WATCHed, so a key that meanwhile stops holding a
        string is never deleted)."""
        if encode_key_part(name) == name:  # the reference's key is ours: nothing to move

            def plain(c: Any) -> None:
                pipe = c.pipeline(transaction=True)
                write(pipe)
                pipe.execute()

            self._r.write(plain)
            return

        def transaction(pipe: Any) -> None:
            stale = self._legacy_key(name, self._entry(pipe.hget(self.index_key, name)))
            stale = stale if self._string_at(pipe, stale) else None
            pipe.multi()
            write(pipe)
            if stale is not None:
                pipe.delete(stale)

        legacy = f"{self.prefix}:{name}"
        self._r.write(lambda c: c.transaction(transaction, legacy))

    def save(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> Artifact:
        raw, data_type = encode_artifact(data)
        entry = {"description": str(description or ""), "created_at": _now(),
                 "metadata": {**dict(metadata or {}), "_data_type": data_type}, "encoded": True}  # fmt: skip
        key = self._key(name)

        def write(pipe: Any) -> None:
            pipe.set(key, raw)
            pipe.hset(self.index_key, name, json.dumps(entry))
            pipe.incr(self.version_key)

        self._rewrite(name, write)
        artifact = self._artifact(name, entry)
        artifact.metadata.pop("_data_type", None)
        return artifact

    def load(self, name: str, default: Any = MISSING) -> Any:
        key = self._key(name)

        def read(c: Any) -> tuple[Any, Any]:
            pipe = c.pipeline(transaction=False)
            pipe.get(key)
            pipe.hget(self.index_key, name)
            raw, entry = pipe.execute()
            legacy = self._legacy_key(name, self._entry(entry)) if raw is None else None
            if self._string_at(c, legacy):
                raw = c.get(legacy)
            return raw, entry

        raw, entry = self._r.read(read)
        if raw is None:
            if default is not MISSING:
                return default
            raise ArtifactNotFoundError(name)
        data_type = (json.loads(entry).get("metadata") or {}).get("_data_type") if entry else None
        return decode_artifact(raw, data_type, name)

    def get(self, name: str) -> Artifact | None:
        self._key(name)
        entry = self._r.read(lambda c: c.hget(self.index_key, name))
        return self._artifact(name, json.loads(entry)) if entry else None

    def list(self) -> list[Artifact]:
        raw = self._r.read(lambda c: c.hgetall(self.index_key))
        items = {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in raw.items()}
        return [self._artifact(name, entry) for name, entry in sorted(items.items())]

    def exists(self, name: str) -> bool:
        key = self._key(name)

        def read(c: Any) -> bool:
            if c.exists(key):
                return True
            return self._string_at(
                c, self._legacy_key(name, self._entry(c.hget(self.index_key, name)))
            )

        return bool(self._r.read(read))

    def delete(self, name: str) -> None:
        key = self._key(name)

        def write(pipe: Any) -> None:
            pipe.delete(key)
            pipe.hdel(self.index_key, name)
            pipe.incr(self.version_key)

        self._rewrite(name, write)

    def change_stamp(self) -> Hashable:
        """The version every save and delete increments, and the number of artifacts (so a
        writer that keeps no version, such as the reference project, is seen when it adds or
        removes one; its overwrite of an existing one only with the next counted write). One
        round trip."""

        def read(c: Any) -> tuple[Any, Any]:
            pipe = c.pipeline(transaction=False)
            pipe.get(self.version_key)
            pipe.hlen(self.index_key)
            version, count = pipe.execute()
            return version, count

        version, count = self._r.read(read)
        return (int(version or 0), int(count or 0))


class RedisDepsStore:
    """The recorded package list as a Redis set ``P:deps``."""

    def __init__(self, redis_client: Any, prefix: str, label: str = "redis") -> None:
        self._r = _Redis(redis_client, label)
        self.key = f"{prefix}:deps"

    def list(self) -> list[str]:
        from ..deps.store import _merge

        raw = self._r.read(lambda c: c.smembers(self.key))
        return _merge([m.decode() if isinstance(m, bytes) else m for m in raw])

    def add(self, spec: str) -> None:
        from ..deps.specs import spec_name

        name = spec_name(spec)

        def write(c: Any) -> None:
            members = [m.decode() if isinstance(m, bytes) else m for m in c.smembers(self.key)]
            pipe = c.pipeline(transaction=True)
            for member in members:
                if spec_name(member) == name:
                    pipe.srem(self.key, member)
            pipe.sadd(self.key, spec)
            pipe.execute()

        self._r.write(write)

    def remove(self, name: str) -> bool:
        from ..deps.specs import spec_name

        key = spec_name(name)

        def write(c: Any) -> bool:
            members = [m.decode() if isinstance(m, bytes) else m for m in c.smembers(self.key)]
            gone = [m for m in members if spec_name(m) == key]
            if gone:
                c.srem(self.key, *gone)
            return bool(gone)

        return bool(self._r.write(write))


def validate_prefix(prefix: object) -> str:
    """Return ``prefix`` if no other prefix's keys can ever be this one's, else raise ValueError.

    Keys are ``P:skills:...``, ``P:artifacts:<encoded name>`` and ``P:deps``; names never hold
    a ``:``. A prefix whose last segment is ``artifacts`` or a ``__name__`` is refused, because
    its keys could coincide with names of a shorter prefix: the deps set of
    ``team:artifacts`` is ``team:artifacts:deps``, the key of the artifact ``deps`` of ``team``.
    """
    if not isinstance(prefix, str) or not prefix or any(c.isspace() or ord(c) < 32 for c in prefix):
        raise ValueError(f"invalid Redis prefix {prefix!r}: a non-empty string without spaces")
    last = prefix.rsplit(":", 1)[-1]
    if last == "artifacts" or (len(last) >= 4 and last.startswith("__") and last.endswith("__")):
        raise ValueError(
            f"invalid Redis prefix {prefix!r}: it must not end in ':{last}', a segment of the "
            "storage layout (its keys would overlap those of a shorter prefix)"
        )
    return prefix


class RedisStorage:
    """Skills, artifacts and deps in Redis under ``prefix`` (several prefixes never mix)."""

    def __init__(
        self, url: str | None = None, redis: Any = None, prefix: str = "py_code_mode"
    ) -> None:
        if (url is None) == (redis is None):
            raise ValueError("RedisStorage needs exactly one of url= or redis=")
        validate_prefix(prefix)
        if url is not None:
            if not url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"not a Redis URL: {redact(url)!r} (use redis:// or rediss://)")
            import redis as redis_lib

            redis = redis_lib.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self._client = redis
        self._url = url
        self._prefix = prefix
        self.label = redact(url) if url else f"redis client (prefix {prefix})"
        self.embedder: Any = None
        self._skills: Any = None
        self._artifacts: RedisArtifactStore | None = None

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def client(self) -> Any:
        return self._client

    tools_path = None

    @property
    def cache_path(self) -> Path:
        """This process's local cache for derived data (search index, deps overlay)."""
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        key = hashlib.sha256(
            f"{self._url or id(self._client)}|{self._prefix}".encode()
        ).hexdigest()[:16]
        return home / "py-code-mode" / "redis" / key

    @property
    def deps_overlay(self) -> Path:
        return self.cache_path / "deps"

    def get_skill_library(self) -> Any:
        """The searchable skill library (assembled by ``skills.library.library_for``)."""
        from ..skills.library import library_for

        return library_for(self)

    def get_skill_store(self) -> RedisSkillStore:
        if self._skills is None:
            self._skills = RedisSkillStore(self._client, f"{self._prefix}:skills", self.label)
        return self._skills  # type: ignore[no-any-return]

    def get_artifact_store(self) -> RedisArtifactStore:
        if self._artifacts is None:
            self._artifacts = RedisArtifactStore(
                self._client, f"{self._prefix}:artifacts", self.label
            )
        return self._artifacts

    def get_deps_store(self) -> RedisDepsStore:
        return RedisDepsStore(self._client, self._prefix, self.label)

    def ping(self) -> None:
        """Raise StorageUnavailable unless Redis answers."""
        _Redis(self._client, self.label).read(lambda c: c.ping())

    def to_bootstrap_config(self) -> dict[str, Any]:
        return {"type": "redis", "url": self._url, "prefix": self._prefix}

    def __repr__(self) -> str:
        return f"RedisStorage({self.label!r}, prefix={self._prefix!r})"
