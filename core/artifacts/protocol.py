"""The artifact store contract and the artifact name rules every backend applies."""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any, Protocol, runtime_checkable

from ..errors import ArtifactNameError
from ..types import Artifact

MAX_NAME_LENGTH = 255
#: Bytes of one ``/``-separated segment: NAME_MAX (255) less the temp-file affixes of a write.
MAX_SEGMENT_BYTES = 240
RESERVED_NAMES = frozenset({".artifacts.json", ".artifacts.lock"})
MISSING: Any = object()


def validate_artifact_name(name: object) -> str:
    """Return ``name`` if it is a safe relative name (``/`` allowed for subfolders), else raise.

    Refused: non-strings, empty names, names over 255 characters or with a segment over 240
    UTF-8 bytes, lone surrogates, NUL and control characters,
    backslashes, absolute paths, ``''``/``'.'``/``'..'`` segments, the file index's names and
    names that start and end with ``__`` (reserved for storage keys such as ``__index__``).
    """
    if not isinstance(name, str):
        raise ArtifactNameError(repr(name), f"must be a string, not {type(name).__name__}")
    if not name.strip():
        raise ArtifactNameError(name, "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ArtifactNameError(name[:40] + "...", f"is longer than {MAX_NAME_LENGTH} characters")
    if "\x00" in name:
        raise ArtifactNameError(name, "contains a NUL character")
    if any(ord(c) < 32 for c in name):
        raise ArtifactNameError(name, "contains a control character")
    try:
        longest = max(len(part.encode("utf-8")) for part in name.split("/"))
    except UnicodeEncodeError:
        raise ArtifactNameError(name, "is not valid Unicode (a lone surrogate)") from None
    if longest > MAX_SEGMENT_BYTES:
        raise ArtifactNameError(
            name[:40] + "...",
            f"has a path segment over {MAX_SEGMENT_BYTES} bytes in UTF-8 (file systems allow 255, "
            "and writes add a temporary suffix)",
        )
    if "\\" in name:
        raise ArtifactNameError(name, "contains a backslash (use '/' for subfolders)")
    if name.startswith("/"):
        raise ArtifactNameError(name, "is an absolute path")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArtifactNameError(name, "has an empty, '.' or '..' path segment (path traversal)")
    if parts[0] in RESERVED_NAMES:
        raise ArtifactNameError(name, "is reserved for the artifact index")
    if len(name) >= 4 and name.startswith("__") and name.endswith("__"):
        # Storage layouts name their own keys like this (Redis: P:artifacts:__index__).
        raise ArtifactNameError(
            name, "is reserved: names starting and ending with '__' name storage keys"
        )
    return name


def encode_artifact(data: Any) -> tuple[bytes, str]:
    """Serialize data: bytes stay bytes, str is text, JSON-able values are JSON, else str()."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), "bytes"
    if isinstance(data, str):
        return data.encode("utf-8"), "text"
    try:
        return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"), "json"
    except (TypeError, ValueError):
        return str(data).encode("utf-8"), "text"


def decode_artifact(raw: bytes, data_type: str | None, name: str) -> Any:
    if data_type == "bytes":
        return raw
    if data_type == "json" or (data_type is None and name.endswith(".json")):
        try:
            return json.loads(raw)
        except ValueError:
            if data_type == "json":
                raise
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


@runtime_checkable
class ArtifactStoreProtocol(Protocol):
    """What ``artifacts`` offers inside code and what every backend implements."""

    def save(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> Artifact: ...

    def load(self, name: str, default: Any = MISSING) -> Any: ...

    def get(self, name: str) -> Artifact | None: ...

    def list(self) -> list[Artifact]: ...

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str) -> None: ...

    def change_stamp(self) -> Hashable:
        """A cheap value that differs whenever the list may have changed since it was taken
        (a write counter, a version key): how a server that tells its clients about changes
        (the MCP server's ``list_changed``) checks after every call without listing every
        artifact. Stores without it are listed and compared instead."""
        ...
