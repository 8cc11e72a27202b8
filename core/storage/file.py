"""FileStorage: the embedded default, one folder per agent.

Layout under ``base_path``: ``skills/*.py``, ``artifacts/`` (with ``.artifacts.json``),
``requirements.txt``, ``tools/*.yaml`` and derived data under ``.code-mode/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifacts.file import FileArtifactStore

if TYPE_CHECKING:
    from ..skills.library import SkillLibrary
    from ..skills.store import FileSkillStore


class FileStorage:
    """Keeps a session's skills, artifacts and deps in one folder (created if missing)."""

    def __init__(self, base_path: Path | str) -> None:
        if base_path is None or (isinstance(base_path, str) and not base_path.strip()):
            raise TypeError("FileStorage needs a base_path (a folder to keep data in)")
        self._root = Path(base_path).expanduser().resolve()
        self._root.mkdir(parents=True, exist_ok=True)
        self._artifacts: FileArtifactStore | None = None
        self._skill_store: FileSkillStore | None = None
        self.embedder: Any = None  # None: the offline default

    @property
    def root(self) -> Path:
        """The base folder."""
        return self._root

    base_path = root

    @property
    def skills_path(self) -> Path:
        return self._root / "skills"

    @property
    def artifacts_path(self) -> Path:
        return self._root / "artifacts"

    @property
    def tools_path(self) -> Path | None:
        """``{base}/tools`` when that folder exists (loaded by sessions without a tools_path)."""
        path = self._root / "tools"
        return path if path.is_dir() else None

    @property
    def index_path(self) -> Path:
        """Hidden folder for derived data (search index)."""
        return self._root / ".code-mode"

    def get_artifact_store(self) -> FileArtifactStore:
        if self._artifacts is None:
            self._artifacts = FileArtifactStore(self.artifacts_path)
        return self._artifacts

    def get_skill_store(self) -> FileSkillStore:
        """The skills in ``{base}/skills`` (history and stats under ``.code-mode/``)."""
        if self._skill_store is None:
            from ..skills.store import FileSkillStore

            self._skill_store = FileSkillStore(self.skills_path, self.index_path)
        return self._skill_store

    def get_skill_library(self) -> SkillLibrary:
        """The searchable skill library over this storage (the reference's accessor; the
        library and its search index are assembled by :func:`~py_code_mode.skills.library.library_for`)."""
        from ..skills.library import library_for

        return library_for(self)

    def to_bootstrap_config(self) -> dict[str, Any]:
        return {"type": "file", "base_path": str(self._root)}

    def __repr__(self) -> str:
        return f"FileStorage({str(self._root)!r})"
