"""Embedders turn text into vectors for semantic search.

The default, :class:`WordLlamaEmbedder`, runs offline from the 256-d model shipped inside the
``wordllama`` wheel (no download at run time; about 20 µs per short query). Any callable, or an
OpenAI-compatible ``/embeddings`` endpoint, plugs in through the same :class:`Embedder` protocol.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Embedder(Protocol):
    """Text → unit vectors of a fixed dimension."""

    #: A stable identifier: an index built with one embedder is not reused by another.
    id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _normalize(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [float(x) / norm for x in vector]


class WordLlamaEmbedder:
    """The offline default: wordllama's bundled model, loaded lazily on first use."""

    id = "wordllama-l2-256"
    dim = 256

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import wordllama
                from wordllama import WordLlama

                # The wheel ships the weights and tokenizer beside the package; pointing the
                # cache there and disabling downloads keeps this offline.
                self._model = WordLlama.load(
                    cache_dir=Path(wordllama.__file__).parent, disable_download=True, dim=self.dim
                )
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().embed(list(texts), norm=True)
        return [[float(x) for x in row] for row in vectors]

    def embed_array(self, texts: Sequence[str]) -> Any:
        """The same as :meth:`embed`, as a float32 numpy array (no per-item Python floats)."""
        return self._load().embed(list(texts), norm=True).astype("float32")


class CallableEmbedder:
    """Wraps any ``fn(list[str]) -> list[vector]``; vectors are normalized."""

    def __init__(
        self, fn: Callable[[list[str]], Sequence[Sequence[float]]], dim: int, id: str = ""
    ) -> None:
        self._fn = fn
        self.dim = dim
        self.id = id or f"callable-{getattr(fn, '__name__', 'fn')}-{dim}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._fn(list(texts))
        out = [_normalize(v) for v in vectors]
        for v in out:
            if len(v) != self.dim:
                raise ValueError(
                    f"embedder {self.id} returned {len(v)} dimensions, expected {self.dim}"
                )
        return out


class OpenAIEmbedder:
    """An OpenAI-compatible ``POST {base_url}/embeddings`` endpoint, over httpx."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        dim: int = 1536,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.model = model
        self.dim = dim
        self.base_url = (
            base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        ).rstrip("/")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self.timeout = timeout
        self.id = f"openai-{model}-{dim}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import httpx

        if not texts:
            return []
        response = httpx.post(
            f"{self.base_url}/embeddings",
            json={"model": self.model, "input": list(texts)},
            headers={"Authorization": f"Bearer {self._api_key}"} if self._api_key else {},
            timeout=self.timeout,
        )
        response.raise_for_status()
        data = sorted(response.json()["data"], key=lambda d: d["index"])
        return [_normalize(d["embedding"]) for d in data]


class HashEmbedder:
    """A deterministic bag-of-words embedder (feature hashing): no model, no dependencies.

    Matches words, not meanings — for tests and for machines that cannot load a model.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.id = f"hash-{dim}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import hashlib
        import re

        out = []
        for text in texts:
            vector = [0.0] * self.dim
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                vector[int.from_bytes(digest[:4], "little") % self.dim] += (
                    1.0 if digest[4] & 1 else -1.0
                )
            out.append(_normalize(vector))
        return out


MockEmbedder = HashEmbedder  # the reference project's name


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine of the angle between two vectors (0.0 when either is zero)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


_DEFAULT: WordLlamaEmbedder | None = None


def default_embedder() -> WordLlamaEmbedder:
    """One shared default embedder per process (its model loads once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = WordLlamaEmbedder()
    return _DEFAULT


def embed_array(embedder: Embedder, texts: Sequence[str]) -> Any:
    import numpy as np

    fast = getattr(embedder, "embed_array", None)
    if fast is not None:
        return fast(texts)
    return np.asarray(embedder.embed(texts), dtype="float32").reshape(len(texts), embedder.dim)
