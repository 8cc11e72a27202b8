"""Ranking: hybrid never loses to either single mode on a fixed labelled set; what a skill is
(docstring, parameters, usage) moves it."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

from py_code_mode import FileStorage
from py_code_mode.search.index import HybridIndex
from py_code_mode.skills import SkillLibrary, parse_skill

BENCH = Path(__file__).resolve().parent.parent / "bench"


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


def test_hybrid_is_at_least_as_good_as_either_mode_on_every_slice(tmp_path: Path) -> None:
    # The tuning split of the benchmark's labelled set: fixed, and what the fusion was chosen on.
    sys.path.insert(0, str(BENCH))
    try:
        from search_set import QUERIES, SKILLS
    finally:
        sys.path.remove(str(BENCH))
    index = HybridIndex(tmp_path / "index", "skills")
    index.sync({s.name: parse_skill(s.name, s.source)[0].search_document() for s in SKILLS})
    queries = [q for q in QUERIES if q.split == "tune"]
    by_mode = {mode: _metrics(index, queries, mode) for mode in ("text", "vector", "hybrid")}
    for kind, hybrid in by_mode["hybrid"].items():
        for metric in ("recall@5", "mrr"):
            best = max(by_mode[m][kind][metric] for m in ("text", "vector"))
            assert hybrid[metric] >= best - 1e-9, (kind, metric, by_mode)
    assert by_mode["hybrid"]["all"]["recall@5"] >= 0.95


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
