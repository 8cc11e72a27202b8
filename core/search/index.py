"""A hybrid (full-text + vector) search index in LanceDB, kept in step with a store.

The index is derived data. :meth:`HybridIndex.sync` compares the store's content hashes with
the index's and writes only what changed (``merge_insert`` on the name, so two processes never
duplicate a row); a missing or corrupt index is rebuilt from the store. Queries run BM25 and
vector search separately and fuse the two rankings with weighted reciprocal rank fusion.

LanceDB and the embedder are imported on first use, never at ``import py_code_mode``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._fileio import file_lock
from .embedders import Embedder, default_embedder, embed_array

log = logging.getLogger(__name__)

RRF_K = 60
#: Rows above which an ANN vector index is built (exact search is fast enough below).
ANN_THRESHOLD = 50_000
#: Small writes between compactions (each write adds files; queries slow down without it).
COMPACT_EVERY = 50
_WORD = re.compile(r"\w+", re.UNICODE)


def _import_lancedb() -> Any:
    os.environ.setdefault("LANCEDB_LOG", "error")
    try:
        import lancedb
    except ImportError as exc:
        from ..errors import MissingPackageError

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


class HybridIndex:
    """Names ranked by a query, over documents synced from a store."""

    def __init__(
        self,
        path: Path | str,
        table: str,
        embedder: Embedder | None = None,
        *,
        vector_weight: float = 0.7,
    ) -> None:
        self.path = Path(path)
        self.embedder: Embedder = embedder or default_embedder()
        safe_id = re.sub(r"[^A-Za-z0-9_]", "_", self.embedder.id)
        self.table_name = f"{table}__{safe_id}"
        self.vector_weight = vector_weight
        self._db: Any = None
        self._table: Any = None
        self._hashes: dict[str, str] | None = None
        self._known: tuple[int, dict[str, str]] | None = None  # (table version, hashes) we wrote
        self._writes = 0
        self._fts_ready = False
        self._lock = threading.RLock()

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
                pa.field("vector", pa.list_(pa.float32(), self.embedder.dim)),
            ]
        )

    def _open(self) -> Any:
        if self._table is not None:
            return self._table
        self._db = self._connect()
        try:
            table = self._db.open_table(self.table_name)
        except (ValueError, FileNotFoundError):
            table = None
        if table is None:
            # Open first, create only if missing: create(exist_ok=True) fails on schema details.
            try:
                table = self._db.create_table(self.table_name, schema=self._schema())
            except (ValueError, OSError):
                table = self._db.open_table(self.table_name)  # another process created it
            # Fails on a race with another process's creation; merge_insert still keys on name.
            with contextlib.suppress(Exception):
                table.set_unenforced_primary_key("name")
        self._table = table
        self._fts_ready = self._has_fts(table)
        return table

    @staticmethod
    def _has_fts(table: Any) -> bool:
        try:
            return any("text" in idx.columns for idx in table.list_indices())
        except Exception:
            return False

    def _reset(self) -> None:
        """Throw the index away (it is derived data) so that the next sync rebuilds it."""
        log.warning("search index %s is unreadable; rebuilding it", self.path / self.table_name)
        self._table = None
        self._hashes = None
        self._known = None
        self._fts_ready = False
        shutil.rmtree(self.path / f"{self.table_name}.lance", ignore_errors=True)

    def _read_hashes(self, table: Any) -> dict[str, str]:
        rows = table.search().select(["name", "hash"]).limit(None).to_arrow().to_pydict()
        return dict(zip(rows["name"], rows["hash"], strict=True))

    # --- syncing -----------------------------------------------------------------------------

    def sync(self, documents: dict[str, SearchDocument]) -> None:
        """Make the index hold exactly ``documents`` (by content hash); write only the changes."""
        wanted = {name: doc.hash for name, doc in documents.items()}
        with self._lock:
            if self._hashes == wanted:
                return
            _import_lancedb()  # a missing package is not a corrupt index: no rebuild for it
            try:
                self._sync(documents, wanted)
            except Exception as exc:  # a corrupt or half-written index: rebuild from the store
                log.debug("index sync failed: %r", exc)
                self._reset()
                self._sync(documents, wanted)

    def _sync(self, documents: dict[str, SearchDocument], wanted: dict[str, str]) -> None:
        with file_lock(self.path / f"{self.table_name}.lock"):
            table = self._open()
            with contextlib.suppress(Exception):
                table.checkout_latest()  # see what other processes wrote
            if self._known is not None and self._known[0] == table.version:
                have = self._known[1]  # nobody wrote since our last sync: skip the read
            else:
                have = self._read_hashes(table)
            changed = [doc for name, doc in documents.items() if have.get(name) != doc.hash]
            removed = [name for name in have if name not in wanted]
            if changed:
                for start in range(0, len(changed), 5000):
                    batch = self._batch(changed[start : start + 5000])
                    (
                        table.merge_insert("name")
                        .when_matched_update_all()
                        .when_not_matched_insert_all()
                        .execute(batch)
                    )
            if removed:
                for start in range(0, len(removed), 500):
                    quoted = ", ".join(
                        "'" + n.replace("'", "''") + "'" for n in removed[start : start + 500]
                    )
                    table.delete(f"name IN ({quoted})")
            if changed or removed:
                self._after_write(table, len(changed) + len(removed), len(wanted))
            self._hashes = wanted
            self._known = (table.version, dict(wanted))

    def _batch(self, docs: list[SearchDocument]) -> Any:
        """An Arrow table with the index's exact schema (the key column must be non-null)."""
        import pyarrow as pa

        vectors = embed_array(self.embedder, [d.embed_text for d in docs])
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        return pa.Table.from_arrays(
            [
                pa.array([d.name for d in docs], type=pa.string()),
                pa.array([d.text for d in docs], type=pa.string()),
                pa.array([d.hash for d in docs], type=pa.string()),
                pa.FixedSizeListArray.from_arrays(flat, self.embedder.dim),
            ],
            schema=self._schema(),
        )

    def _after_write(self, table: Any, count: int, total: int) -> None:
        from lancedb.index import FTS

        self._writes += 1
        if not self._fts_ready and total:
            table.create_index("text", config=FTS(), replace=True)
            self._fts_ready = True
        elif count > 100 or self._writes % COMPACT_EVERY == 0:
            from datetime import timedelta

            table.optimize(cleanup_older_than=timedelta(minutes=5))
        if total >= ANN_THRESHOLD and count > 1000:
            # IVF_FLAT: exact distances inside the probed partitions. Measured at 100k skills it
            # kept exact search's recall at ~6 ms; IVF_HNSW_SQ lost nearly all of it here.
            from lancedb.index import IvfFlat

            table.create_index("vector", config=IvfFlat(distance_type="cosine"), replace=True)

    # --- querying ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        limit: int = 5,
        boosts: dict[str, float] | None = None,
        *,
        mode: str = "hybrid",
    ) -> list[tuple[str, float]]:
        """``[(name, score)]``, best first. An empty query matches nothing.

        ``mode`` is ``"hybrid"`` (default), ``"vector"`` or ``"text"`` (BM25 only).
        """
        words = _WORD.findall(query or "")
        if not words or limit <= 0:
            return []
        with self._lock:
            try:
                return self._search(" ".join(words), limit, boosts or {}, mode)
            except Exception as exc:
                log.debug("index search failed: %r", exc)
                self._reset()
                return []

    def _search(
        self, text: str, limit: int, boosts: dict[str, float], mode: str
    ) -> list[tuple[str, float]]:
        table = self._open()
        depth = max(limit * 4, 20)
        by_vector: list[str] = []
        if mode in ("hybrid", "vector"):
            vector = embed_array(self.embedder, [text])[0]
            by_vector = (
                table.search(vector, vector_column_name="vector")
                .metric("cosine")
                .select(["name"])
                .limit(depth)
                .to_arrow()
                .column("name")
                .to_pylist()
            )
        by_text: list[str] = []
        if self._fts_ready and mode in ("hybrid", "text"):
            try:
                by_text = (
                    table.search(text, query_type="fts", fts_columns="text")
                    .select(["name"])
                    .limit(depth)
                    .to_arrow()
                    .column("name")
                    .to_pylist()
                )
            except Exception as exc:  # a query FTS cannot parse still gets vector results
                log.debug("full-text query failed: %r", exc)
        vector_weight = {"hybrid": self.vector_weight, "vector": 1.0, "text": 0.0}[mode]
        scores: dict[str, float] = {}
        for weight, ranking in ((vector_weight, by_vector), (1 - vector_weight, by_text)):
            for rank, name in enumerate(ranking):
                scores[name] = scores.get(name, 0.0) + weight / (RRF_K + rank + 1)
        for name in scores:
            scores[name] += boosts.get(name, 0.0)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:limit]


def usage_boost(calls: int, failures: int) -> float:
    """A tie-breaker from usage: far smaller than one rank step of the fusion."""
    return 1e-5 * math.log1p(max(calls - failures, 0))
