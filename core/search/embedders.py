"""Embedders turn text into vectors for semantic search.

The default, :class:`WordLlamaEmbedder`, runs offline from the 256-d model shipped inside the
``wordllama`` wheel (no download at run time; about 20 µs per short query). Any callable, or an
OpenAI-compatible ``/embeddings`` endpoint, plugs in through the same :class:`Embedder` protocol.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Embedder(Protocol):
    """Text → unit vectors of a fixed dimension."""

    #: A stable identifier: an index built with one embedder is not reused by another.
    id: str

    @property
    def dim(self) -> int:
        """The vectors' dimension (a plain attribute satisfies this)."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _normalize(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [float(x) / norm for x in vector]


#: Embedders whose model loads under a lock: a child forked while another thread held one
#: (a session's search warm-up loading the model) would wait for it forever.
_LOCK_OWNERS: weakref.WeakSet[Any] = weakref.WeakSet()


def _renew_locks() -> None:
    for owner in list(_LOCK_OWNERS):
        owner._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks)


class WordLlamaEmbedder:
    """The offline default: wordllama's bundled model, loaded lazily on first use."""

    id = "wordllama-l2-256"
    dim = 256

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()
        _LOCK_OWNERS.add(self)

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
    ``tokenizer`` names the tokenizer file (or its folder) when it is neither beside the model
    nor, for a model in an ``onnx/`` folder, one level up. Token vectors are mean-pooled over
    the attention mask and normalized (sentence-transformers' ``Pooling`` + ``Normalize``); a
    model with a ``sentence_embedding`` output is used as it is. Texts longer than
    ``max_length`` tokens are truncated (keep it within the model's own limit: 512 for BERT).

    One thread: a query is a few dozen tokens, where more threads cost more in hand-offs than
    they save, and search runs beside the agent's own work. Texts are embedded in batches of
    similar length (less padding). Needs the ``onnx`` extra: ``pip install
    "py-code-mode[onnx]"``; the model loads on first use.
    """

    #: BM25's weight in hybrid search for this embedder: chosen for int8 all-MiniLM-L6-v2 on
    #: the labelled set's tuning split (0.05, wordllama's, let BM25 outvote MiniLM's better
    #: vectors on held-out paraphrases). Set it on the instance for another model; searches
    #: read it each time.
    fusion_weight = 0.02

    def __init__(
        self,
        model: str | os.PathLike[str],
        tokenizer: str | os.PathLike[str] | None = None,
        *,
        id: str = "",
        max_length: int = 256,
        batch_size: int = 32,
    ) -> None:
        from ..errors import ConfigurationError

        path = Path(model).expanduser().resolve()
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
        if tokenizer is not None:
            tokenizer_path = Path(tokenizer).expanduser().resolve()
            if tokenizer_path.is_dir():
                tokenizer_path = tokenizer_path / "tokenizer.json"
        else:
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
        _require("onnxruntime", "OnnxEmbedder", 'pip install "py-code-mode[onnx]"')
        self.model_path = path
        self.tokenizer_path = tokenizer_path
        self.max_length = max_length
        self.batch_size = batch_size
        # An index is kept per embedder id: what makes the vectors (the model's bytes, the
        # tokenizer, the truncation) goes into it, so no index serves vectors it did not get.
        self.id = id or f"onnx-{folder.name}-{path.stem}-{self._fingerprint()}"
        self._dim: int | None = None
        self._loaded: _OnnxModel | None = None
        self._lock = threading.Lock()
        _LOCK_OWNERS.add(self)

    def _fingerprint(self) -> str:
        """A digest of the model (its size, first and last MiB: a retrained model of the same
        shape differs there), the tokenizer file and ``max_length``; a few milliseconds."""
        import hashlib

        digest = hashlib.sha256(f"{self.max_length}".encode())
        size = self.model_path.stat().st_size
        digest.update(str(size).encode())
        with self.model_path.open("rb") as f:
            digest.update(f.read(1 << 20))
            f.seek(max(0, size - (1 << 20)))
            digest.update(f.read())
        digest.update(self.tokenizer_path.read_bytes())
        return digest.hexdigest()[:12]

    def _load(self) -> _OnnxModel:
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is None:
                self._loaded = _OnnxModel.load(self)
        return self._loaded

    @property
    def dim(self) -> int:
        """The vectors' dimension (read from the model: it loads on first access)."""
        if self._dim is None:
            self._dim = int(self._load().run(["dimension"]).shape[1])
        return self._dim

    def embed_array(self, texts: Sequence[str]) -> Any:
        """Unit vectors as a float32 numpy array, one row per text, in order."""
        import numpy as np

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: Any = None
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            vectors = model.run([texts[i] for i in chunk])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
                self._dim = vectors.shape[1]
            out[chunk] = vectors
        return out

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.embed_array(texts)] if texts else []


@dataclass(frozen=True)
class _OnnxModel:
    """A loaded :class:`OnnxEmbedder`: its tokenizer and onnxruntime session."""

    tokenizer: Any
    session: Any
    pad_id: int
    inputs: dict[str, str]  # input name -> numpy integer type the model wants
    output: str
    pooled: bool  # the output is one vector per text already
    where: str  # for messages: the embedder's model file

    @classmethod
    def load(cls, embedder: OnnxEmbedder) -> _OnnxModel:
        from ..errors import ConfigurationError

        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            from ..errors import MissingPackageError

            raise MissingPackageError(
                exc.name or "onnxruntime", "OnnxEmbedder", 'pip install "py-code-mode[onnx]"'
            ) from None

        try:
            tokenizer = Tokenizer.from_file(str(embedder.tokenizer_path))
        except Exception as exc:
            raise ConfigurationError(
                f"OnnxEmbedder: cannot read tokenizer {embedder.tokenizer_path}: {exc}"
            ) from None
        # The model's own pad token (position ids of RoBERTa-style models depend on it);
        # padding is done here per batch, so the tokenizer does none.
        padding = tokenizer.padding or {}
        pad_id = padding.get("pad_id")
        if pad_id is None:
            pad_id = next(
                (i for t in ("[PAD]", "<pad>") if (i := tokenizer.token_to_id(t)) is not None), 0
            )
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=embedder.max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 4  # failures are raised with context, not logged
        try:
            session = ort.InferenceSession(
                str(embedder.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ConfigurationError(
                f"OnnxEmbedder: cannot load model {embedder.model_path}: {str(exc).strip()}"
            ) from None
        inputs = {
            i.name: "int32" if i.type == "tensor(int32)" else "int64" for i in session.get_inputs()
        }
        outputs = [o.name for o in session.get_outputs()]
        pooled = "sentence_embedding" in outputs
        output = next(
            (
                n
                for n in ("sentence_embedding", "last_hidden_state", "token_embeddings")
                if n in outputs
            ),
            outputs[0],
        )
        return cls(
            tokenizer, session, int(pad_id), inputs, output, pooled, str(embedder.model_path)
        )

    def run(self, texts: list[str]) -> Any:
        """Unit vectors for ``texts`` (one batch)."""
        import numpy as np

        # One text at a time: encode_batch would fan out over every core.
        encodings = [self.tokenizer.encode(text) for text in texts]
        width = max(1, max(len(e.ids) for e in encodings))
        ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        types = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
            types[row, : len(e.ids)] = e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        try:
            output = self.session.run(
                [self.output],
                {
                    name: feeds[name].astype(kind)
                    for name, kind in self.inputs.items()
                    if name in feeds
                },
            )[0]
        except Exception as exc:
            raise RuntimeError(
                f"model {self.where} failed on {len(texts)} text(s) of up to {width} tokens "
                f"(is max_length within the model's limit?): {str(exc).strip()[:300]}"
            ) from None
        output = np.asarray(output, dtype=np.float32)
        if output.ndim == 3 and not self.pooled:  # per token: mean over the real tokens
            weights = mask[..., None].astype(np.float32)
            output = (output * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(output, axis=1, keepdims=True)
        return (output / np.maximum(norms, 1e-12)).astype(np.float32)


def _require(package: str, feature: str, install: str) -> None:
    """Raise :class:`~py_code_mode.errors.MissingPackageError` now if ``package`` cannot be
    found (without importing it), rather than at the first search."""
    import importlib.util

    from ..errors import MissingPackageError

    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError, AttributeError):  # a broken or blocked (None) entry
        found = False
    if not found:
        raise MissingPackageError(package, feature, install)


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
