"""Ranking: hybrid never loses to either single mode on a fixed labelled set; what a skill is
(docstring, parameters, usage) moves it."""

from __future__ import annotations

import os
import select
import signal
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from search_fixtures import labelled_set

from py_code_mode import FileStorage
from py_code_mode.search.index import HybridIndex, clauses, query_text
from py_code_mode.skills import SkillLibrary, parse_skill


def _metrics(index: HybridIndex, queries: list, mode: str) -> dict[str, dict[str, float]]:
    per: dict[str, list[tuple[float, float]]] = {}
    for q in queries:
        top = [n for n, _ in index.search(q.text, 5, mode=mode)]
        recall = sum(1 for r in q.relevant if r in top) / len(q.relevant)
        rr = next((1 / (i + 1) for i, n in enumerate(top) if n in q.relevant), 0.0)
        for key in (q.kind, "all"):
            per.setdefault(key, []).append((recall, rr))
    return {
        k: {
            "recall@5": statistics.fmean(v[0] for v in vs),
            "mrr": statistics.fmean(v[1] for v in vs),
        }
        for k, vs in per.items()
    }


@pytest.fixture(scope="module")
def set_index(tmp_path_factory: pytest.TempPathFactory) -> HybridIndex:
    skills, _ = labelled_set()
    index = HybridIndex(tmp_path_factory.mktemp("set") / "index", "skills")
    index.sync({s.name: parse_skill(s.name, s.source)[0].search_document() for s in skills})
    return index


@pytest.mark.parametrize("split", ["tune", "heldout"])
def test_hybrid_is_at_least_as_good_as_either_mode_on_every_slice(
    set_index: HybridIndex, split: str
) -> None:
    # The benchmark's labelled set, fixed: the fusion was chosen on "tune"; "heldout" keeps
    # the claim honest on skills and queries the choice never saw.
    _, queries = labelled_set()
    queries = [q for q in queries if q.split == split]
    by_mode = {mode: _metrics(set_index, queries, mode) for mode in ("text", "vector", "hybrid")}
    for kind, hybrid in by_mode["hybrid"].items():
        for metric in ("recall@5", "mrr"):
            best = max(by_mode[m][kind][metric] for m in ("text", "vector"))
            assert hybrid[metric] >= best - 1e-9, (kind, metric, by_mode)
    assert by_mode["hybrid"]["all"]["recall@5"] >= 0.92


def test_a_request_for_two_things_finds_both(set_index: HybridIndex) -> None:
    _, queries = labelled_set()
    multi = [q for q in queries if q.kind == "multi"]
    assert len(multi) >= 20
    for q in multi:
        top = [n for n, _ in set_index.search(q.text, 5)]
        assert set(q.relevant) <= set(top), (q.text, q.relevant, top)
        assert top[0] in q.relevant, (q.text, top)


def test_a_clauses_runners_up_do_not_push_out_the_whole_querys_candidates(
    tmp_path: Path,
) -> None:
    # Vectors set by hand (no word overlap, so BM25 stays out): X answers the whole query and
    # its first clause, Y is the whole query's second, Z the second clause's best and W that
    # clause's runner-up, which scores above Y on the clause alone. The clause's intent must
    # reach the top (Z) without its runner-up displacing the whole query's own candidate (Y).
    import numpy as np

    from py_code_mode.search.embedders import CallableEmbedder
    from py_code_mode.search.index import document

    query = "fetch alpha and get beta"
    assert clauses(query) == ["fetch alpha", "get beta"]
    docs = {
        name: document(name, name, description=description)
        for name, description in {
            "x_skill": "one", "y_skill": "two", "z_skill": "three", "w_skill": "four"
        }.items()
    }  # fmt: skip
    vectors = {
        query_text(query): [1, 0.5, 0, 0],
        "fetch alpha": [1, 0, 0, 0],
        "get beta": [0, 0, 1, 0],
        docs["x_skill"].embed_text: [1, 0, 0, 0],
        docs["y_skill"].embed_text: [0.3, 1, 0, 0],
        docs["z_skill"].embed_text: [0.5, 0, 1, 0],
        docs["w_skill"].embed_text: [0.3, 0, 0.8, 0.5],
    }
    embedder = CallableEmbedder(
        lambda texts: [np.asarray(vectors.get(t, [0, 0, 0, 1]), float) for t in texts], dim=4
    )
    index = HybridIndex(tmp_path / "index", "skills", embedder)
    ranked = [name for name, _ in index.query(docs, query, 3)]
    assert ranked == ["x_skill", "z_skill", "y_skill"]


def test_the_in_memory_vector_scan_ranks_like_lance(set_index: HybridIndex) -> None:
    # Vector queries are answered in memory (search/vectors.py), not by lance: same order as a
    # lance flat scan over the same table.
    table = set_index._open()
    for text in ("how popular is this project on github", "turn a png into a jpeg"):
        ours = [n for n, _ in set_index.candidates(text, 10, full_text=False)[0]]
        vector = set_index.embedder.embed([text])[0]
        lance = table.search(vector, vector_column_name="vector").metric("cosine").limit(10)
        assert ours == lance.to_arrow()["name"].to_pylist()


