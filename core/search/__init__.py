"""Hybrid search (BM25 + vectors in LanceDB) shared by skills and tools."""

from .embedders import (
    CallableEmbedder,
    Embedder,
    OnnxEmbedder,
    OpenAIEmbedder,
    WordLlamaEmbedder,
    default_embedder,
)
from .index import HybridIndex, SearchDocument

__all__ = [
    "CallableEmbedder",
    "Embedder",
    "HybridIndex",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "SearchDocument",
    "WordLlamaEmbedder",
    "default_embedder",
]
