"""The storage contract: where skills, artifacts and recorded deps live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..artifacts.protocol import ArtifactStoreProtocol


@runtime_checkable
class StorageBackend(Protocol):
    """A place that holds a session's persistent data."""

    def get_artifact_store(self) -> ArtifactStoreProtocol: ...

    def to_bootstrap_config(self) -> dict[str, Any]: ...
