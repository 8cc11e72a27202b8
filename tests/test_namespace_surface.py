"""One declared surface per namespace: the same calls give the same values and types under every
executor, a skill call from a worker is one round trip, and the worker's namespace objects never
block or call the host when they need not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import require
from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor
from py_code_mode.execution import SandboxExecutor

SKILL = "def run(x: int) -> int:\n    return x + 1\n"


def noop(x: int) -> int:
    """Return x."""
    return x


async def slow(seconds: float) -> str:
    """Sleep on the host, then answer."""
    import asyncio

    await asyncio.sleep(seconds)
    return "done"


def executors() -> list[Any]:
    return ["inprocess", "subprocess", "sandbox"]


def make(kind: str) -> Any:
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "subprocess":
        return SubprocessExecutor()
    require("sandbox")
    return SandboxExecutor()


# Each call's result is described as (type name, value) all the way down; values that differ by
# nature between two sessions (a timestamp, a folder) are compared by type only.
SHAPE = """
VOLATILE = {"created_at", "saved_at", "path", "last_used", "mean_duration_ms"}
def shape(v, key=None):
    if key in VOLATILE:
        return [type(v).__name__]
    if isinstance(v, dict):
        return [type(v).__name__, {k: shape(x, k) for k, x in sorted(v.items())}]
    if isinstance(v, (list, tuple)):
        return [type(v).__name__, [shape(x) for x in v]]
    return [type(v).__name__, v]
def failure(f):
    try:
        f()
    except Exception as e:
        return [type(e).__name__, str(e), [b.__name__ for b in (KeyError, AttributeError, ValueError) if isinstance(e, b)]]
    return None
"""

CALLS = {
    "artifacts.save": "artifacts.save('a', {'k': [1, 2]}, description='d', metadata={'m': 1})",
    "artifacts.get": "artifacts.get('a')",
    "artifacts.get missing": "artifacts.get('zz')",
    "artifacts.list": "artifacts.list()",
    "artifacts.exists": "artifacts.exists('a')",
    "artifacts.load": "artifacts.load('a')",
    "artifacts.load default": "artifacts.load('zz', default=None)",
    "artifacts.load missing": "failure(lambda: artifacts.load('zz'))",
    "artifacts.delete": "artifacts.delete('zz')",
    "skills.create": f"skills.create('inc', {SKILL!r}, 'adds one')",
    "skills.get": "skills.get('inc')",
    "skills.get missing": "skills.get('nope')",
    "skills.list": "skills.list()",
    "skills.describe": "skills.describe('inc')",
    "skills.history": "skills.history('inc')",
    "skills.<name>": "skills.inc(x=1)",
    "skills.invoke": "skills.invoke('inc', x=2)",
    "skills.<missing>": "failure(lambda: skills.nope)",
    "skills.delete missing": "skills.delete('nope')",
    "tools.list": "tools.list()",
    "tools.describe": "tools.describe('noop')",
    "tools.<name>()": "tools.noop(x=3)",
    "tools.<name>.list": "tools.noop.list()",
    "tools.<missing>": "failure(lambda: tools.nope)",
    "deps.list": "deps.list()",
    "repr(deps)": "repr(deps)",
}


async def surface_results(kind: str, base: Path) -> dict[str, Any]:
    session = Session(storage=FileStorage(base), executor=make(kind))
    session.register_tool(noop)
    out = {}
    async with session:
        setup = await session.run(SHAPE)
        assert setup.is_ok, setup.error
        for label, call in CALLS.items():
            result = await session.run(f"__import__('json').dumps(shape({call}))")
            assert result.is_ok, f"{kind} {label}: {result.error}\n{result.traceback}"
            out[label] = json.loads(result.value)
    return out


@pytest.mark.parametrize("kind", executors()[1:])
async def test_namespace_calls_give_the_same_values_and_types_as_in_process(
    tmp_path: Path, kind: str
) -> None:
    expected = await surface_results("inprocess", tmp_path / "inprocess")
    got = await surface_results(kind, tmp_path / kind)
    for label in CALLS:
        assert got[label] == expected[label], label
    # The records are the same kind of object everywhere, timestamps included.
    assert expected["artifacts.save"][0] == "Record"
    assert expected["artifacts.save"][1]["created_at"] == ["datetime"]


class RoundTrips:
    """Counts the worker's calls to the host (wraps the host side of the real channel)."""

    def __init__(self, executor: Any) -> None:
        self.calls: list[str] = []
        host = executor._host
        dispatch = host.dispatch

        async def counting(namespace: Any, method: Any, *rest: Any) -> Any:
            self.calls.append(f"{namespace}.{method}")
            return await dispatch(namespace, method, *rest)

        host.dispatch = counting


async def test_a_skill_call_from_a_worker_is_one_round_trip_and_is_recorded(
    tmp_path: Path,
) -> None:
    async with Session(storage=FileStorage(tmp_path), executor=SubprocessExecutor()) as session:
        created = await session.run(f"skills.create('inc', {SKILL!r})")
        assert created.is_ok, created.error
        trips = RoundTrips(session.executor)
        result = await session.run("skills.inc(x=1)")
        assert result.value == 2
        assert len(trips.calls) == 1, trips.calls
        result = await session.run("skills.invoke('inc', x=5)")
        assert result.value == 6
        assert len(trips.calls) == 2, trips.calls
        # Usage statistics arrived without a round trip of their own.
        stats = session.storage.get_skill_library().stats()["inc"]  # type: ignore[attr-defined]
        assert stats.calls == 2


async def test_deps_repr_in_a_worker_does_not_call_the_host(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path), executor=SubprocessExecutor()) as session:
        await session.run("1")
        trips = RoundTrips(session.executor)
        result = await session.run("repr(deps), repr(tools), repr(skills), repr(artifacts)")
        assert result.is_ok, result.error
        assert trips.calls == []


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_call_async_leaves_the_event_loop_of_the_code_free(tmp_path: Path, kind: str) -> None:
    session = Session(storage=FileStorage(tmp_path), executor=make(kind))
    session.register_tool(slow)
    code = """
import asyncio
ticks = []
async def ticker():
    for i in range(3):
        ticks.append(i)
        await asyncio.sleep(0)
async def main():
    task = asyncio.ensure_future(ticker())
    answer = await tools.slow.call_async(seconds=0.3)
    ticked_meanwhile = len(ticks)
    await task
    return answer, ticked_meanwhile
await main()
"""
    async with session:
        result = await session.run(code)
    assert result.is_ok, result.traceback or result.error
    assert tuple(result.value) == ("done", 3)