def _ranks_as_a_fresh_index(index: HybridIndex) -> None:
    fresh = HybridIndex(index.path, "skills")
    for text in ("how many bikes are parked", "send an email", "book a ferry", "refreshed"):
        for mode in ("vector", "text", "hybrid"):
            ours, theirs = index.search(text, 10, mode=mode), fresh.search(text, 10, mode=mode)
            assert [n for n, _ in ours] == [n for n, _ in theirs], (text, mode)
            assert [x for _, x in ours] == pytest.approx([x for _, x in theirs], abs=1e-5)


@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8-first"])
def test_hits_follow_every_write_of_this_and_other_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, int8: bool
) -> None:
    # The vectors and terms in memory are patched by this index's own writes and read again
    # after another writer's (a second HybridIndex on the same folder stands in for another
    # process): every search answers from the table as it is now, in every mode.
    import py_code_mode.search.index as index_module
    import py_code_mode.search.text as text_module
    import py_code_mode.search.vectors as vectors_module

    monkeypatch.setattr(vectors_module, "INT8_ROWS", 10 if int8 else 10**9)
    monkeypatch.setattr(text_module, "FOLD_AFTER", 2)  # fold the added rows on the way too
    skills, _ = labelled_set()
    docs = {s.name: parse_skill(s.name, s.source)[0].search_document() for s in skills}
    index = HybridIndex(tmp_path / "index", "skills")
    assert index.query(docs, "send an email message", 1, mode="vector")[0][0] == "send_email"
    held = index._in_memory(index._open())
    assert held.vectors.uses_int8 is int8
    bike = parse_skill(
        "count_parked_bicycles",
        'def run(city: str):\n    """Count the bicycles parked in a city."""\n',
    )[0].search_document()
    docs = {**{n: d for n, d in docs.items() if n != "send_email"}, bike.name: bike}
    top = [n for n, _ in index.query(docs, "how many bikes are parked", 3, mode="vector")]
    assert top[0] == "count_parked_bicycles"
    assert index.query(docs, "bicycles parked", 1, mode="text")[0][0] == "count_parked_bicycles"
    now = index._in_memory(index._open())
    assert now.vectors is held.vectors and now.text is held.text  # patched in place, not read again
    for mode in ("hybrid", "text"):
        assert "send_email" not in [n for n, _ in index.query(docs, "send an email", 10, mode=mode)]

    other = HybridIndex(tmp_path / "index", "skills")
    ferry = parse_skill(
        "book_ferry_ticket",
        'def run(port: str):\n    """Book a ferry crossing from a port."""\n',
    )[0].search_document()
    docs = {**docs, ferry.name: ferry}
    other.sync(docs)
    top = [n for n, _ in index.query(docs, "book a ferry crossing", 3, mode="vector")]
    assert top[0] == "book_ferry_ticket"
    assert index.search("ferry crossing", 1, mode="text")[0][0] == "book_ferry_ticket"
    # The other writer's row was read alone into what is held, not the whole table again.
    now = index._in_memory(index._open())
    assert now.vectors is held.vectors and now.text is held.text
    _ranks_as_a_fresh_index(index)
    # Another writer changing most rows: the table is read again, whole.
    docs = {
        name: doc if i % 4 else replace(doc, text=f"{doc.text} refreshed", hash=f"{doc.hash}-2")
        for i, (name, doc) in enumerate(docs.items())
    }
    monkeypatch.setattr(index_module, "CATCH_UP_ROWS", 8)
    other.sync(docs)
    assert index.query(docs, "refreshed", 50, mode="text")
    assert index._in_memory(index._open()).text is not held.text
    _ranks_as_a_fresh_index(index)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_search(set_index: HybridIndex) -> None:
    # A child forked after a search in the parent searches too (it must not wait on
    # anything of the parent's: threads, locks held by them).
    assert set_index.search("send an email", 1)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        try:
            os.close(read)
            os.write(write, set_index.search("send an email", 1)[0][0].encode())
        finally:
            os._exit(0)
    os.close(write)
    ready: list[int] = []
    try:
        ready, _, _ = select.select([read], [], [], 60)
        assert ready, "the forked child's search did not answer within 60 s"
        assert os.read(read, 100).decode() == "send_email"
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.fixture
def library(tmp_path: Path) -> SkillLibrary:
    return FileStorage(tmp_path).get_skill_library()


def test_the_docstring_body_is_searched(library: SkillLibrary) -> None:
    library.create(
        "nightly_job",
        'def run(day: str):\n    """Run the nightly job.\n\n'
        "    Reconciles the warehouse stock counts with the supplier's delivery notes.\n"
        '    """\n',
    )
    library.create("send_email", 'def run(to: str):\n    """Send an email message."""\n')
    library.create("resize_image", 'def run(path: str):\n    """Resize an image."""\n')
    assert library.search("reconcile stock with supplier deliveries", 1)[0].name == "nightly_job"


def test_a_skill_that_keeps_failing_sinks(library: SkillLibrary) -> None:
    for name in ("fetch_weather", "get_weather"):
        library.create(
            name, f'def run(city: str):\n    """Get the weather for a city ({name})."""\n'
        )
    first = library.search("weather in a city", 2)[0].name
    for _ in range(10):
        library.record_usage(first, False, 5.0)
    for _ in range(10):
        library.record_usage({"fetch_weather", "get_weather"}.difference({first}).pop(), True, 5.0)
    assert library.search("weather in a city", 2)[0].name != first
