"""Attacks on BM25 in memory (core/search/text.py): cases a review found wrong."""

from __future__ import annotations

import pytest

from py_code_mode.search.text import TextIndex, analyze, query_terms


@pytest.mark.parametrize(
    "text",
    [
        "ΟΔΟΣ",  # a capital sigma ending a word: Python's str.lower makes it a final sigma
        "ΣΊΣΥΦΟΣ myth",
        "İstanbul",  # Python's str.lower makes a dotted capital I two characters
    ],
)
def test_a_text_finds_itself(text: str) -> None:
    # Stored texts are lower-cased by pyarrow, per character; the query must be lower-cased
    # the same way or its terms are not the stored ones (lance finds each of these texts).
    _, terms, places = analyze([text])
    stored = [terms[i] for i in places if terms[i] is not None]
    assert [t for t in query_terms(text) if t is not None] == stored
    assert [name for name, _ in TextIndex(["a", "b"], [text, "other words"]).top(text, 5)] == ["a"]
