"""SkillLibrary: a skill store plus its search index and usage statistics.

The store is the source of truth; the index is refreshed from it by content hash before each
search (only changed skills are re-embedded), so a skill file dropped into ``skills/`` is found.
"""

from __future__ import annotations

import builtins
import logging
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SkillNotFoundError
from ..search.embedders import Embedder
from .skill import Skill, SkillStats, parse_skill, stub
from .store import MemorySkillStore, SkillStore, SkillVersion

log = logging.getLogger(__name__)


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
        #: Set by :func:`library_for`: reads the storage's ``embedder`` at each search, so one
        #: set after the library was first used still takes effect (the last one seen stays
        #: when the storage object itself is gone).
        self._embedder_source: Callable[[], Any] | None = None
        self._index: Any = None
        self._lock = threading.Lock()
        self._docs: dict[str, Any] = {}  # name -> SearchDocument, rebuilt when its hash changes
        self._warming: threading.Thread | None = None

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
        from ..search.embedders import default_embedder
        from ..search.index import HybridIndex

        source = self._embedder_source
        if source is not None:
            current = source()
            if current is not _STORAGE_GONE:
                self._embedder = current
        embedder = self._embedder
        with self._lock:
            if self._index is None or self._index.embedder is not (embedder or default_embedder()):
                # A new embedder gets its own table (named by its id) in the same folder.
                path = self._index_path
                if path is None:
                    import tempfile

                    path = Path(tempfile.mkdtemp(prefix="py-code-mode-index-"))
                    self._index_path = path
                self._index = HybridIndex(path, "skills", embedder)
            return self._index

    def _documents(self, skills: dict[str, Skill]) -> dict[str, Any]:
        """Each skill's search document, built once per content hash (it parses the source)."""
        cache = self._docs
        out = {}
        for name, skill in skills.items():
            doc = cache.get(name)
            if doc is None or doc.hash != skill.content_hash:
                doc = cache[name] = skill.search_document()
            out[name] = doc
        for gone in set(cache) - set(out):
            cache.pop(gone, None)
        return out

    def refresh(self) -> None:
        """Bring the search index up to date with the store now.

        Raises :class:`~py_code_mode.errors.SearchError` when the index cannot be updated."""
        self._search_index().sync(self._documents(self.store.scan()))

    def warm(self) -> None:
        """Start readying search in the background and return at once: import LanceDB, load
        the embedder, bring the index up to date with the store and open it. Does nothing when
        there are no skills. A search that arrives meanwhile waits only for what is left.

        A session whose storage has skills calls this when it starts, so that the agent's
        first search pays nothing."""
        with self._lock:
            if self._warming is not None and self._warming.is_alive():
                return
            self._warming = threading.Thread(
                target=self._warm, name="py-code-mode-warm-search", daemon=True
            )
            self._warming.start()

    def _warm(self) -> None:
        try:
            if not self.store.scan():
                return
            self.refresh()
            self._search_index().search("warm up", 1)  # loads the model, opens both indexes
        except Exception as exc:  # a background thread has nobody to raise to
            log.warning("search warm-up failed (the next search retries and reports it): %s", exc)

    def _join_warm_up(self) -> None:
        """Wait for an in-flight warm-up: it is doing what this search needs first."""
        warming = self._warming
        if warming is not None and warming is not threading.current_thread():
            warming.join()

    def search(self, query: str, limit: int = 5) -> builtins.list[Skill]:
        """The skills that best match ``query`` (hybrid BM25 + vector search).

        An empty query returns the most used skills. Raises
        :class:`~py_code_mode.errors.SearchError` when searching fails (the index is kept).
        """
        limit = max(0, int(limit))
        skills = self.store.scan()
        stats = self.store.stats()
        if not (query or "").strip():
            ranked = sorted(
                skills.values(),
                key=lambda s: (-(stats[s.name].calls if s.name in stats else 0), s.name),
            )
            return ranked[:limit]
        usage = {n: (s.calls, s.failures) for n, s in stats.items()}
        self._join_warm_up()
        hits = self._search_index().query(self._documents(skills), query, limit, usage)
        return [skills[name] for name, _ in hits if name in skills]

    # --- description -------------------------------------------------------------------------

    def describe(self, name: str | None = None) -> str:
        """Python stubs (signature plus docstring) of one skill or of all, for a prompt."""
        if name is not None:
            return stub(self.require(name))
        return "\n\n".join(stub(s) for s in self.list())


_LIBRARIES: weakref.WeakKeyDictionary[Any, SkillLibrary] = weakref.WeakKeyDictionary()
_STORAGE_GONE = object()
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
            owner = weakref.ref(storage)  # the library must not keep its storage alive

            def embedder_now() -> Any:
                current = owner()
                return _STORAGE_GONE if current is None else getattr(current, "embedder", None)

            library._embedder_source = embedder_now
            _LIBRARIES[storage] = library
        return library
