"""SubprocessExecutor specifics: dying workers, kill after timeout, limits, the wire codec."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import require
from py_code_mode import FileStorage, Session, SubprocessConfig, SubprocessExecutor
from py_code_mode.errors import WorkerError


@pytest.fixture
async def sp(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with Session(
        storage=FileStorage(tmp_path / "base"), executor=SubprocessExecutor()
    ) as session:
        yield session


CRASHES = {
    "os._exit": ("import os\nos._exit(1)", "exit code 1"),
    "segfault": ("import ctypes\nctypes.string_at(0)", "SIGSEGV"),
    "sigkill self": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
    "closed channel": (
        "import os\nfor fd in range(3, 64):\n    try:\n        os.close(fd)\n    except OSError:\n        pass\nprint('x')\nartifacts.list()",
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(CRASHES))
async def test_dying_worker_gives_an_error_and_a_fresh_worker(sp: Session, case: str) -> None:
    code, detail = CRASHES[case]
    await sp.run("before = 1")
    result = await sp.run(code, timeout=10)
    assert result.error is not None
    assert "died" in result.error or "closed" in result.error or "Error" in result.error
    assert detail in result.error
    after = await sp.run("1 + 1")
    assert after.value == 2, after.error
    lost = await sp.run("before")
    if "died" in result.error:
        assert lost.error == "NameError: name 'before' is not defined"


async def test_segfault_leaves_a_python_traceback_in_stderr(sp: Session) -> None:
    result = await sp.run("import ctypes\nctypes.string_at(0)")
    assert "Segmentation fault" in result.stderr


async def test_memory_error_is_a_result_under_the_memory_limit(tmp_path: Path) -> None:
    executor = SubprocessExecutor(SubprocessConfig(memory_limit_mb=512))
    async with Session(storage=FileStorage(tmp_path), executor=executor) as s:
        result = await s.run("x = bytearray(2 * 1024 ** 3)")
        assert result.error is not None and result.error.startswith("MemoryError")
        assert (await s.run("'alive'")).value == "alive"


async def test_code_that_ignores_interrupts_is_killed_and_state_is_lost(sp: Session) -> None:
    await sp.run("before = 1")
    # The loop never ends by itself: the run can only come back because the worker was killed.
    result = await sp.run(
        "import time\nwhile True:\n    try:\n        time.sleep(0.01)\n    except BaseException:\n        pass",
        timeout=0.5,
    )
    assert result.error is not None
    assert "timed out after 0.5 seconds" in result.error and "state was lost" in result.error
    assert (await sp.run("before")).error == "NameError: name 'before' is not defined"
    assert (await sp.run("2 + 2")).value == 4


async def test_interrupted_code_keeps_state(sp: Session) -> None:
    await sp.run("kept = [1]")
    result = await sp.run("import time\ntime.sleep(60)", timeout=0.3)
    assert result.error == "TimeoutError: Execution timed out after 0.3 seconds"
    assert (await sp.run("kept")).value == [1]


async def test_values_without_a_wire_form_come_back_as_repr(sp: Session) -> None:
    result = await sp.run(
        "class Thing:\n    def __repr__(self):\n        return 'Thing<7>'\nThing()"
    )
    assert result.is_ok
    assert result.value is None
    assert result.repr == "Thing<7>"


async def test_rich_values_round_trip(sp: Session) -> None:
    result = await sp.run("{'b': b'\\x01', 't': (1, 'a'), 's': {3}, 1: 'int key', 'f': 1.5}")
    assert result.value == {"b": b"\x01", "t": (1, "a"), "s": {3}, 1: "int key", "f": 1.5}


async def test_a_hostile_repr_does_not_break_the_result(sp: Session) -> None:
    result = await sp.run("class A:\n    def __repr__(self):\n        raise ValueError\nA()")
    assert result.is_ok
    assert result.repr == "<unrepresentable A: ValueError>"


async def test_fd_level_output_is_collected(sp: Session) -> None:
    await sp.run("import os\nos.write(1, b'from fd one\\n')")
    result = await sp.run("import os, time\nos.write(2, b'from fd two\\n')\ntime.sleep(0.05)")
    assert "from fd" in result.stderr


async def test_worker_never_holds_the_storage(sp: Session) -> None:
    result = await sp.run("type(artifacts).__name__, hasattr(artifacts, 'path')")
    assert result.value == ("Artifacts", False)


async def test_worker_runs_in_another_process(sp: Session) -> None:
    assert (await sp.run("import os\nos.getpid()")).value != os.getpid()


async def test_reset_is_fast_and_keeps_the_namespaces(sp: Session) -> None:
    await sp.run("x = 1")
    pid = (await sp.run("import os\nos.getpid()")).value
    await sp.reset()
    # Fast because the worker clears itself in place: no new process is started.
    assert (await sp.run("import os\nos.getpid()")).value == pid
    assert (await sp.run("x")).error == "NameError: name 'x' is not defined"
    assert (await sp.run("artifacts.exists('a')")).value is False


async def test_unknown_interpreter_is_a_clear_error(tmp_path: Path) -> None:
    executor = SubprocessExecutor(SubprocessConfig(venv_path=tmp_path / "no-venv"))
    with pytest.raises(WorkerError, match="No Python interpreter"):
        await executor.start()
    await executor.close()


def test_config_validation_and_aliases(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="python_version"):
        SubprocessConfig(python_version="three")
    with pytest.raises(ValueError, match="startup_timeout"):
        SubprocessConfig(startup_timeout=0)
    with pytest.raises(ValueError, match="default_timeout"):
        SubprocessConfig(default_timeout=-1)
    config = SubprocessConfig(venv_dir=tmp_path, deps=["six"])  # type: ignore[arg-type]
    assert config.venv_path == tmp_path
    assert config.deps == ("six",)
    assert config.get_resolved_cleanup() is False
    assert SubprocessConfig(cache_venv=False).get_resolved_cleanup() is True
    assert SubprocessConfig.get_canonical_venv_path("3.12").name == "venv-3.12"


async def test_many_runs_reuse_one_worker(sp: Session) -> None:
    pids = {(await sp.run("import os\nos.getpid()")).value for _ in range(20)}
    assert len(pids) == 1


async def test_close_kills_worker_and_spare(tmp_path: Path) -> None:
    executor = SubprocessExecutor()
    session = Session(storage=FileStorage(tmp_path), executor=executor)
    await session.start()
    pid = (await session.run("import os\nos.getpid()")).value
    await session.close()
    with pytest.raises(ProcessLookupError):
        deadline = time.monotonic() + 30  # a bound for a hang, not a speed requirement
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)


async def test_sandbox_true_gives_the_sandbox(tmp_path: Path) -> None:
    from py_code_mode import SandboxExecutor

    executor = SubprocessExecutor(SubprocessConfig(default_timeout=5), sandbox=True)
    assert isinstance(executor, SandboxExecutor)
    assert executor.config.default_timeout == 5 and executor.config.seccomp
    require("sandbox")
    async with Session(storage=FileStorage(tmp_path), executor=executor) as session:
        assert session.supports("network_isolation")
        assert (await session.run("import os\nos.getcwd()")).value == "/tmp/workspace"
