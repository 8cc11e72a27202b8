"""A hybrid (full-text + vector) search index in LanceDB, kept in step with a store.

The index is derived data. :meth:`HybridIndex.sync` compares the store's content hashes with
the index's and writes only what changed (``merge_insert`` on the name, so two processes never
duplicate a row). Queries are answered in memory from every row's vector (:mod:`.vectors`) and
terms (:mod:`.text`, BM25), read from the table once per version; :class:`Fusion` combines the
two scored lists; how, and with which weights, was chosen by measurement on a held-out
labelled set (``bench/skill_search.py``, docs/benchmarks.md). Usage sinks skills that keep
failing.

Errors: an index whose files are found damaged (:func:`is_corruption`) is rebuilt from the
store by the next sync, with a warning; the query path itself never deletes anything. Every
other failure (the embedder, a full disk, permissions) reaches the caller as a
:class:`~py_code_mode.errors.SearchError` and leaves the index as it was.

LanceDB and the embedder are imported on first use, never at ``import py_code_mode``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fileio import file_lock
from ..errors import MissingPackageError, SearchError, SearchIndexCorruptError
from .embedders import Embedder, default_embedder, embed_array

if TYPE_CHECKING:
    from .text import TextIndex
    from .vectors import VectorSet

log = logging.getLogger(__name__)

#: Bumped whenever what the index stores for a document changes (the table is then rebuilt).
RECIPE_VERSION = 2
#: BM25 field weights, applied by repeating a field's words (BM25F's term-frequency boost).
#: Measured on the tuning split: 1/1 (MRR 0.67) beat 2/1 (0.65), 3/2 (0.63) and 4/2 (0.64);
#: what helped BM25 was indexing the docstring and the parameters at all.
NAME_WEIGHT = 1
DESCRIPTION_WEIGHT = 1
#: How much of the docstring the embedder sees (a static embedder averages words: a long tail
#: of generic words drowns the ones that matter).
DETAIL_CHARS = 600
#: Small writes between compactions (each write adds files; queries slow down without it).
COMPACT_EVERY = 50
#: The saturated fusion's BM25 weight unless the embedder says otherwise (``fusion_weight``):
#: chosen for wordllama on the tuning split (bench/skill_search.py).
FUSION_WEIGHT = 0.05
#: Rows another process changed that are read one by one into what a process holds in memory;
#: beyond this (and an eighth of the table), the whole table is read again.
CATCH_UP_ROWS = 1000
#: Candidates fetched per list (vector, BM25) before fusion.
CANDIDATE_DEPTH = 40
_WORD = re.compile(r"\w+", re.UNICODE)

# What lance says when the files of a table are damaged (measured with lancedb 0.40 by garbling,
# truncating and removing each kind of file). Failures of the environment (permission denied,
# no space left, too many open files) say none of these and are never taken for corruption.
_CORRUPTION_MARKERS = (
    "does not have sufficient data",  # a garbled manifest or file footer
    "file size is too small",  # a truncated manifest
    "failed to fill whole buffer",  # a truncated data file
    "for object of size",  # "Invalid range a..b for object of size n": a truncated data file
    "failed to decode",  # garbled metadata (protobuf)
    "not a directory",  # a file where the table's folder should be
    "corrupt",
)
_RUST_SOURCE = re.compile(r",\s*/\S+\.rs:\d+:\d+\s*$")


def is_corruption(exc: BaseException, table_dir: Path) -> bool:
    """Whether ``exc``, raised while reading or writing the table stored at ``table_dir``, says
    that the table's files are damaged (rather than that the environment failed)."""
    if type(exc).__name__ == "RustPanic":  # lance panics on some garbled manifests
        return True
    if not isinstance(exc, (RuntimeError, OSError, ValueError)):
        return False
    message = str(exc).lower()
    if any(marker in message for marker in _CORRUPTION_MARKERS):
        return True
    # A file the manifest lists (a data file, an index part) is gone.
    return "not found:" in message and table_dir.name.lower() in message


def _short(exc: BaseException) -> str:
    """The error's message without lance's Rust source location."""
    return _RUST_SOURCE.sub("", str(exc).strip()) or type(exc).__name__


#: lancedb imports the REST namespace client (``lance_namespace_urllib3_client``) whose package
#: ``__init__`` builds pydantic validators for every REST endpoint: ~0.9 s of CPU, over half of
#: ``import lancedb``, spent before a session's first search. A local index never calls it.
_REST_CLIENT = "lance_namespace_urllib3_client"
_import_lock = threading.Lock()


