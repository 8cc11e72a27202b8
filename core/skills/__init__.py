"""Skills: saved, searchable, versioned Python functions that agents reuse and compose."""

from ..search.embedders import CallableEmbedder, Embedder, OpenAIEmbedder, WordLlamaEmbedder
from .library import SkillLibrary
from .namespace import SkillsNamespace
from .skill import Skill, SkillStats, parse_skill, validate_skill_name
from .store import FileSkillStore, MemorySkillStore, SkillStore, SkillVersion

PythonSkill = Skill  # the reference project's name

__all__ = [
    "CallableEmbedder",
    "Embedder",
    "FileSkillStore",
    "MemorySkillStore",
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
