"""InProcessExecutor specifics: isolation between concurrent sessions, interrupting loops."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from py_code_mode import FileStorage, InProcessExecutor, Session
from py_code_mode.execution import InProcessConfig


async def test_concurrent_sessions_never_mix_output_or_variables(tmp_path: Path) -> None:
    sessions = [
        Session(storage=FileStorage(tmp_path / f"s{i}"), executor=InProcessExecutor())
        for i in range(4)
    ]
    for i, s in enumerate(sessions):
        await s.start()
        await s.run(f"me = {i}")
    code = "import time\nfor k in range(30):\n    print(me)\n    time.sleep(0.001)\nme"
    results = await asyncio.gather(*(s.run(code) for s in sessions))
    for i, result in enumerate(results):
        assert result.value == i
        assert result.stdout == f"{i}\n" * 30
    for s in sessions:
        await s.close()


async def test_output_outside_a_run_still_reaches_the_real_stream(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    async with Session(storage=FileStorage(tmp_path), executor=InProcessExecutor()) as s:
        await s.run("print('captured')")
    print("host output")
    assert "host output" in capsys.readouterr().out


async def test_timeout_interrupts_a_pure_python_loop(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path), executor=InProcessExecutor()) as s:
        # The loop never ends by itself: the run comes back only if it was interrupted.
        result = await s.run("n = 0\nwhile True:\n    n += 1", timeout=0.3)
        assert result.error == "TimeoutError: Execution timed out after 0.3 seconds"
        assert (await s.run("n > 0")).value is True


async def test_code_blocked_in_a_native_call_is_abandoned_not_awaited(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path), executor=InProcessExecutor()) as s:
        await s.run("x = 1")
        # The code blocks in a native read that only the test ends, after the result is back.
        read_end, write_end = os.pipe()
        try:
            code = f"import os\nos.read({read_end}, 1)\nos.close({read_end})"
            result = await s.run(code, timeout=0.2)
            assert result.error is not None and "abandoned" in result.error
            assert (await s.run("x + 1")).value == 2
        finally:
            os.write(write_end, b"x")
            os.close(write_end)


async def test_default_timeout_comes_from_config(tmp_path: Path) -> None:
    executor = InProcessExecutor(config=InProcessConfig(default_timeout=0.2))
    async with Session(storage=FileStorage(tmp_path), executor=executor) as s:
        result = await s.run("while True: pass")
        assert result.error is not None and "0.2 seconds" in result.error


async def test_value_is_the_real_object(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path), executor=InProcessExecutor()) as s:
        result = await s.run("class Thing:\n    pass\nThing()")
        assert type(result.value).__name__ == "Thing"
        assert result.repr is not None and "Thing object" in result.repr


async def test_host_streams_are_restored_for_other_threads(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path), executor=InProcessExecutor()) as s:
        await s.run("print('inside')")
    assert hasattr(sys.stdout, "write")