def _defer_rest_client() -> None:
    """Put the REST client package in ``sys.modules`` without running its ``__init__``: its
    submodules (the request/response models lancedb does import) load from its folder as
    usual, and the first other attribute asked of the package runs the real ``__init__``, so
    nothing that uses the client sees a difference. Does nothing if the client is already
    imported or is not laid out as expected."""
    import importlib.util

    if _REST_CLIENT in sys.modules or "lancedb" in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(_REST_CLIENT)
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    lock = threading.RLock()

    def __getattr__(name: str) -> Any:  # noqa: N807 - a module's own attribute hook
        # The import system probes dunders (all set by module_from_spec, or absent anyway).
        if name.startswith("__") and name != "__all__":
            raise AttributeError(name)
        with lock:
            if module.__dict__.get("__getattr__") is __getattr__:
                del module.__dict__["__getattr__"]
                loader.exec_module(module)
        return getattr(module, name)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[_REST_CLIENT] = module


@contextlib.contextmanager
def _overrides_as_markers() -> Iterator[None]:
    """While lancedb is imported on Python 3.11, make the ``overrides`` package's ``override``
    the marker that lancedb uses on 3.12+ (``typing.override``: sets ``__override__``, which
    is all ``EnforceOverrides`` looks at). The checking decorator disassembles its caller's
    bytecode for each of lancedb's ~100 overriding methods: 0.2-0.4 s of the import's CPU,
    spent before a session's first search, to check lancedb's own classes."""
    if sys.version_info >= (3, 12) or "lancedb" in sys.modules:
        yield
        return
    try:
        import overrides  # lancedb's own dependency on 3.11, patched only if installed
    except ImportError:
        yield
        return

    def marker(method: Any) -> Any:  # what typing.override does
        with contextlib.suppress(AttributeError, TypeError):
            method.__override__ = True
        return method

    saved = overrides.override, overrides.overrides
    overrides.override = overrides.overrides = marker  # type: ignore[assignment]
    try:
        yield
    finally:
        overrides.override, overrides.overrides = saved


def _import_lancedb() -> Any:
    os.environ.setdefault("LANCEDB_LOG", "error")
    try:
        with _import_lock:
            _defer_rest_client()
            with _overrides_as_markers():
                import lancedb
    except ImportError as exc:
        raise MissingPackageError(
            "lancedb",
            "search (skills.search, tools.search)",
            f"{exc} (py-code-mode depends on it; pip install lancedb)",
        ) from None
    return lancedb


@dataclass(frozen=True)
class SearchDocument:
    """One searchable item: ``text`` feeds BM25, ``embed_text`` the embedder."""

    name: str
    text: str
    embed_text: str
    hash: str


def _words(name: str) -> str:
    return name.replace("_", " ").strip()


def document(
    name: str,
    content_hash: str,
    *,
    description: str = "",
    detail: str = "",
    fields: tuple[str, ...] = (),
    weights: tuple[int, int] = (NAME_WEIGHT, DESCRIPTION_WEIGHT),
) -> SearchDocument:
    """The searchable form of one item (a skill, a tool).

    BM25 sees the name's words and the description repeated by their field weights, then the
    docstring ``detail`` and the other ``fields`` (parameter names and types, tags) once. The
    embedder sees ``"name words: description. detail"`` (measured: adding the docstring raised
    vector recall@5 from 0.90 to 0.95 on the tuning split).
    """
    name_words = _words(name)
    text = " ".join(
        part
        for part in (
            *([name_words] * weights[0]),
            *([description] * weights[1]),
            detail,
            *fields,
        )
        if part
    )
    description = description.strip()
    lead = f"{name_words}: {description}" if description else name_words
    if detail:
        lead = f"{lead.rstrip('.')}. {detail[:DETAIL_CHARS]}"
    return SearchDocument(name, text, lead, content_hash)


