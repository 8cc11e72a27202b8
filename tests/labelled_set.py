"""The labelled search set of bench/search_set.py, for tests that rank with it."""

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
