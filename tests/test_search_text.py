"""BM25 in memory (core/search/text.py): the scores lance's full-text index gave, exact after
every update, and one definition of a token for stored texts and queries."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search_fixtures import LanceFullText, labelled_set

import py_code_mode.search.text as text_module
from py_code_mode.search.index import query_text
from py_code_mode.search.text import TextIndex, query_terms, term
from py_code_mode.skills import parse_skill


def _labelled_texts() -> dict[str, str]:
    skills, _ = labelled_set()
    docs = [parse_skill(s.name, s.source)[0].search_document() for s in skills]
    return {d.name: d.text for d in docs}


def test_scores_are_those_of_lances_full_text_index(tmp_path: Path) -> None:
    # The fusion was tuned on lance's BM25: the same texts in a lance table with its default
    # full-text index give the same scores for every labelled query.
    texts = _labelled_texts()
    lance = LanceFullText(tmp_path, texts)
    ours = TextIndex(list(texts), list(texts.values()))
    compared = 0
    for query in sorted({query_text(q.text) for q in labelled_set()[1]}):
        theirs = lance.top(query, 40)
        mine = dict(ours.top(query, 200))
        assert set(theirs) <= set(mine), query
        for name, score in theirs.items():
            assert mine[name] == pytest.approx(score, rel=1e-4), (query, name)
        compared += len(theirs)
    assert compared > 3000


def test_words_are_stemmed_folded_and_stop_words_dropped() -> None:
    index = TextIndex(
        ["send_email", "cafe_menu", "noise"],
        ["send email message", "Café menu for the week", "x" * 40 + " unrelated"],
    )
    assert index.top("Sending the emails", 5)[0][0] == "send_email"
    assert index.top("cafe", 5)[0][0] == "cafe_menu"
    assert index.top("the and of which", 5) == []  # stop words only
    assert index.top("x" * 40, 5) == []  # tokens of 40 bytes or more are not indexed
    assert index.top("", 5) == [] and index.top("email", 0) == []
    once, twice = index.top("menu", 1)[0][1], index.top("menu menu", 1)[0][1]
    assert twice == pytest.approx(2 * once)  # a repeated query word counts again, as in lance


@settings(max_examples=300, deadline=None)
# Characters Python's Unicode database does not know yet ("Cn") may be letters to RE2's.
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs", "Cn"]), max_size=60)))
def test_texts_split_into_the_same_tokens_in_bulk_few_and_queries(texts: list[str]) -> None:
    # pyarrow (RE2) splits stored texts in bulk, Python's re a write's few texts and a query:
    # one definition of a token, said twice, must give the same tokens.
    def terms_by_row(split: tuple) -> list[list[str]]:
        rows, tokens, places = split
        out: list[list[str]] = [[] for _ in texts]
        for row, place in zip(rows.tolist(), places.tolist(), strict=True):
            if tokens[place]:  # the bulk split leaves empty strings at a text's edges
                out[row].append(tokens[place])
        return out

    bulk = terms_by_row(text_module._split_bulk(texts))
    assert terms_by_row(text_module._split_few(texts)) == bulk
    for text, tokens in zip(texts, bulk, strict=True):
        assert [t for t in query_terms(text) if t] == [t for t in map(term, tokens) if t]


def _random_text(rng: random.Random, words: list[str]) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))


@pytest.mark.parametrize("fold_after", [3, 512])
def test_updates_give_what_a_rebuild_gives(
    monkeypatch: pytest.MonkeyPatch, fold_after: int
) -> None:
    monkeypatch.setattr(text_module, "FOLD_AFTER", fold_after)
    rng = random.Random(fold_after)
    words = [w for t in _labelled_texts().values() for w in t.split()][:400]
    current = {f"s{i}": _random_text(rng, words) for i in range(60)}
    index = TextIndex(list(current), list(current.values()))
    queries = [_random_text(rng, words) for _ in range(12)]
    for step in range(120):
        pool = sorted(current) + [f"new{step}_{i}" for i in range(3)]
        names = rng.sample(pool, min(len(pool), rng.randint(0, 4)))
        removed = rng.sample(sorted(current), min(len(current), rng.randint(0, 3)))
        texts = [_random_text(rng, words) for _ in names]
        index.update(names, texts, removed)
        for name in removed:
            current.pop(name, None)
        current.update(zip(names, texts, strict=True))
        rebuilt = TextIndex(list(current), list(current.values()))
        assert len(index) == len(current)
        for query in queries:
            mine, theirs = index.top(query, 100), rebuilt.top(query, 100)
            assert dict(mine) == pytest.approx(dict(theirs), rel=1e-5), (step, query)


def test_bad_input_changes_nothing() -> None:
    index = TextIndex(["a", "b", "a"], ["first text", "second text", "third words"])
    assert len(index) == 2 and index.top("third", 5)[0][0] == "a"  # a repeated name: its last
    with pytest.raises(ValueError, match="2 names for 1 texts"):
        index.update(["a", "c"], ["x"], removed=["b"])
    assert len(index) == 2
    with pytest.raises(ValueError, match="1 names for 2 texts"):
        TextIndex(["a"], ["x", "y"])
    assert {n for n, _ in index.top("second third", 5)} == {"a", "b"}