@dataclass(frozen=True)
class Fusion:
    """How the vector and the BM25 lists become one ranking.

    - ``"rrf"``: ``weight / (k + rank)`` for the vector list plus ``(1 - weight) / (k + rank)``
      for the BM25 list (reciprocal rank fusion; scores are ignored);
    - ``"convex"``: ``weight * cosine + (1 - weight) * bm25 / best bm25 of the query``;
    - ``"saturated"``: ``cosine + weight * bm25 / (bm25 + k)``: the vector score, raised by
      BM25 evidence that saturates, so a few matching words cannot outvote the meaning.

    The default was chosen on the tuning split of the labelled set (bench/skill_search.py).
    """

    method: str = "saturated"
    weight: float = FUSION_WEIGHT
    k: float = 5.0

    def __post_init__(self) -> None:
        if self.method not in ("rrf", "convex", "saturated"):
            raise ValueError(f"unknown fusion method {self.method!r} (rrf, convex or saturated)")

    def combine(
        self, by_vector: list[tuple[str, float]], by_text: list[tuple[str, float]]
    ) -> dict[str, float]:
        """Fused scores by name (higher is better); inputs are best first."""
        scores: dict[str, float] = {}
        if self.method == "rrf":
            for weight, ranking in ((self.weight, by_vector), (1 - self.weight, by_text)):
                for rank, (name, _) in enumerate(ranking):
                    scores[name] = scores.get(name, 0.0) + weight / (self.k + rank + 1)
            return scores
        if self.method == "convex":
            best = max((s for _, s in by_text), default=0.0) or 1.0
            for name, cosine in by_vector:
                scores[name] = self.weight * cosine
            for name, bm25 in by_text:
                scores[name] = scores.get(name, 0.0) + (1 - self.weight) * bm25 / best
            return scores
        scores = dict(by_vector)
        floor = min(scores.values(), default=0.0)  # not in the vector list: no better than its last
        for name, bm25 in by_text:
            scores[name] = scores.get(name, floor) + self.weight * bm25 / (bm25 + self.k)
        return scores


def lift_clause_best(scores: dict[str, float], clause: dict[str, float]) -> None:
    """Let a clause's best skill (ties to the first name, as the final ranking breaks them)
    keep the better of its score in ``scores`` and its clause score."""
    if clause:
        best = min(clause, key=lambda name: (-clause[name], name))
        scores[best] = max(scores.get(best, float("-inf")), clause[best])


#: Share of the best fused score a skill that always fails loses (with enough calls seen).
FAILURE_PENALTY = 0.5


def apply_usage(scores: dict[str, float], usage: dict[str, tuple[int, int]]) -> None:
    """Let usage move fused scores: a skill that keeps failing sinks (by up to
    :data:`FAILURE_PENALTY` of this query's best score, growing with the calls seen, so one
    failure barely counts), and successful use breaks ties."""
    if not scores or not usage:
        return
    scale = max(abs(max(scores.values())), max(scores.values()) - min(scores.values())) or 1.0
    for name, (calls, failures) in usage.items():
        if name not in scores or calls <= 0:
            continue
        failures = min(max(failures, 0), calls)
        confidence = calls / (calls + 5)
        scores[name] -= FAILURE_PENALTY * scale * (failures / calls) * confidence
        scores[name] += 1e-6 * scale * (calls - failures) / (calls + 1)


