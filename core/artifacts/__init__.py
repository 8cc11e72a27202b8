"""Artifacts: named data that outlives a session."""

from ..types import Artifact
from .file import FileArtifactStore
from .protocol import ArtifactStoreProtocol, validate_artifact_name

__all__ = ["Artifact", "ArtifactStoreProtocol", "FileArtifactStore", "validate_artifact_name"]
