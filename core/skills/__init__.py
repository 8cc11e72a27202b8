"""Skills: saved, searchable, versioned Python functions that agents reuse and compose."""

from typing import Any

from ..search.embedders import (
    CallableEmbedder,
    Embedder,
    HashEmbedder,
    MockEmbedder,
    OnnxEmbedder,
    OpenAIEmbedder,
    WordLlamaEmbedder,
    cosine_similarity,
)
from ..search.index import content_hash as compute_content_hash
from .library import SkillLibrary
from .namespace import SkillsNamespace
from .skill import Skill, SkillStats, parse_skill, validate_skill_name
from .store import FileSkillStore, MemorySkillStore, SkillStore, SkillVersion

PythonSkill = Skill  # the reference project's name
SEMANTIC_AVAILABLE = True  # the default embedder ships inside a dependency


def create_skill_library(
    store: SkillStore | None = None, embedder: Embedder | None = None, **options: Any
) -> SkillLibrary:
    """A SkillLibrary over ``store`` (in memory when None)."""
    return SkillLibrary(store, embedder=embedder, **options)


__all__ = [
    "SEMANTIC_AVAILABLE",
    "CallableEmbedder",
    "HashEmbedder",
    "MockEmbedder",
    "compute_content_hash",
    "cosine_similarity",
    "create_skill_library",
    "Embedder",
    "FileSkillStore",
    "MemorySkillStore",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "PythonSkill",
    "Skill",
    "SkillLibrary",
    "SkillStats",
    "SkillStore",
    "SkillVersion",
    "SkillsNamespace",
    "WordLlamaEmbedder",
    "parse_skill",
    "validate_skill_name",
]