class HybridIndex:
    """Names ranked by a query, over documents synced from a store."""

    def __init__(
        self,
        path: Path | str,
        table: str,
        embedder: Embedder | None = None,
        *,
        fusion: Fusion | None = None,
    ) -> None:
        self.path = Path(path)
        self.embedder: Embedder = embedder or default_embedder()
        safe_id = re.sub(r"[^A-Za-z0-9_]", "_", self.embedder.id)
        self.table_name = f"{table}__v{RECIPE_VERSION}__{safe_id}"
        self._fusion = fusion
        self._db: Any = None
        self._table: Any = None
        self._hashes: dict[str, str] | None = None
        self._known: tuple[int, dict[str, str]] | None = None  # (table version, hashes) we wrote
        self._writes = 0
        self._suspect = False  # a query found the table corrupt: the next sync checks it
        self._seen: _Held | None = None  # what queries read; None: read the table again
        self._lock = threading.RLock()

    @property
    def fusion(self) -> Fusion:
        """The fusion given, or the saturated one with the BM25 weight the embedder carries
        (``fusion_weight``, chosen for it on the tuning split; read at each search)."""
        if self._fusion is not None:
            return self._fusion
        return Fusion(weight=getattr(self.embedder, "fusion_weight", FUSION_WEIGHT))

    @fusion.setter
    def fusion(self, value: Fusion | None) -> None:
        self._fusion = value

    # --- opening -----------------------------------------------------------------------------

    def _connect(self) -> Any:
        lancedb = _import_lancedb()
        self.path.mkdir(parents=True, exist_ok=True)
        return lancedb.connect(str(self.path))

    def _schema(self) -> Any:
        import pyarrow as pa

        return pa.schema(
            [
                pa.field("name", pa.string(), nullable=False),
                pa.field("text", pa.string()),
                pa.field("hash", pa.string()),
                pa.field("vector", pa.list_(pa.float32(), self.dim)),
            ]
        )

    @property
    def table_dir(self) -> Path:
        """The folder LanceDB keeps this index's table in."""
        return self.path / f"{self.table_name}.lance"

    def _open(self) -> Any:
        if self._table is not None:
            return self._table
        self._db = self._connect()
        try:
            table = self._db.open_table(self.table_name)
        except (ValueError, FileNotFoundError):  # no such table yet
            table = None
        if table is None:
            schema = self._schema()  # before the try: an embedder's ValueError is its own
            # Open first, create only if missing: create(exist_ok=True) fails on schema details.
            try:
                table = self._db.create_table(self.table_name, schema=schema)
            except (ValueError, OSError):
                table = self._db.open_table(self.table_name)  # another process created it
            try:
                table.set_unenforced_primary_key("name")
            except (RuntimeError, ValueError, OSError) as exc:
                # Another process created the table and set it first; merge_insert still keys
                # on the name, so nothing depends on this succeeding here.
                log.debug("primary key on %s not set: %s", self.table_dir, _short(exc))
        self._table = table
        return table

    def _forget(self) -> None:
        """Drop the open table and what we know of its contents (read them again next time)."""
        self._db = None
        self._table = None
        self._hashes = None
        self._known = None
        self._seen = None

    def _read_hashes(self, table: Any) -> dict[str, str]:
        rows = table.search().select(["name", "hash"]).limit(None).to_arrow().to_pydict()
        return dict(zip(rows["name"], rows["hash"], strict=True))

    def _embed(self, texts: list[str]) -> Any:
        """``(len(texts), dim)`` float32 vectors. An empty text gets zeros without asking the
        embedder (some return NaN for it); an embedder that returns another shape, or NaN or
        infinite values, is reported before anything is written or searched with them (one
        such row would skew every search of the table)."""
        import numpy as np

        asked = [i for i, text in enumerate(texts) if text.strip()]
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not asked:
            return vectors
        got = np.asarray(self._from_embedder(embed_array, self.embedder, [texts[i] for i in asked]))
        problem = ""
        if got.shape != (len(asked), self.dim):
            problem = f"vectors of shape {got.shape} for {len(asked)} texts of dimension {self.dim}"
        elif not np.isfinite(got).all():
            bad = np.flatnonzero(~np.isfinite(got).all(axis=1))
            problem = (
                f"NaN or infinite values for {len(bad)} of {len(asked)} texts "
                f"(the first: {texts[asked[int(bad[0])]][:80]!r})"
            )
        if problem:
            raise SearchError(
                f"search failed: embedder {self.embedder.id} returned {problem}",
                index_path=str(self.table_dir),
            )
        vectors[asked] = got
        return vectors

    @property
    def dim(self) -> int:
        """The embedder's dimension (an embedder may load its model to answer)."""
        return self._from_embedder(lambda e: e.dim, self.embedder)  # type: ignore[no-any-return]

    def _from_embedder(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except MissingPackageError:  # says what to install; not a failure of the index
            raise
        except Exception as exc:  # any embedder (a callable, an HTTP endpoint): name it
            raise SearchError(
                f"search failed: embedder {self.embedder.id} raised "
                f"{type(exc).__name__}: {_short(exc)}",
                index_path=str(self.table_dir),
            ) from exc

    def _failure(self, action: str, exc: Exception) -> SearchError | MissingPackageError:
        """The error a caller sees for ``exc``, met while ``action``."""
        if isinstance(exc, (SearchError, MissingPackageError)):
            return exc
        if is_corruption(exc, self.table_dir):
            self._suspect = True
            return SearchIndexCorruptError(
                f"search index {self.table_dir} is corrupt ({_short(exc)}) while {action}; "
                "the next sync rebuilds it from the store",
                index_path=str(self.table_dir),
            )
        return SearchError(
            f"search index {self.table_dir} failed while {action}: "
            f"{type(exc).__name__}: {_short(exc)}",
            index_path=str(self.table_dir),
        )

    # --- repairing ---------------------------------------------------------------------------

    def _probe(self) -> None:
        """Read every column of the table once; raises if any part is damaged."""
        table = self._open()
        self._read_hashes(table)
        self._read_rows(table)

    def _repair(self, cause: Exception) -> None:
        """``cause`` said the table is corrupt. Check again under the lock (another process may
        have rebuilt it meanwhile) and delete it only if it is still damaged; the sync that
        follows fills it again from the store."""
        with file_lock(self.path / f"{self.table_name}.lock"):
            self._forget()
            try:
                self._probe()
            except Exception as exc:
                if not is_corruption(exc, self.table_dir):
                    raise self._failure("checking it for damage", exc) from exc
            else:
                log.info("search index %s is readable again; not rebuilding it", self.table_dir)
                self._suspect = False
                return
            log.warning(
                "search index %s is corrupt (%s); rebuilding it from the store",
                self.table_dir,
                _short(cause),
            )
            self._forget()
            try:
                if self.table_dir.is_dir():
                    shutil.rmtree(self.table_dir)
                elif self.table_dir.exists():
                    self.table_dir.unlink()
            except OSError as exc:
                raise SearchError(
                    f"search index {self.table_dir} is corrupt and could not be deleted: {exc}",
                    index_path=str(self.table_dir),
                ) from exc
            self._suspect = False

    # --- syncing -----------------------------------------------------------------------------

    def sync(self, documents: dict[str, SearchDocument]) -> None:
        """Make the index hold exactly ``documents`` (by content hash); write only the changes.

        A table found corrupt is rebuilt (with a warning); any other failure raises
        :class:`~py_code_mode.errors.SearchError` and leaves the index as it was.
        """
        wanted = {name: doc.hash for name, doc in documents.items()}
        with self._lock:
            if self._hashes == wanted and not self._suspect:
                return
            _import_lancedb()  # a missing package is not a corrupt index: no repair for it
            if self._suspect:
                self._repair(SearchIndexCorruptError("a query found it unreadable"))
            try:
                self._sync(documents, wanted)
                return
            except Exception as exc:
                error = self._failure("updating it", exc)
                if not isinstance(error, SearchIndexCorruptError):
                    raise error from exc
                cause = exc
            self._repair(cause)
            try:
                self._sync(documents, wanted)
            except Exception as exc:
                raise self._failure("rebuilding it", exc) from exc

    def _sync(self, documents: dict[str, SearchDocument], wanted: dict[str, str]) -> None:
        with file_lock(self.path / f"{self.table_name}.lock"):
            table = self._open()
            table.checkout_latest()  # see what other processes wrote
            before = table.version
            if self._known is not None and self._known[0] == before:
                have = self._known[1]  # nobody wrote since our last sync: skip the read
            else:
                have = self._read_hashes(table)
            changed = [doc for name, doc in documents.items() if have.get(name) != doc.hash]
            removed = [name for name in have if name not in wanted]
            seen = self._caught_up(table, before, have)
            patch = seen is not None  # what is in memory is current: patch it with our writes
            written: list[tuple[list[SearchDocument], Any]] = []  # (docs, vectors) to patch it
            if changed:
                for start in range(0, len(changed), 5000):
                    docs = changed[start : start + 5000]
                    vectors, batch = self._batch(docs)
                    (
                        table.merge_insert("name")
                        .when_matched_update_all()
                        .when_not_matched_insert_all()
                        .execute(batch)
                    )
                    if patch:
                        written.append((docs, vectors))
            if removed:
                for start in range(0, len(removed), 500):
                    table.delete(f"name IN ({_quoted(removed[start : start + 500])})")
            if changed or removed:
                self._after_write(table, len(changed) + len(removed))
            self._hashes = wanted
            self._known = (table.version, dict(wanted))
            if seen is not None and seen.version != table.version:  # apply our writes to it
                seen.update([], [], [], removed)
                for docs, vectors in written:
                    seen.update([d.name for d in docs], vectors, [d.text for d in docs])
                seen.version = table.version

    def _caught_up(self, table: Any, version: int, have: dict[str, str]) -> _Held | None:
        """What is held in memory, brought to ``version`` (whose rows have the hashes ``have``),
        or None when the next search must read the table again. Another process's writes are
        applied by reading just the rows they changed (rebuilding BM25 for 100k rows costs
        ~1.5 s of CPU; a few rows, milliseconds); many changes are read in full."""
        seen, known = self._seen, self._known
        if seen is None or seen.version == version:
            return seen
        self._seen = None  # until it is caught up
        if known is None or known[0] != seen.version:  # not known what it holds
            return None
        old = known[1]
        stale = [name for name, digest in have.items() if old.get(name) != digest]
        gone = [name for name in old if name not in have]
        if len(stale) + len(gone) > max(CATCH_UP_ROWS, len(have) // 8):
            return None
        seen.update([], [], [], gone)
        for start in range(0, len(stale), 500):
            seen.update(*self._read_rows(table, stale[start : start + 500]))
        seen.version = version
        self._seen = seen
        return seen

    def _batch(self, docs: list[SearchDocument]) -> tuple[Any, Any]:
        """The documents' vectors and an Arrow table of them with the index's exact schema
        (the key column must be non-null)."""
        import pyarrow as pa

        vectors = self._embed([d.embed_text for d in docs])
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        names = [d.name for d in docs]
        return (
            vectors,
            pa.Table.from_arrays(
                [
                    pa.array(names, type=pa.string()),
                    pa.array([d.text for d in docs], type=pa.string()),
                    pa.array([d.hash for d in docs], type=pa.string()),
                    pa.FixedSizeListArray.from_arrays(flat, self.dim),
                ],
                schema=self._schema(),
            ),
        )

    def _after_write(self, table: Any, count: int) -> None:
        self._writes += 1
        if count > 100 or self._writes % COMPACT_EVERY == 0:
            from datetime import timedelta

            table.optimize(cleanup_older_than=timedelta(minutes=5))

    # --- querying ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        limit: int = 5,
        usage: dict[str, tuple[int, int]] | None = None,
        *,
        mode: str = "hybrid",
    ) -> list[tuple[str, float]]:
        """``[(name, score)]``, best first. An empty query matches nothing.

        ``mode`` is ``"hybrid"`` (default), ``"vector"`` or ``"text"`` (BM25 only); ``usage``
        maps names to ``(calls, failures)``.
        """
        if mode not in ("hybrid", "vector", "text"):
            raise ValueError(f"unknown search mode {mode!r} (hybrid, vector or text)")
        text = query_text(query)
        if not text or limit <= 0:
            return []
        # Measured on the tuning split: 40 candidates per list found more than 20 (recall@5
        # 0.96 vs 0.95) at no measurable cost; deeper lists changed nothing.
        depth = max(limit * 8, CANDIDATE_DEPTH)
        parts = [query_text(p) for p in (clauses(query) if mode == "hybrid" else [])]
        found = self._candidates_many(
            [text, *(p for p in parts if p)],  # a clause of symbols only has no words to match
            depth,
            vector=mode != "text",
            full_text=mode != "vector",
        )
        by_vector, by_text = found[0]
        if mode == "vector":
            scores = dict(by_vector)
        elif mode == "text":
            scores = dict(by_text)
        else:
            fusion = self.fusion
            scores = fusion.combine(by_vector, by_text)
            # A multi-intent request ("get the stars and post them to slack"): each clause's
            # best skill (the clause's vector list fused with the whole query's BM25 list)
            # keeps the better of its two scores, so every intent's best skill reaches the
            # top. Only the best: a clause's runners-up would push the whole query's own
            # candidates out (measured, held-out multi slice: wordllama MRR 0.81 without
            # clauses, 1.00 with; MiniLM recall 0.89 lifting every clause candidate, 0.94
            # lifting only each clause's best).
            for clause_vector, _ in found[1:]:
                lift_clause_best(scores, fusion.combine(clause_vector, by_text))
        apply_usage(scores, usage or {})
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:limit]

    def query(
        self,
        documents: dict[str, SearchDocument],
        query: str,
        limit: int = 5,
        usage: dict[str, tuple[int, int]] | None = None,
        *,
        mode: str = "hybrid",
    ) -> list[tuple[str, float]]:
        """Sync ``documents``, then :meth:`search`. A table the search finds corrupt is rebuilt
        by a second sync and searched once more; every other error is raised."""
        self.sync(documents)
        try:
            return self.search(query, limit, usage, mode=mode)
        except SearchIndexCorruptError:
            self.sync(documents)
            return self.search(query, limit, usage, mode=mode)

    def candidates(
        self, text: str, depth: int, *, vector: bool = True, full_text: bool = True
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The ``depth`` best ``(name, cosine)`` by vector and ``(name, bm25)`` by full text
        for an already normalized query (:func:`query_text`)."""
        return self._candidates_many([text], depth, vector=vector, full_text=full_text)[0]

    def _candidates_many(
        self, texts: list[str], depth: int, *, vector: bool = True, full_text: bool = True
    ) -> list[tuple[list[tuple[str, float]], list[tuple[str, float]]]]:
        """:meth:`candidates` for a query and its clauses: vector lists for each text, the
        BM25 list for the first only (the others get ``[]``)."""
        with self._lock:
            try:
                held = self._in_memory(self._open())
                by_vector: list[list[tuple[str, float]]] = [[] for _ in texts]
                if vector:
                    # The query and its clauses in one embedder call.
                    by_vector = held.vectors.nearest(self._embed(texts), depth)
                # BM25 for the first text only (clauses use the whole query's list).
                by_text: list[list[tuple[str, float]]] = [[] for _ in texts]
                if full_text:
                    by_text[0] = held.text.top(texts[0], depth)
            except Exception as exc:  # named and re-raised; the index is never touched here
                raise self._failure("searching it", exc) from exc
        return list(zip(by_vector, by_text, strict=True))

    def _read_rows(
        self, table: Any, names: list[str] | None = None
    ) -> tuple[list[str], Any, list[str]]:
        """``(names, vectors, texts)`` of every row, or of the rows named."""
        query = table.search()
        if names is not None:
            query = query.where(f"name IN ({_quoted(names)})")
        rows = query.select(["name", "text", "vector"]).limit(None).to_arrow()
        return (
            rows["name"].to_pylist(),
            _vector_column(rows, self.dim),
            rows["text"].fill_null("").to_pylist(),
        )

    def _in_memory(self, table: Any) -> _Held:
        """Every row's vector and terms, held in memory for exact search (:mod:`.vectors`,
        :mod:`.text`); read again when the table's version is not the one they were read or
        patched at."""
        version = table.version
        if self._seen is None or self._seen.version != version:
            names, vectors, texts = self._read_rows(table)
            # numpy and the stemmer: loaded with the first search
            from .text import TextIndex
            from .vectors import VectorSet

            self._seen = _Held(
                version, VectorSet(names, vectors, self.dim), TextIndex(names, texts)
            )
            del names, vectors, texts
            # Reading and splitting 100k texts leaves ~160 MB of freed buffers in pyarrow's
            # pool; give them back rather than hold them for the life of the process.
            import pyarrow as pa

            pa.default_memory_pool().release_unused()
        return self._seen


@dataclass
class _Held:
    """What queries read, in memory: every row's vector and terms as of one table version."""

    version: int
    vectors: VectorSet
    text: TextIndex

    def update(
        self, names: list[str], vectors: Any, texts: list[str], removed: Sequence[str] = ()
    ) -> None:
        """Drop the ``removed`` rows, then set ``names`` (new or changed) in both."""
        self.text.update(names, texts, removed)  # first: it checks the texts before any change
        self.vectors.update(names, vectors, removed)


