"""Attacks on BM25 in memory (core/search/text.py): cases a review found wrong."""

from __future__ import annotations

import os
import signal
import threading

import pytest

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
        if pid == 0:  # the child: stem a word no cache holds, then leave at once
            signal.alarm(5)  # a child that waits for the lock is killed, not left hanging
            ok = text_module.term("forkedchildunseenword") == "forkedchildunseenword"
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        thread.join()
    assert os.waitstatus_to_exitcode(status) == 0
