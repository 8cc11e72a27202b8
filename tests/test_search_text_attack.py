"""Attacks on BM25 in memory (core/search/text.py): cases a review found wrong."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from search_fixtures import LanceFullText

import py_code_mode.search.text as text_module
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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_a_thread_stems_can_still_stem() -> None:
    # A thread holds the stemmer's lock when another thread forks: the child must not wait for
    # a lock no thread of its own will release (the embedders renew theirs at fork too).
    held, release = threading.Event(), threading.Event()

    def stem_slowly() -> None:
        with text_module._STEM_LOCK:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=stem_slowly)
    thread.start()
    held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: stem a word no cache holds (never returns to pytest)
            code = 1
            try:
                signal.alarm(5)  # a child that waits for the lock is killed, not left hanging
                stem = text_module.term("forkedchildunseenword")
                code = 0 if stem == "forkedchildunseenword" else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        thread.join()
    assert os.waitstatus_to_exitcode(status) == 0


def _lance_top(tmp_path: Path, texts: dict[str, str], query: str) -> dict[str, float]:
    return LanceFullText(tmp_path, texts).top(query, 50)


@pytest.mark.parametrize("query", ["lodz", "aesir", "oeuvre", "thorn", "cafe", "Ørsted", "straße"])
def test_letters_are_folded_as_lance_folds_them(tmp_path: Path, query: str) -> None:
    # Lance's AsciiFoldingFilter (Lucene's table) folds ł ø æ œ ß þ ..., which have no Unicode
    # decomposition, besides the accents NFKD takes off.
    texts = {
        "a": "Łódź town",
        "b": "Ørsted power",
        "c": "Æsir gods",
        "d": "œuvre work",
        "e": "Straße map",
        "f": "Þorn rune",
        "g": "Café menu",
        "h": "ℂ numbers ᴬ",
    }
    theirs = _lance_top(tmp_path, texts, query)
    assert theirs  # lance finds the folded word
    assert dict(TextIndex(list(texts), list(texts.values())).top(query, 50)) == pytest.approx(
        theirs, rel=1e-4
    )


@pytest.mark.parametrize("bad", ["half a pair \ud800 of surrogates", 42])
def test_an_update_whose_text_cannot_be_read_changes_nothing(bad: object) -> None:
    # The texts are analysed before any row is dropped: a text pyarrow refuses must not leave
    # the index without the rows the update named (nor the ones it removed).
    index = TextIndex(["a", "b"], ["first text", "second text"])
    with pytest.raises((UnicodeError, TypeError, ValueError)):
        index.update(["a"], [bad], removed=["b"])  # type: ignore[list-item]
    assert len(index) == 2
    assert {n for n, _ in index.top("first second", 5)} == {"a", "b"}


@pytest.mark.parametrize("empty", ["", "the of a", "don't", "!!!", "x" * 40])
def test_rows_without_a_term_count_for_nothing_as_in_lance(tmp_path: Path, empty: str) -> None:
    # Lance counts only documents with at least one token in N and in the average length: a
    # row whose text is empty, stop words, punctuation or one long token must not change the
    # other rows' scores.
    texts = {"a": "send email message", "b": "menu cafe running", "c": "file files filing"}
    texts["d"] = empty
    theirs = _lance_top(tmp_path, texts, "send menu")
    index = TextIndex(list(texts), list(texts.values()))
    assert dict(index.top("send menu", 50)) == pytest.approx(theirs, rel=1e-4)
    # ... and the same after updates that add, empty and remove such rows
    index.update(["e", "a"], [empty, "send email message"], removed=["d"])
    index.update(["d"], [empty], removed=["e"])
    assert dict(index.top("send menu", 50)) == pytest.approx(theirs, rel=1e-4)