def _quoted(names: list[str]) -> str:
    """``names`` as an SQL list of string literals."""
    return ", ".join("'" + name.replace("'", "''") + "'" for name in names)


def _vector_column(data: Any, dim: int) -> Any:
    """The ``vector`` column of an Arrow table as an ``(rows, dim)`` float32 array."""
    import numpy as np

    flat = data["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dim)


#: Clause separators of a multi-intent request: "X and Y", "X, then Y", "X; Y".
_CLAUSE = re.compile(r"\s*(?:[,;]|\bthen\b|\band\b)\s*", re.IGNORECASE)


def clauses(query: str) -> list[str]:
    """The clauses of a request that asks for several things (each at least two words), or
    ``[]`` when it asks for one."""
    parts = [p for p in _CLAUSE.split(query or "") if len(p.split()) >= 2]
    return parts if len(parts) >= 2 else []


def query_text(query: str) -> str:
    """The words of a query, with snake_case names split (``list_github_issues`` matches the
    name's words in both BM25 and the embedder)."""
    return " ".join(_WORD.findall((query or "").replace("_", " ")))


def content_hash(name: str, description: str, source: str) -> str:
    """The key that tells whether a document changed (skills and tools alike)."""
    digest = hashlib.sha256(f"{name}\x00{description}\x00{source}".encode())
    return digest.hexdigest()[:32]
