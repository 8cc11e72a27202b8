"""Session construction, lifecycle and capabilities (reference-compatible)."""

from __future__ import annotations

from pathlib import Path

import pytest

from py_code_mode import (
    Capability,
    FileStorage,
    InProcessExecutor,
    Session,
    SubprocessExecutor,
)


def test_storage_is_required() -> None:
    with pytest.raises(TypeError, match="storage"):
        Session(storage=None)  # type: ignore[arg-type]


def test_executor_string_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="SubprocessExecutor"):
        Session(storage=FileStorage(tmp_path), executor="subprocess")  # type: ignore[arg-type]


def test_executor_of_wrong_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Executor instance"):
        Session(storage=FileStorage(tmp_path), executor=object())  # type: ignore[arg-type]


async def test_default_executor_is_in_process(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path)) as session:
        assert isinstance(session.executor, InProcessExecutor)
        assert (await session.run("1 + 1")).value == 2


async def test_capabilities_are_empty_until_started(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path), executor=SubprocessExecutor())
    assert session.supported_capabilities() == set()
    assert not session.supports(Capability.TIMEOUT)
    await session.start()
    try:
        assert session.supports(Capability.TIMEOUT)
        assert session.supports(Capability.PROCESS_ISOLATION)
        assert Capability.RESET in session.supported_capabilities()
    finally:
        await session.close()


async def test_in_process_does_not_claim_isolation(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path), executor=InProcessExecutor()) as session:
        assert session.supports("timeout")
        assert not session.supports("process_isolation")


def test_capability_constants() -> None:
    assert Capability.TIMEOUT == "timeout"
    assert Capability.CONTAINER_ISOLATION == "container_isolation"
    assert {"timeout", "reset", "deps_install", "memory_limit"} <= Capability.all()


async def test_run_after_close_is_an_error_result(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path))
    await session.start()
    await session.close()
    result = await session.run("1")
    assert result.error == "Session is closed"


async def test_run_starts_the_session(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path))
    try:
        assert (await session.run("2 * 3")).value == 6
    finally:
        await session.close()


async def test_reset_before_start_is_a_no_op(tmp_path: Path) -> None:
    await Session(storage=FileStorage(tmp_path)).reset()


@pytest.mark.parametrize("constructor", ["from_base", "inprocess", "in_process", "subprocess"])
async def test_convenience_constructors_prepare_the_base(tmp_path: Path, constructor: str) -> None:
    base = tmp_path / "agent"
    session = getattr(Session, constructor)(base)
    assert (base / "tools").is_dir()
    assert isinstance(session.storage, FileStorage)
    async with session:
        assert (await session.run("artifacts.save('n', 1)\nartifacts.load('n')")).value == 1
    assert (base / "artifacts" / "n").read_text() == "1"


async def test_from_base_accepts_base_keyword_and_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    session = Session.from_base(base="~/agent", timeout=5.0)
    assert session.storage.root == (tmp_path / "agent").resolve()  # type: ignore[attr-defined]
    assert isinstance(session.executor, InProcessExecutor)
    assert session.executor.config.default_timeout == 5.0
    assert session.executor.config.deps_file is None


def test_from_base_sees_requirements_file(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    session = Session.from_base(tmp_path)
    assert session.executor.config.deps_file == tmp_path.resolve() / "requirements.txt"  # type: ignore[union-attr]


def test_subprocess_constructor_sets_reference_defaults(tmp_path: Path) -> None:
    session = Session.subprocess(tmp_path)
    config = session.executor.config  # type: ignore[union-attr]
    assert config.default_timeout == 60.0
    assert config.tools_path == tmp_path.resolve() / "tools"
