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


class OnnxEmbedder:
    """A sentence-embedding model exported to ONNX (a sentence-transformers model such as
    all-MiniLM-L6-v2), run by onnxruntime with a Hugging Face ``tokenizer.json``: no torch.

    ``model`` is the ``.onnx`` file, or a folder holding ``model.onnx`` (or
    ``onnx/model.onnx``, a Hugging Face repository's layout) and ``tokenizer.json``;
    ``tokenizer`` names the tokenizer file when it is neither beside the model nor, for a
    model in an ``onnx/`` folder, one level up. Token vectors are
    mean-pooled over the attention mask and normalized (sentence-transformers' ``Pooling`` +
    ``Normalize``); a model whose output is already one vector per text is used as it is.

    One onnxruntime thread by default: a query is a few dozen tokens, where more threads
    cost more in hand-offs than they save, and search runs beside the agent's own work.
    Texts are embedded in batches of similar length (less padding). Needs the ``onnx``
    extra: ``pip install "py-code-mode[onnx]"``; the model loads on first use.
    """

    #: BM25's weight in hybrid search for this embedder: chosen for int8 all-MiniLM-L6-v2 on
    #: the labelled set's tuning split (0.05, wordllama's, let BM25 outvote MiniLM's better
    #: vectors on held-out paraphrases). Set it on the instance for another model.
    fusion_weight = 0.02

    def __init__(
        self,
        model: str | os.PathLike[str],
        tokenizer: str | os.PathLike[str] | None = None,
        *,
        id: str = "",
        max_length: int = 256,
        batch_size: int = 32,
        threads: int = 1,
    ) -> None:
        from ..errors import ConfigurationError

        path = Path(model).expanduser()
        if path.is_dir():
            found = [p for p in (path / "model.onnx", path / "onnx" / "model.onnx") if p.is_file()]
            if not found:
                raise ConfigurationError(
                    f"OnnxEmbedder: no model.onnx in {path} (nor in {path / 'onnx'})"
                )
            folder, path = path, found[0]
        elif path.is_file():
            # A Hugging Face repository keeps its exports in onnx/ beside tokenizer.json.
            folder = path.parent.parent if path.parent.name == "onnx" else path.parent
        else:
            raise ConfigurationError(f"OnnxEmbedder: model file {path} does not exist")
        tokenizer_path = Path(tokenizer).expanduser() if tokenizer is not None else None
        if tokenizer_path is None:
            candidates = (path.parent / "tokenizer.json", folder / "tokenizer.json")
            tokenizer_path = next((p for p in candidates if p.is_file()), candidates[0])
        if not tokenizer_path.is_file():
            raise ConfigurationError(
                f"OnnxEmbedder: tokenizer file {tokenizer_path} does not exist "
                "(pass tokenizer=<path to tokenizer.json>)"
            )
        for label, value in (("max_length", max_length), ("batch_size", batch_size)):
            if value < 1:
                raise ConfigurationError(f"OnnxEmbedder: {label} must be at least 1, not {value}")
        self.model_path = path
        self.tokenizer_path = tokenizer_path
        self.max_length = max_length
        self.batch_size = batch_size
        self.threads = max(1, threads)
        # The file's size stands in for its content: an index is kept per embedder id, and a
        # different export of the same model must not reuse vectors it did not make.
        self.id = id or f"onnx-{folder.name}-{path.stem}-{path.stat().st_size}"
        self._dim: int | None = None
        self._loaded: tuple[Any, Any, tuple[str, ...]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any, tuple[str, ...]]:
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is None:
                try:
                    import onnxruntime as ort
                    from tokenizers import Tokenizer
                except ImportError as exc:
                    from ..errors import MissingPackageError

                    raise MissingPackageError(
                        exc.name or "onnxruntime",
                        "OnnxEmbedder",
                        'pip install "py-code-mode[onnx]"',
                    ) from None
                tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
                tokenizer.enable_truncation(max_length=self.max_length)
                tokenizer.enable_padding()  # to the longest text of each batch
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.log_severity_level = 3
                session = ort.InferenceSession(
                    str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
                )
                inputs = tuple(i.name for i in session.get_inputs())
                self._loaded = (tokenizer, session, inputs)
        return self._loaded

    @property
    def dim(self) -> int:
        """The vectors' dimension (read from the model: it loads on first access)."""
        if self._dim is None:
            self._dim = int(self._run(["dimension"]).shape[1])
        return self._dim

    def _run(self, texts: list[str]) -> Any:
        import numpy as np

        tokenizer, session, inputs = self._load()
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in inputs:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        output = np.asarray(
            session.run(None, {k: v for k, v in feeds.items() if k in inputs})[0], np.float32
        )
        if output.ndim == 3:  # one vector per token: mean over the real (unmasked) tokens
            weights = mask[..., None].astype(np.float32)
            output = (output * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(output, axis=1, keepdims=True)
        return (output / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_array(self, texts: Sequence[str]) -> Any:
        """Unit vectors as a float32 numpy array, one row per text, in order."""
        import numpy as np

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: Any = None
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            vectors = self._run([texts[i] for i in chunk])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
                self._dim = vectors.shape[1]
            out[chunk] = vectors
        return out

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.embed_array(texts)] if texts else []


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
