"""What the search tests share: the benchmark's labelled set, and lance's own full-text
index to compare BM25 in memory with."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench"


def labelled_set() -> tuple[list[Any], list[Any]]:
    """``(SKILLS, QUERIES)`` of the benchmark's labelled set."""
    sys.path.insert(0, str(BENCH))
    try:
        from search_set import QUERIES, SKILLS
    finally:
        sys.path.remove(str(BENCH))
    return SKILLS, QUERIES


class LanceFullText:
    """``texts`` by name in a lance table with lance's default full-text index."""

    def __init__(self, folder: Path, texts: dict[str, str]) -> None:
        import lancedb
        from lancedb.index import FTS

        self.table = lancedb.connect(str(folder)).create_table(
            "t", data=[{"name": n, "text": t} for n, t in texts.items()]
        )
        self.table.create_index("text", config=FTS(), replace=True)

    def top(self, query: str, limit: int) -> dict[str, float]:
        """Lance's BM25 score of each of its ``limit`` best rows for ``query``."""
        rows = (
            self.table.search(query, query_type="fts", fts_columns="text")
            .select(["name", "_score"])
            .limit(limit)
            .to_arrow()
            .to_pydict()
        )
        return dict(zip(rows["name"], rows["_score"], strict=True))
