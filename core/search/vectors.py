"""Exact cosine nearest neighbours over unit vectors held in memory.

The search index keeps every document's vector here (patched in place after this process's
writes and, row by row, after another process's) and answers vector queries
without lance: a lance vector query cost 4-5 ms of CPU before it scored a single row, and its
IVF index ~13 ms at 100k rows.

Up to :data:`INT8_ROWS` rows a query is one float32 matrix-vector product. Above, that product
reads every row (100k rows of 384 floats: 154 MB, ~15-20 ms per query), so the set also keeps
the rows as int8 codes, scaled per dimension, and scores those with simsimd's SIMD kernels
(a quarter of the memory traffic, ~4 ms at 100k x 384). Each row's rounding error is known, so
the code score plus that error bounds the row's true score from above (Cauchy-Schwarz); the
codes' own top ``k``, scored in float32, set a floor the true ``k``-th best cannot be below,
and only rows whose bound reaches the floor are scored in float32 (typically a few dozen). The
answer is the float32 product's, whatever the data: the int8 pass only decides which rows need
a float32 look. Without simsimd (a platform with no wheel) every query is the float32 product.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

#: Rows from which queries go through the int8 codes first (below, the float32 product is
#: about as fast and the codes would only cost memory).
INT8_ROWS = 8_192
#: Added to every bound: covers float32 rounding in the float32 scores and the norms.
BOUND_SLACK = 1e-4


#: Rows encoded or normalized at a time (bounds the temporary arrays while a set is built).
CHUNK = 4_096


@functools.cache
def _simsimd() -> Any:
    """simsimd, if it is installed and its int8 dot product is exact on this CPU (the bound
    relies on it; checked once against numpy on extreme values), else None: the float32
    product then answers alone."""
    try:
        import simsimd
    except ImportError:  # no wheel for this platform
        return None
    rng = np.random.default_rng(0)
    a = rng.integers(-127, 128, size=(9, 1024)).astype(np.int8)
    a[0], a[1] = 127, -127
    got = np.asarray(simsimd.cdist(a, a[:2], metric="dot", threads=1), dtype=np.float64)
    exact = a.astype(np.int64) @ a[:2].astype(np.int64).T
    return simsimd if np.array_equal(got, exact) else None


def _grown(array: np.ndarray, capacity: int, used: int) -> np.ndarray:
    """``array`` with room for ``capacity`` rows, its first ``used`` rows kept."""
    bigger = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[:used] = array[:used]
    return bigger


def _unit(vectors: Any, dim: int) -> np.ndarray:
    """A float32 copy of ``vectors`` (one vector, or one per row) with rows of length 1; a row
    with NaN or infinite values (stored before the index checked them) becomes zeros, so it
    cannot skew the other rows' scores."""
    matrix = np.array(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {matrix.shape}")
    for start in range(0, len(matrix), CHUNK):
        rows = matrix[start : start + CHUNK]
        rows[~np.isfinite(rows).all(axis=1)] = 0.0
        # Scaled by the largest value first: squaring very large or very small float32 values
        # would overflow or underflow the norm.
        peak = np.abs(rows).max(axis=1, keepdims=True)
        rows /= np.where(peak == 0, 1.0, peak)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        rows /= np.where(norms == 0, 1.0, norms)
    return matrix


class _Codes:
    """Rows as int8 codes ``round(x * scale)`` (``scale`` per dimension) with, per row, the norm
    of the rounding error in scaled space and the norm of the codes: what the bound needs."""

    def __init__(self, rows: np.ndarray, capacity: int) -> None:
        dim = rows.shape[1]
        peak = np.zeros(dim, dtype=np.float32)
        for start in range(0, len(rows), CHUNK):
            np.maximum(peak, np.abs(rows[start : start + CHUNK]).max(axis=0), out=peak)
        self.scale = (127.0 / np.maximum(peak, 1e-6)).astype(np.float32)
        self.codes = np.zeros((capacity, dim), dtype=np.int8)
        self.error = np.zeros(capacity, dtype=np.float32)  # |x * scale - code|
        self.size = np.zeros(capacity, dtype=np.float32)  # |code|
        self.set(0, rows)

    def set(self, start: int, rows: np.ndarray) -> None:
        """Encode ``rows`` into places ``start:``; a value beyond the scale is clipped, and the
        clipping counts in the row's error, so the bound still holds."""
        for offset in range(0, len(rows), CHUNK):
            scaled = rows[offset : offset + CHUNK] * self.scale
            codes = np.clip(np.rint(scaled), -127, 127)
            at = slice(start + offset, start + offset + len(codes))
            self.codes[at] = codes
            self.error[at] = np.linalg.norm(scaled - codes, axis=1)
            self.size[at] = np.linalg.norm(codes, axis=1)

    def move(self, source: int, target: int) -> None:
        for array in (self.codes, self.error, self.size):
            array[target] = array[source]

    def grow(self, capacity: int, used: int) -> None:
        self.codes = _grown(self.codes, capacity, used)
        self.error = _grown(self.error, capacity, used)
        self.size = _grown(self.size, capacity, used)

    def bounds(self, kernels: Any, query: np.ndarray, used: int) -> tuple[np.ndarray, np.ndarray]:
        """``(estimate, upper bound)`` of every row's dot product with the unit ``query``.

        With ``u = q / scale`` quantized as ``c_q / t + d``: ``q.x = u.(x * scale)`` and
        ``x * scale = c_x + e``, so ``q.x = c_q.c_x / t + d.c_x + u.e``, where
        ``|d.c_x| <= |d| |c_x|`` and ``|u.e| <= |u| |e|``.
        """
        u = query / self.scale
        t = 127.0 / max(float(np.abs(u).max()), 1e-30)
        c_q = np.clip(np.rint(u * t), -127, 127)
        d, u_norm = float(np.linalg.norm(u - c_q / t)), float(np.linalg.norm(u))
        dots = kernels.cdist(
            self.codes[:used], c_q.astype(np.int8)[None, :], metric="dot", threads=1
        )
        estimate = np.asarray(dots, dtype=np.float32).reshape(-1) / t
        slack = d * self.size[:used] + u_norm * self.error[:used] + BOUND_SLACK
        return estimate, estimate + slack


class VectorSet:
    """Named unit vectors; :meth:`nearest` gives the exact cosine top ``depth`` for each
    query (the float32 product's answer)."""

    def __init__(self, names: list[str], vectors: Any, dim: int) -> None:
        self.dim = dim
        rows = _unit(vectors, dim)
        if len(rows) != len(names):
            raise ValueError(f"{len(names)} names for {len(rows)} vectors")
        self._pos = {name: i for i, name in enumerate(names)}  # a repeated name: its last row
        if len(self._pos) < len(names):
            keep = np.fromiter(sorted(self._pos.values()), dtype=np.int64)
            rows, names = rows[keep], [names[i] for i in keep]
            self._pos = {name: i for i, name in enumerate(names)}
        self._names: list[str] = list(names)
        self._rows = rows
        self._kernels = _simsimd()
        self._codes: _Codes | None = None
        self._encode_if_large()

    def __len__(self) -> int:
        return len(self._names)

    @property
    def uses_int8(self) -> bool:
        """Whether queries go through the int8 codes first."""
        return self._codes is not None

    def _encode_if_large(self) -> None:
        if self._codes is None and self._kernels is not None and len(self) >= INT8_ROWS:
            self._codes = _Codes(self._rows[: len(self)], self._rows.shape[0])

    def update(self, names: list[str], vectors: Any, removed: Iterable[str] = ()) -> None:
        """Drop the ``removed``, then set the vectors of ``names`` (new or changed), in place."""
        rows = _unit(vectors, self.dim) if names else None
        if rows is not None and len(rows) != len(names):
            raise ValueError(f"{len(names)} names for {len(rows)} vectors")
        for name in removed:
            i = self._pos.pop(name, None)
            if i is None:
                continue
            last = len(self._names) - 1
            if i != last:  # the last row takes the removed row's place
                moved = self._names[last]
                self._names[i], self._pos[moved] = moved, i
                self._rows[i] = self._rows[last]
                if self._codes is not None:
                    self._codes.move(last, i)
            self._names.pop()
        if rows is None:
            return
        added = sum(1 for name in dict.fromkeys(names) if name not in self._pos)
        self._reserve(len(self._names) + added)
        for name, row in zip(names, rows, strict=True):
            i = self._pos.get(name)
            if i is None:
                i = self._pos[name] = len(self._names)
                self._names.append(name)
            self._rows[i] = row
            if self._codes is not None:
                self._codes.set(i, row[None, :])
        self._encode_if_large()

    def _reserve(self, rows: int) -> None:
        """Room for ``rows`` rows, grown by an eighth so that appends are amortized without
        holding much unused memory (100k rows of 384-d: ~24 MB spare at most, codes included)."""
        capacity = self._rows.shape[0]
        if rows <= capacity:
            return
        capacity = max(rows, capacity + capacity // 8, 16)
        self._rows = _grown(self._rows, capacity, len(self._names))
        if self._codes is not None:
            self._codes.grow(capacity, len(self._names))

    def nearest(self, queries: Any, depth: int) -> list[list[tuple[str, float]]]:
        """For each query vector, the ``depth`` nearest ``(name, cosine)``, best first."""
        wanted = _unit(queries, self.dim)  # one vector, or one per row
        used = len(self._names)
        if used == 0 or depth <= 0:
            return [[] for _ in wanted]
        k = min(depth, used)
        rows = self._rows[:used]
        if self._codes is None:
            scores = rows @ wanted.T
            every = np.arange(used)
            return [self._best(every, scores[:, j], k) for j in range(len(wanted))]
        out = []
        for query in wanted:
            estimate, bound = self._codes.bounds(self._kernels, query, used)
            seed = np.argpartition(-estimate, k - 1)[:k]
            floor = float((rows[seed] @ query).min())
            candidates = np.flatnonzero(bound >= floor)  # the seed rows are among them
            out.append(self._best(candidates, rows[candidates] @ query, k))
        return out

    def _best(self, where: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` best of ``scores`` (for rows ``where``), best first."""
        top = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._names[int(where[i])], float(scores[i])) for i in top]
