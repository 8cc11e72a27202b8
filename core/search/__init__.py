"""Hybrid search (BM25 + vectors in LanceDB) shared by skills and tools."""

from .embedders import (
    CallableEmbedder,
    Embedder,
    OpenAIEmbedder,
    WordLlamaEmbedder,
    default_embedder,
)
from .index import HybridIndex, SearchDocument

__all__ = [
    "CallableEmbedder",
    "Embedder",
    "HybridIndex",
    "OpenAIEmbedder",
    "SearchDocument",
    "WordLlamaEmbedder",
    "default_embedder",
]
