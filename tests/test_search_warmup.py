"""Warm-up: a library readies search in the background; start() and the first run do not wait
for it, and a search racing it gets the right answer without redoing its work."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from py_code_mode import FileStorage, Session
from py_code_mode.search.embedders import HashEmbedder

EMAIL = 'def run(to: str):\n    """Send an email message to someone."""\n'
IMAGE = 'def run(path: str):\n    """Resize an image to a smaller size."""\n'


class GatedEmbedder:
    """A real bag-of-words embedder that holds every call until ``gate`` opens (a slow model
    load), and counts what it embedded."""

    def __init__(self) -> None:
        self._inner = HashEmbedder(64)
        self.dim = 64
        self.id = "gated-64"
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        with self._lock:
            self.texts.extend(texts)
        return self._inner.embed(texts)


def _storage(base: Path, embedder: GatedEmbedder) -> FileStorage:
    storage = FileStorage(base)
    storage.embedder = embedder
    return storage


def test_warm_returns_at_once_and_a_racing_search_gets_the_right_answer(tmp_path: Path) -> None:
    embedder = GatedEmbedder()
    embedder.gate.set()
    library = _storage(tmp_path, embedder).get_skill_library()
    library.create("send_email", EMAIL)
    library.create("resize_image", IMAGE)
    embedder.gate.clear()
    fresh = _storage(tmp_path, embedder).get_skill_library()  # a new process's library

    fresh.warm()  # returns while the warm-up is held inside the embedder
    assert embedder.entered.wait(30)
    results: list[object] = []
    searcher = threading.Thread(target=lambda: results.append(fresh.search("email someone", 1)))
    searcher.start()
    embedder.gate.set()
    searcher.join(30)
    assert not searcher.is_alive()
    assert [s.name for s in results[0]] == ["send_email"]  # type: ignore[attr-defined]
    # Each skill was embedded once, by the warm-up; the search only embedded its query.
    skill_texts = [t for t in embedder.texts if t.startswith(("send email", "resize image"))]
    assert len(skill_texts) == 2
    assert embedder.texts.count("email someone") == 1


def test_warm_without_skills_does_nothing(tmp_path: Path) -> None:
    embedder = GatedEmbedder()
    library = _storage(tmp_path, embedder).get_skill_library()
    library.warm()
    library._warming.join(30)  # type: ignore[union-attr]
    assert not embedder.entered.is_set()
    assert not (tmp_path / ".code-mode" / "index").exists()


async def test_start_and_first_run_do_not_wait_for_the_warm_up(tmp_path: Path) -> None:
    (tmp_path / "skills").mkdir(parents=True)
    (tmp_path / "skills" / "send_email.py").write_text(EMAIL)  # no index yet
    embedder = GatedEmbedder()
    try:
        async with Session(storage=_storage(tmp_path, embedder)) as session:
            # start() returned; the warm-up is held inside the embedder; the first run goes on.
            assert embedder.entered.wait(30)
            result = await session.run("1 + 1")
            assert result.value == 2
            assert not embedder.gate.is_set()
            embedder.gate.set()
            hits = await session.search_skills("email someone", 1)
            assert [h["name"] for h in hits] == ["send_email"]
    finally:
        embedder.gate.set()


def test_lancedb_loads_without_the_rest_clients_endpoints(tmp_path: Path) -> None:
    # The warm-up's largest cost was lancedb importing its REST namespace client (pydantic
    # validators for every endpoint). The index defers that package's __init__: a local index
    # works without it, and asking the package for anything still loads it whole.
    code = """
import sys
from py_code_mode.search import HybridIndex
from py_code_mode.search.embedders import HashEmbedder
from py_code_mode.search.index import document

index = HybridIndex(sys.argv[1], "skills", HashEmbedder(32))
index.sync({
    "send_email": document("send_email", "h1", description="Send an email message"),
    "resize_image": document("resize_image", "h2", description="Resize an image"),
})
print(index.search("email someone", 1)[0][0])
print("lance_namespace_urllib3_client.api" in sys.modules)
from lance_namespace_urllib3_client import ApiClient, TableApi
print(ApiClient.__name__, TableApi.__name__, "lance_namespace_urllib3_client.api" in sys.modules)
"""
    out = _fresh_process(code, tmp_path / "index")
    assert out.split("\n")[:3] == ["send_email", "False", "ApiClient TableApi True"]


def test_lancedb_imports_with_override_markers_and_puts_the_checker_back(tmp_path: Path) -> None:
    # On 3.11 lancedb decorates its methods with the overrides package's checking decorator
    # (bytecode disassembly per method); the index gives it the marker 3.12 uses instead, only
    # for the import, and lancedb's classes still pass EnforceOverrides' checks. (lancedb
    # needs overrides only below 3.12; there it uses typing.override and this does nothing.)
    pytest.importorskip("overrides", reason="lancedb uses typing.override on Python 3.12+")
    code = """
import sys
import overrides
before = overrides.override
from py_code_mode.search.index import _import_lancedb
lancedb = _import_lancedb()
print(overrides.override is before)
import lancedb.db
print(getattr(lancedb.db.LanceDBConnection.table_names, "__override__", False))
db = lancedb.connect(sys.argv[1])
print(db.create_table("t", data=[{"x": 1}]).count_rows())
"""
    out = _fresh_process(code, tmp_path / "db")
    assert out.split() == ["True", "True", "1"]  # typing.override marks on 3.12+ too


def _fresh_process(code: str, arg: Path) -> str:
    """What ``code`` prints in a new interpreter (nothing imported yet), given ``arg``."""
    out = subprocess.run(
        [sys.executable, "-c", code, str(arg)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
