"""SkillLibrary: a skill store plus its search index and usage statistics.

The store is the source of truth; the index is refreshed from it by content hash before each
search (only changed skills are re-embedded), so a skill file dropped into ``skills/`` is found.
"""

from __future__ import annotations

import builtins
import threading
import weakref
from pathlib import Path
from typing import Any

from ..errors import SkillNotFoundError
from ..search.embedders import Embedder
from .skill import Skill, SkillStats, parse_skill, stub
from .store import MemorySkillStore, SkillStore, SkillVersion


class SkillLibrary:
    """Create, find, version and describe skills."""

    def __init__(
        self,
        store: SkillStore | None = None,
        *,
        index_path: Path | str | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.store: SkillStore = store if store is not None else MemorySkillStore()
        self._index_path = Path(index_path) if index_path is not None else None
        self._embedder = embedder
        self._index: Any = None
        self._lock = threading.Lock()

    # --- reading -----------------------------------------------------------------------------

    def list(self) -> builtins.list[Skill]:
        """Every skill, by name."""
        return list(self.store.scan().values())

    def names(self) -> builtins.list[str]:
        return list(self.store.scan())

    def get(self, name: str) -> Skill | None:
        return self.store.get(name)

    def require(self, name: str) -> Skill:
        skill = self.store.get(name)
        if skill is None:
            raise SkillNotFoundError(name)
        return skill

    def stats(self) -> dict[str, SkillStats]:
        return self.store.stats()

    # --- writing -----------------------------------------------------------------------------

    def create(self, name: str, source: str, description: str | None = None) -> Skill:
        """Validate and save a skill (a new version if the name exists). Nothing is written
        when validation fails; the previous version stays."""
        skill, _ = parse_skill(name, source, description or None)
        return self.store.save(skill)

    add = create

    def delete(self, name: str) -> bool:
        """Remove a skill (its history is kept, so it can be restored). False if absent."""
        return self.store.delete(name)

    remove = delete

    def history(self, name: str) -> builtins.list[SkillVersion]:
        versions = self.store.history(name)
        if not versions:
            raise SkillNotFoundError(name)
        return versions

    def rollback(self, name: str, version: int) -> Skill:
        """Make an earlier version current again (as a new version; history is never lost)."""
        old = self.store.get_version(name, int(version))
        restored, _ = parse_skill(
            name, old.source, old.description if old.explicit_description else None
        )
        return self.store.save(restored)

    def record_usage(self, name: str, ok: bool, duration_ms: float) -> None:
        self.store.record_usage(name, ok, duration_ms)

    # --- search ------------------------------------------------------------------------------

    def _search_index(self) -> Any:
        from ..search.index import HybridIndex

        with self._lock:
            if self._index is None:
                path = self._index_path
                if path is None:
                    import tempfile

                    path = Path(tempfile.mkdtemp(prefix="py-code-mode-index-"))
                    self._index_path = path
                self._index = HybridIndex(path, "skills", self._embedder)
            return self._index

    def refresh(self) -> None:
        """Bring the search index up to date with the store now."""
        from ..search.index import SearchDocument

        skills = self.store.scan()
        docs = {
            name: SearchDocument(name, s.search_text(), s.embedding_text(), s.content_hash)
            for name, s in skills.items()
        }
        self._search_index().sync(docs)

    def search(self, query: str, limit: int = 5) -> builtins.list[Skill]:
        """The skills that best match ``query`` (hybrid BM25 + vector search).

        An empty query returns the most used skills.
        """
        from ..search.index import usage_boost

        limit = max(0, int(limit))
        skills = self.store.scan()
        stats = self.store.stats()
        if not (query or "").strip():
            ranked = sorted(
                skills.values(),
                key=lambda s: (-(stats[s.name].calls if s.name in stats else 0), s.name),
            )
            return ranked[:limit]
        self.refresh()
        boosts = {n: usage_boost(s.calls, s.failures) for n, s in stats.items()}
        hits = self._search_index().search(query, limit, boosts)
        return [skills[name] for name, _ in hits if name in skills]

    # --- description -------------------------------------------------------------------------

    def describe(self, name: str | None = None) -> str:
        """Python stubs (signature plus docstring) of one skill or of all, for a prompt."""
        if name is not None:
            return stub(self.require(name))
        return "\n\n".join(stub(s) for s in self.list())


_LIBRARIES: weakref.WeakKeyDictionary[Any, SkillLibrary] = weakref.WeakKeyDictionary()
_LIBRARIES_LOCK = threading.Lock()


def library_for(storage: Any) -> SkillLibrary:
    """The searchable skill library over a storage backend's skill store (one per storage).

    Storage keeps skills; the search index is derived data, assembled here above it: under the
    storage's ``index_path`` (FileStorage: ``{base}/.code-mode/index``) or, for shared backends,
    its process-local ``cache_path``. A storage with no skill store of its own but a
    ``get_skill_library()`` (a custom backend) keeps its library.
    """
    get_store = getattr(storage, "get_skill_store", None)
    if get_store is None:
        return storage.get_skill_library()  # type: ignore[no-any-return]
    with _LIBRARIES_LOCK:
        library = _LIBRARIES.get(storage)
        if library is None:
            root = getattr(storage, "index_path", None) or getattr(storage, "cache_path", None)
            library = SkillLibrary(
                get_store(),
                index_path=Path(root) / "index" if root is not None else None,
                embedder=getattr(storage, "embedder", None),
            )
            _LIBRARIES[storage] = library
        return library
