"""The in-memory vector search (search/vectors.py) gives exactly the float32 product's top k,
through the int8 codes or without them, before and after updates."""

from __future__ import annotations

import numpy as np
import pytest

import py_code_mode.search.vectors as vectors_module
from py_code_mode.search.vectors import VectorSet


def _assert_exact(
    found: list[tuple[str, float]], rows: np.ndarray, names: list[str], query: np.ndarray, k: int
) -> None:
    """``found`` is the float64 top ``k`` (rows whose scores tie within float32 rounding may
    swap places) with each row's true score."""
    unit = rows.astype(np.float64) / np.linalg.norm(rows, axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    truth = dict(zip(names, scores, strict=True))
    best = np.sort(scores)[::-1][:k]
    assert len(found) == len(best)
    assert [truth[n] for n, _ in found] == pytest.approx(list(best), abs=1e-5)
    assert [s for _, s in found] == pytest.approx([truth[n] for n, _ in found], abs=1e-5)


def _data(kind: str, rows: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return rng.normal(size=(rows, dim)).astype(np.float32)
    if kind == "clustered":  # tight clusters, plus a few far-off rows (an IVF's weak spot)
        centres = rng.normal(size=(8, dim))
        data = centres[rng.integers(0, 8, rows)] + rng.normal(0, 0.05, (rows, dim))
        data[:: max(rows // 20, 1)] = rng.normal(size=(len(data[:: max(rows // 20, 1)]), dim))
        return data.astype(np.float32)
    # "skewed": one dimension far larger than the others, as some models' outlier dimensions
    data = rng.normal(0, 0.05, size=(rows, dim))
    data[:, 3] += 1.0
    return data.astype(np.float32)


@pytest.fixture(params=["int8-first", "float32"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(vectors_module, "INT8_ROWS", 64 if request.param == "int8-first" else 10**9)
    return str(request.param)


@pytest.mark.parametrize("kind", ["gaussian", "clustered", "skewed"])
def test_nearest_is_the_exact_top_k(path: str, kind: str) -> None:
    rows = _data(kind, 3000, 96)
    names = [f"s{i}" for i in range(len(rows))]
    vectors = VectorSet(names, rows, 96)
    assert vectors.uses_int8 is (path == "int8-first")
    queries = np.concatenate([_data(kind, 20, 96, seed=1), rows[:5] + 0.01])
    for query, found in zip(queries, vectors.nearest(queries, 40), strict=True):
        _assert_exact(found, rows, names, query, 40)


def test_updates_keep_the_answers_exact(path: str) -> None:
    rng = np.random.default_rng(2)
    rows = {f"s{i}": v for i, v in enumerate(_data("gaussian", 400, 32))}
    vectors = VectorSet(list(rows), np.stack(list(rows.values())), 32)
    # new rows far beyond the codes' scale (clipped codes), changed rows, removed rows, and a
    # name both removed and added again
    big = {f"n{i}": rng.normal(size=32).astype(np.float32) * 50 for i in range(300)}
    big["n0"][5] = 400.0
    changed = {f"s{i}": rng.normal(size=32).astype(np.float32) for i in range(0, 400, 7)}
    gone = [f"s{i}" for i in range(1, 400, 5)] + ["s3"]
    vectors.update(list(big), np.stack(list(big.values())))
    vectors.update(list(changed), np.stack(list(changed.values())), removed=gone)
    vectors.update(["s3"], rng.normal(size=(1, 32)))
    rows.update(big)
    for name in gone:  # removals apply first, then the new vectors
        del rows[name]
    rows.update(changed)
    rows["s3"] = vectors._rows[vectors._pos["s3"]]
    assert len(vectors) == len(rows)
    names = list(rows)
    matrix = np.stack([rows[n] for n in names])
    queries = rng.normal(size=(15, 32)).astype(np.float32)
    for query, found in zip(queries, vectors.nearest(queries, 25), strict=True):
        _assert_exact(found, matrix, names, query, 25)


def test_small_and_empty_sets() -> None:
    empty = VectorSet([], np.zeros((0, 8), dtype=np.float32), 8)
    assert empty.nearest(np.ones((2, 8)), 5) == [[], []]
    few = VectorSet(["a", "b"], np.eye(8, dtype=np.float32)[:2], 8)
    assert [n for n, _ in few.nearest(np.eye(8)[1], 10)[0]] == ["b", "a"]
    assert few.nearest(np.eye(8)[0], 0) == [[]]
    with pytest.raises(ValueError, match="3 names for 2 vectors"):
        VectorSet(["a", "b", "c"], np.eye(8)[:2], 8)


def test_the_int8_kernels_are_installed() -> None:
    # simsimd is a dependency: a large set must take the int8 path, not silently fall back.
    assert vectors_module._simsimd() is not None
    rows = _data("gaussian", vectors_module.INT8_ROWS, 16)
    assert VectorSet([str(i) for i in range(len(rows))], rows, 16).uses_int8


def test_a_row_with_nan_or_inf_cannot_skew_the_others(path: str) -> None:
    # Rows an older version stored unchecked: they become zeros (score 0), the rest stay exact.
    rows = _data("gaussian", 500, 24)
    rows[7, 3], rows[9, 0] = np.nan, np.inf
    names = [f"s{i}" for i in range(len(rows))]
    vectors = VectorSet(names, rows, 24)
    vectors.update(["late"], np.full((1, 24), np.nan))
    clean = np.delete(rows, [7, 9], axis=0)
    kept = [n for i, n in enumerate(names) if i not in (7, 9)]
    for query in _data("gaussian", 10, 24, seed=3):
        found = vectors.nearest(query, 20)[0]
        _assert_exact(found, clean, kept, query, 20)
    scores = dict(vectors.nearest(np.ones(24), len(vectors))[0])
    assert scores["s7"] == scores["s9"] == scores["late"] == 0.0


def test_repeated_names_wrong_shapes_and_extreme_magnitudes() -> None:
    # A name stored twice (lance does not enforce the key) keeps its last row and can be
    # removed; a mismatched update changes nothing; rows of any magnitude are unit vectors.
    vectors = VectorSet(["a", "a", "b"], np.eye(3), 3)
    assert len(vectors) == 2
    assert [n for n, _ in vectors.nearest([0, 1, 0], 1)[0]] == ["a"]
    vectors.update([], [], removed=["a"])
    assert [n for n, _ in vectors.nearest([0, 1, 0], 5)[0]] == ["b"]
    with pytest.raises(ValueError, match="2 names for 1 vectors"):
        vectors.update(["c", "d"], np.eye(3)[:1], removed=["b"])
    assert len(vectors) == 1  # nothing was removed either
    with pytest.raises(ValueError, match="dimension 3"):
        vectors.nearest(np.ones(6), 1)
    tiny = VectorSet(["tiny", "huge", "x"], [[1e-23, 0, 0], [1e19, 1e19, 0], [0, 0, 1]], 3)
    scores = dict(tiny.nearest([1, 0, 0], 3)[0])
    assert scores["tiny"] == pytest.approx(1.0)
    assert scores["huge"] == pytest.approx(2**-0.5)
