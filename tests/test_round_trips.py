"""What a namespace call from a worker costs on the channel: one request frame and one reply
per call (issue 22), counted by the host as it reads the worker's frames. Also: the behaviours
the faster paths must keep (an interrupt during a call, skill statistics, a tool changed
between cells)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from py_code_mode import FileStorage, Session, SubprocessExecutor

CALLS = 10


def double(x: int) -> int:
    """Return 2x."""
    return 2 * x


@pytest.fixture
async def sp(tmp_path: Path):  # type: ignore[no-untyped-def]
    session = Session(storage=FileStorage(tmp_path / "base"), executor=SubprocessExecutor())
    session.register_tool(double)
    async with session:
        result = await session.run(
            "skills.create('inc', 'def run(x: int) -> int:\\n    return x + 1\\n')"
        )
        assert result.error is None, result.error
        yield session


async def frames_of(session: Session, code: str) -> Counter[str]:
    """The frames the worker sent while ``code`` ran, by op."""
    worker = session._executor._worker  # type: ignore[union-attr]
    before = Counter(worker.frames_by_op)
    result = await session.run(code)
    assert result.error is None, result.error
    return Counter(worker.frames_by_op) - before


async def test_a_tool_call_in_a_loop_is_one_round_trip(sp: Session) -> None:
    await sp.run("tools.double(x=1)")  # whatever a first call costs
    frames = await frames_of(sp, f"for i in range({CALLS}):\n    assert tools.double(x=i) == 2 * i")
    # One lookup of tools.double for the cell, then one request per call.
    assert frames["rpc"] == CALLS + 1
    assert frames["result"] == 1


async def test_a_skill_call_is_one_round_trip_and_its_statistics_ride_along(
    sp: Session,
) -> None:
    frames = await frames_of(sp, f"for i in range({CALLS}):\n    assert skills.inc(x=i) == i + 1")
    assert frames["rpc"] == CALLS  # the source (with its hash): the one request of a call
    # Usage statistics are one-way and go out with the next frame: all of them arrive.
    assert frames["note"] == CALLS
    stats = sp._executor._host.library.stats()  # type: ignore[union-attr]
    assert stats["inc"].calls == CALLS


async def test_artifact_calls_are_one_round_trip_each(sp: Session) -> None:
    frames = await frames_of(
        sp,
        "artifacts.save('a', {'n': 1})\nassert artifacts.load('a') == {'n': 1}\n"
        "assert artifacts.exists('a')",
    )
    assert frames["rpc"] == 3


async def test_a_tool_registered_between_cells_is_seen_by_the_next_cell(sp: Session) -> None:
    assert (await sp.run("tools.double(x=2)")).value == 4

    def double(x: int) -> int:  # the same name, new behaviour
        """Return 3x."""
        return 3 * x

    sp.register_tool(double)
    assert (await sp.run("tools.double(x=2)")).value == 6


async def test_interrupt_during_a_slow_tool_call_keeps_the_channel_in_step(
    sp: Session,
) -> None:
    import time

    def slow(seconds: float) -> float:
        """Sleep on the host."""
        time.sleep(seconds)
        return seconds

    sp.register_tool(slow)
    result = await sp.run("tools.slow(seconds=2.0)", timeout=0.3)
    assert result.error is not None and "TimeoutError" in result.error
    # The late reply to the interrupted call is skipped; the next calls get their own.
    for i in range(3):
        assert (await sp.run(f"tools.double(x={i})")).value == 2 * i, i
