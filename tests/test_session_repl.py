"""REPL semantics of Session.run, the same under every executor."""

from __future__ import annotations

from pathlib import Path

from conftest import make_executor
from py_code_mode import FileStorage, Session


async def test_state_persists_between_runs(session: Session) -> None:
    assert (await session.run("x = 40\ndef f(n):\n    return n + 2")).is_ok
    result = await session.run("f(x)")
    assert result.value == 42
    assert result.repr == "42"


async def test_last_expression_is_the_value_and_statements_give_none(session: Session) -> None:
    assert (await session.run("a = [1, 2]\na")).value == [1, 2]
    result = await session.run("b = 3")
    assert result.value is None and result.repr is None and result.is_ok


async def test_imports_persist(session: Session) -> None:
    await session.run("import math")
    assert (await session.run("math.floor(2.7)")).value == 2


async def test_top_level_await(session: Session) -> None:
    result = await session.run(
        "import asyncio\nasync def twice(n):\n    await asyncio.sleep(0)\n    return 2 * n\n"
        "v = await twice(4)\nawait twice(v)"
    )
    assert result.is_ok, result.error
    assert result.value == 16


async def test_stdout_and_stderr_are_captured_separately(session: Session) -> None:
    result = await session.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\n7")
    assert result.stdout == "out\n"
    assert "err\n" in result.stderr
    assert result.value == 7


async def test_error_has_type_message_and_trimmed_traceback(session: Session) -> None:
    result = await session.run("def boom():\n    raise ValueError('bad value')\nboom()")
    assert not result.is_ok
    assert result.error == "ValueError: bad value"
    assert result.traceback is not None
    assert 'File "<cell-' in result.traceback and "boom()" in result.traceback
    assert "worker.py" not in result.traceback and "in_process.py" not in result.traceback


async def test_syntax_error_is_a_result(session: Session) -> None:
    result = await session.run("def f(:\n  pass")
    assert result.error is not None and result.error.startswith("SyntaxError")


async def test_system_exit_does_not_end_the_session(session: Session) -> None:
    result = await session.run("import sys\nsys.exit(3)")
    assert result.error == "SystemExit: 3"
    assert (await session.run("1 + 1")).value == 2


async def test_reset_clears_variables_but_keeps_namespaces(session: Session) -> None:
    await session.run("secret = 1")
    await session.reset()
    assert (await session.run("secret")).error == "NameError: name 'secret' is not defined"
    assert (await session.run("artifacts.exists('nothing')")).value is False


async def test_deleted_namespace_comes_back_on_the_next_run(session: Session) -> None:
    await session.run("del artifacts")
    await session.run("tools = None")
    assert (await session.run("artifacts.exists('x')")).value is False


async def test_output_flood_is_truncated_with_a_marker(base: Path, executor_kind: str) -> None:
    executor = make_executor(executor_kind, output_limit=1000)
    async with Session(storage=FileStorage(base), executor=executor) as s:
        result = await s.run("for i in range(10000):\n    print('line', i)")
    assert result.is_ok
    assert len(result.stdout) < 1200
    assert "[output truncated:" in result.stdout


async def test_timeout_returns_an_error_and_the_session_stays_usable(session: Session) -> None:
    await session.run("kept = 'yes'")
    result = await session.run("while True:\n    pass", timeout=0.5)
    assert result.error is not None
    assert "timed out after 0.5 seconds" in result.error
    assert (await session.run("kept")).value == "yes"


async def test_duration_is_reported(session: Session) -> None:
    result = await session.run("sum(range(1000))")
    assert result.duration_ms is not None and result.duration_ms >= 0
    assert result.execution_time_ms == result.duration_ms


async def test_non_string_code_is_an_error_result(session: Session) -> None:
    result = await session.run(123)  # type: ignore[arg-type]
    assert result.error is not None and "code must be a string" in result.error
