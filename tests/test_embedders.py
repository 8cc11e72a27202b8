"""Embedders plug in behind one protocol: the offline default, callables, an OpenAI-compatible
endpoint (served locally here), and the dependency-free hashing embedder."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from py_code_mode import FileStorage
from py_code_mode.skills import (
    CallableEmbedder,
    HashEmbedder,
    OpenAIEmbedder,
    SkillLibrary,
    WordLlamaEmbedder,
    cosine_similarity,
)


def test_default_embedder_is_offline_and_semantic() -> None:
    embedder = WordLlamaEmbedder()
    car, auto, banana = embedder.embed(["a fast car", "a quick automobile", "ripe banana"])
    assert len(car) == embedder.dim == 256
    assert cosine_similarity(car, auto) > cosine_similarity(car, banana)
    assert abs(sum(x * x for x in car) - 1.0) < 1e-3


def test_callable_embedder_checks_dimensions() -> None:
    embedder = CallableEmbedder(lambda texts: [[1.0, 2.0] for _ in texts], dim=2)
    assert embedder.embed(["x"]) == [pytest.approx([0.4472136, 0.8944272])]
    with pytest.raises(ValueError, match="expected 3"):
        CallableEmbedder(lambda texts: [[1.0, 2.0] for _ in texts], dim=3).embed(["x"])


def _two_skills(tmp_path: Path) -> tuple[FileStorage, SkillLibrary]:
    """A storage with the hashing embedder and two skills, searched once."""
    storage = FileStorage(tmp_path)
    storage.embedder = HashEmbedder(64)
    library = storage.get_skill_library()
    library.create("parse_csv", 'def run(p: str):\n    """Parse a CSV file."""\n')
    library.create("send_mail", 'def run(to: str):\n    """Send an email."""\n')
    assert library.search("csv file", 1)[0].name == "parse_csv"
    return storage, library


def test_library_with_a_custom_embedder(tmp_path: Path) -> None:
    _two_skills(tmp_path)
    assert any(
        p.name.endswith("__hash_64.lance") for p in (tmp_path / ".code-mode" / "index").iterdir()
    )


def test_an_embedder_set_after_the_library_was_used_takes_effect(tmp_path: Path) -> None:
    storage, library = _two_skills(tmp_path)
    seen: list[str] = []

    def embed(texts: list[str]) -> list[list[float]]:
        seen.extend(texts)
        return HashEmbedder(32).embed(texts)

    storage.embedder = CallableEmbedder(embed, dim=32, id="later")
    assert library.search("csv file", 1)[0].name == "parse_csv"
    assert "csv file" in seen  # the query went through the new embedder
    tables = {p.name for p in (tmp_path / ".code-mode" / "index").iterdir()}
    assert any(t.endswith("__later.lance") for t in tables), tables


class _Embeddings(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.headers["Authorization"] == "Bearer test-key"
        vectors = [HashEmbedder(8).embed([text])[0] for text in body["input"]]
        payload = {
            "data": [{"index": i, "embedding": v} for i, v in reversed(list(enumerate(vectors)))]
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def embeddings_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Embeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_openai_compatible_endpoint(embeddings_server: str) -> None:
    embedder = OpenAIEmbedder(
        "test-model", dim=8, base_url=embeddings_server, api_key="test-key", timeout=5
    )
    vectors = embedder.embed(["alpha", "beta gamma"])
    assert vectors == [pytest.approx(v) for v in HashEmbedder(8).embed(["alpha", "beta gamma"])]
    library = SkillLibrary(embedder=embedder)
    library.create("alpha_tool", 'def run():\n    """alpha"""\n')
    assert library.search("alpha", 1)[0].name == "alpha_tool"
