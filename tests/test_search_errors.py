"""Search errors: a failing search is an error, never a wiped index; only a corrupt index is
rebuilt, with a warning. Also the narrowed handlers around it (usage stats, output spill, the
in-process cell thread)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from py_code_mode import FileStorage
from py_code_mode.errors import CodeModeError, SearchError, SearchIndexCorruptError
from py_code_mode.search.embedders import CallableEmbedder, HashEmbedder
from py_code_mode.search.index import HybridIndex, SearchDocument, is_corruption
from py_code_mode.skills import SkillLibrary

DOUBLE = 'def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'
EMAIL = 'def run(to: str) -> None:\n    """Send an email message to someone."""\n'


class FlakyEmbedder:
    """A real bag-of-words embedder that fails while ``down`` is set (a network embedder
    whose endpoint is briefly unreachable)."""

    def __init__(self) -> None:
        self._inner = HashEmbedder(64)
        self.dim = 64
        self.id = "flaky-64"
        self.down = False
        self.embedded: list[str] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        if self.down:
            raise ConnectionError("embedding endpoint unreachable")
        self.embedded.extend(texts)
        return self._inner.embed(texts)


def _library(base: Path, embedder: object) -> SkillLibrary:
    storage = FileStorage(base)
    return SkillLibrary(
        storage.get_skill_store(), index_path=base / ".code-mode" / "index", embedder=embedder
    )  # type: ignore[arg-type]


def _table_dir(base: Path) -> Path:
    (found,) = (base / ".code-mode" / "index").glob("*.lance")
    return found


# --- a passing error is an error, and the index stays -----------------------------------------


def test_a_failing_query_embedding_raises_and_keeps_the_index(tmp_path: Path) -> None:
    embedder = FlakyEmbedder()
    library = _library(tmp_path, embedder)
    library.create("double", DOUBLE)
    library.create("send_email", EMAIL)
    assert library.search("email someone", 1)[0].name == "send_email"
    files_before = sorted(p.name for p in _table_dir(tmp_path).rglob("*") if p.is_file())

    embedder.down = True
    with pytest.raises(SearchError, match="flaky-64") as caught:
        library.search("email someone", 1)
    assert isinstance(caught.value, CodeModeError)
    assert "embedding endpoint unreachable" in str(caught.value)
    files_after = sorted(p.name for p in _table_dir(tmp_path).rglob("*") if p.is_file())
    assert files_after == files_before  # nothing was deleted

    embedder.down = False
    embedder.embedded.clear()
    assert library.search("email someone", 1)[0].name == "send_email"
    assert embedder.embedded == ["email someone"]  # only the query: no skill was re-embedded


def test_a_failing_sync_raises_and_keeps_what_was_indexed(tmp_path: Path) -> None:
    embedder = FlakyEmbedder()
    library = _library(tmp_path, embedder)
    library.create("double", DOUBLE)
    library.refresh()
    embedder.down = True
    library.create("send_email", EMAIL)
    with pytest.raises(SearchError, match="flaky-64"):
        library.refresh()
    embedder.down = False
    embedder.embedded.clear()
    assert library.search("email someone", 1)[0].name == "send_email"
    # Only the new skill and the query are embedded: the old rows survived the failure.
    assert len(embedder.embedded) == 2


def test_a_wrong_dimension_embedder_is_a_search_error(tmp_path: Path) -> None:
    embedder = CallableEmbedder(lambda texts: [[1.0, 0.0]] * len(texts), dim=3, id="short")
    library = _library(tmp_path, embedder)
    library.create("double", DOUBLE)
    with pytest.raises(SearchError, match="short"):
        library.search("double", 1)


def test_an_embedder_returning_nan_is_a_search_error_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    # One NaN row would skew every later search of the table: it is refused before the write,
    # and the skills indexed before still answer.
    inner = HashEmbedder(64)

    def embed(texts: list[str]) -> list[list[float]]:
        vectors = inner.embed(texts)
        return [
            [float("nan")] * 64 if "poison" in t else v for t, v in zip(texts, vectors, strict=True)
        ]

    library = _library(tmp_path, CallableEmbedder(embed, dim=64, id="nan-64"))
    library.create("double", DOUBLE)
    library.create("send_email", EMAIL)
    assert library.search("email someone", 1)[0].name == "send_email"
    library.create("poison_well", 'def run() -> None:\n    """Poison the well."""\n')
    with pytest.raises(SearchError, match=r"nan-64 returned NaN or infinite values for 1 of 1"):
        library.search("email someone", 1)
    with pytest.raises(SearchError, match="poison"):
        library.search("poison", 1)
    library.delete("poison_well")
    assert library.search("email someone", 1)[0].name == "send_email"


def test_texts_without_words_are_searched_and_indexed_without_the_embedder(
    tmp_path: Path,
) -> None:
    # wordllama embeds "" as NaN: a clause of symbols only ("-- --") and a document with no
    # words (a tool named "_") get zeros instead of an error, and the rest still ranks.
    from py_code_mode.search.index import HybridIndex, content_hash, document

    index = HybridIndex(tmp_path / "index", "skills")
    docs = {
        name: document(name, content_hash(name, text, ""), description=text)
        for name, text in [
            ("get_stars", "get the stars of a github repo"),
            ("post_slack", "post a message to slack"),
            ("_", ""),
        ]
    }
    assert index.query(docs, "get the stars, -- --", 1)[0][0] == "get_stars"
    assert index.query(docs, "post it to slack and -- --", 1)[0][0] == "post_slack"


def test_environment_errors_are_not_taken_for_corruption() -> None:
    # The forms lance gives these errors (lance raises RuntimeError("lance error: ...")).
    for message in (
        "lance error: LanceError(IO): Permission denied (os error 13)",
        "lance error: LanceError(IO): No space left on device (os error 28)",
        "lance error: LanceError(IO): Too many open files (os error 24)",
    ):
        assert not is_corruption(RuntimeError(message), Path("/x/skills.lance"))
    assert not is_corruption(ConnectionError("embedding endpoint unreachable"), Path("/x"))


# --- a corrupt index is rebuilt, loudly -----------------------------------------------------


def _garble(pattern: str) -> Callable[[Path], None]:
    def corrupt(table: Path) -> None:
        hit = [p for p in table.rglob(pattern) if p.is_file()]
        assert hit, pattern
        for path in hit:
            path.write_bytes(b"garbage")

    return corrupt


def _truncate_data(table: Path) -> None:
    for path in table.glob("data/*.lance"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _remove_data(table: Path) -> None:
    for path in table.glob("data/*.lance"):
        path.unlink()


CORRUPTIONS = {
    "garbled manifests": _garble("_versions/*.manifest"),
    "truncated data": _truncate_data,
    "missing data": _remove_data,
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_a_corrupt_index_found_by_a_new_process_is_rebuilt_with_a_warning(
    tmp_path: Path, corrupt: str, caplog: pytest.LogCaptureFixture
) -> None:
    library = _library(tmp_path, HashEmbedder())
    library.create("double", DOUBLE)
    library.create("send_email", EMAIL)
    library.refresh()
    CORRUPTIONS[corrupt](_table_dir(tmp_path))

    fresh = _library(tmp_path, HashEmbedder())
    with caplog.at_level(logging.WARNING, logger="py_code_mode.search.index"):
        assert fresh.search("send email message", 1)[0].name == "send_email"
        # Both rankings work again.
        assert fresh._search_index().search("email", 1, mode="text")[0][0] == "send_email"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("is corrupt" in m and "rebuilding" in m for m in warnings), warnings


def test_corruption_met_by_a_query_is_reported_and_repaired_by_the_next_sync(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = HybridIndex(tmp_path / "index", "skills", HashEmbedder())
    docs = {
        name: SearchDocument(name, f"{name} text", f"{name} text", f"hash-{name}")
        for name in ("alpha", "beta", "gamma")
    }
    index.sync(docs)
    (table,) = (tmp_path / "index").glob("*.lance")
    _truncate_data(table)

    # The query path itself never deletes anything: it says what it found.
    with pytest.raises(SearchIndexCorruptError, match="corrupt") as caught:
        index.search("beta", 1)
    assert isinstance(caught.value, SearchError)
    assert list(table.glob("data/*.lance"))

    # The query-and-sync path (what skills and tools use) repairs it once, with a warning.
    with caplog.at_level(logging.WARNING, logger="py_code_mode.search.index"):
        assert index.query(docs, "beta", 1)[0][0] == "beta"
    assert any("rebuilding" in r.getMessage() for r in caplog.records)


def test_a_healthy_index_is_not_rebuilt_when_another_process_already_repaired_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = {
        name: SearchDocument(name, f"{name} text", f"{name} text", f"hash-{name}")
        for name in ("alpha", "beta")
    }
    first = HybridIndex(tmp_path / "index", "skills", HashEmbedder())
    first.sync(docs)
    (table,) = (tmp_path / "index").glob("*.lance")
    _truncate_data(table)
    with pytest.raises(SearchIndexCorruptError):
        first.search("beta", 1)
    # Meanwhile another process finds it corrupt and rebuilds it.
    HybridIndex(tmp_path / "index", "skills", HashEmbedder()).sync(docs)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="py_code_mode.search.index"):
        assert first.query(docs, "beta", 1)[0][0] == "beta"
    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]


# --- usage statistics: bad counts are kept apart and reported, never reset ------------------


def _stats_file(base: Path, name: str) -> Path:
    return base / ".code-mode" / "stats" / f"{name}.json"


def test_a_bad_count_does_not_reset_the_good_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStorage(tmp_path).get_skill_store()
    path = _stats_file(tmp_path, "double")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"calls": "many", "failures": 2, "total_duration_ms": 10.0}))

    with caplog.at_level(logging.WARNING, logger="py_code_mode.skills.store"):
        store.record_usage("double", False, 5.0)
        store.flush_stats()
        stats = store.stats()["double"]
    assert (stats.failures, stats.total_duration_ms) == (3, 15.0)
    data = json.loads(path.read_text())
    assert data["corrupt"] == {"calls": "many"}  # kept for whoever looks into it
    assert any("calls" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    assert "double" in store.stats_errors and "calls" in store.stats_errors["double"]


def test_an_unreadable_stats_file_is_set_aside_not_overwritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStorage(tmp_path).get_skill_store()
    path = _stats_file(tmp_path, "double")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"calls": 41, "failu')  # torn by a crash or a bad hand edit

    with caplog.at_level(logging.WARNING, logger="py_code_mode.skills.store"):
        store.record_usage("double", True, 1.0)
        store.flush_stats()
    aside = list(path.parent.glob("double.json.corrupt*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b'{"calls": 41, "failu'
    assert json.loads(path.read_text())["calls"] == 1
    assert any(str(aside[0]) in r.getMessage() for r in caplog.records)


def test_reading_stats_keeps_the_good_fields_of_a_damaged_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStorage(tmp_path).get_skill_store()
    path = _stats_file(tmp_path, "double")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"calls": 7, "failures": "x", "total_duration_ms": 70.0}))
    with caplog.at_level(logging.WARNING, logger="py_code_mode.skills.store"):
        stats = store.stats()
    assert stats["double"].calls == 7 and stats["double"].total_duration_ms == 70.0
    assert "failures" in store.stats_errors["double"]
    assert any("failures" in r.getMessage() for r in caplog.records)


# --- the output spill says why it could not save ----------------------------------------------


async def test_spill_logs_why_the_artifact_could_not_be_saved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from py_code_mode import Session
    from py_code_mode.catalog import spill

    async with Session(storage=FileStorage(tmp_path)) as session:
        (tmp_path / "artifacts").mkdir(parents=True, exist_ok=True)
        (tmp_path / "artifacts" / "outputs").write_text("a file where a folder should be")
        with caplog.at_level(logging.WARNING, logger="py_code_mode.catalog"):
            text = await spill(session, "x" * 200, "run_code", limit=50)
    assert text.startswith("x" * 50) and "150 more characters were cut" in text
    messages = [r.getMessage() for r in caplog.records]
    assert any("run_code" in m and "outputs" in m for m in messages), messages


# --- the in-process cell thread logs a result it had to drop ----------------------------------


def test_cell_thread_logs_a_result_whose_loop_closed(caplog: pytest.LogCaptureFixture) -> None:
    from py_code_mode.execution.in_process import _CellThread

    cells = _CellThread("test-cells")
    release = threading.Event()
    started = threading.Event()

    def slow(_loop: object) -> str:
        started.set()
        release.wait(10)
        raise ValueError("the cell failed after its caller left")

    loop = asyncio.new_event_loop()

    async def submit() -> object:
        return cells.submit(slow)

    job = loop.run_until_complete(submit())
    assert started.wait(10)
    loop.close()  # the caller's loop goes away while the cell runs
    with caplog.at_level(logging.WARNING, logger="py_code_mode.execution.in_process"):
        release.set()
        # The thread carries on with the next job, and said what it dropped.
        second = asyncio.new_event_loop()
        try:

            async def run_next() -> object:
                return await cells.submit(lambda _loop: "next").future

            assert second.run_until_complete(asyncio.wait_for(run_next(), 10)) == "next"
        finally:
            second.close()
            cells.stop()
    assert job is not None
    messages = [r.getMessage() for r in caplog.records]
    assert any("the cell failed after its caller left" in m for m in messages), messages
