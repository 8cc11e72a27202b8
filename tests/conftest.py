"""Shared fixtures: a base folder, and a started Session under each executor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor
from py_code_mode.execution import InProcessConfig, SubprocessConfig

EXECUTORS = ["inprocess", "subprocess"]


def make_executor(kind: str, **options: object) -> InProcessExecutor | SubprocessExecutor:
    if kind == "inprocess":
        return InProcessExecutor(config=InProcessConfig(**options))  # type: ignore[arg-type]
    return SubprocessExecutor(SubprocessConfig(**options))  # type: ignore[arg-type]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "base"


@pytest.fixture(params=EXECUTORS)
def executor_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def session(base: Path, executor_kind: str) -> AsyncIterator[Session]:
    async with Session(storage=FileStorage(base), executor=make_executor(executor_kind)) as s:
        yield s


async def value(session: Session, code: str) -> object:
    """Run code that must succeed; return its value."""
    result = await session.run(code)
    assert result.is_ok, result.traceback or result.error
    return result.value


async def error(session: Session, code: str) -> str:
    """Run code that must fail; return its error."""
    result = await session.run(code)
    assert result.error is not None, result.value
    return result.error
