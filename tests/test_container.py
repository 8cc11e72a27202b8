"""ContainerExecutor against a real Docker daemon (skips, with the reason, where none runs;
fails instead where PY_CODE_MODE_REQUIRE names docker)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import require
from py_code_mode import ContainerConfig, ContainerExecutor, FileStorage, Session
from py_code_mode.errors import WorkerError


@pytest.fixture(autouse=True)
def _docker() -> None:
    require("docker")


@pytest.fixture
async def csession(tmp_path: Path) -> AsyncIterator[Session]:
    config = ContainerConfig(memory_limit="512m", default_timeout=10, name="pcm-test")
    async with Session(
        storage=FileStorage(tmp_path), executor=ContainerExecutor(config)
    ) as session:
        yield session


def containers(prefix: str = "pcm-test") -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"name={prefix}", "-q"], capture_output=True, text=True
    )
    return out.stdout.split()


async def test_session_semantics_in_a_container(csession: Session) -> None:
    await csession.run("x = 20")
    result = await csession.run("import os\n(os.getuid(), os.getcwd(), x * 2)")
    assert result.value == (65534, "/tmp", 40)
    assert (await csession.run("artifacts.save('a', [1])\nartifacts.load('a')")).value == [1]
    await csession.run("skills.create('d', 'def run(v: int):\\n    return 2 * v')")
    assert (await csession.run("skills.d(v=x)")).value == 40
    assert csession.supports("container_isolation") and csession.supports("network_isolation")


async def test_timeout_interrupts_and_state_survives(csession: Session) -> None:
    await csession.run("kept = 'yes'")
    result = await csession.run("import time\ntime.sleep(60)", timeout=1)
    assert result.error == "TimeoutError: Execution timed out after 1 seconds"
    assert (await csession.run("kept")).value == "yes"


async def test_code_ignoring_interrupts_gets_a_fresh_container(csession: Session) -> None:
    await csession.run("kept = 1")
    # The loop never ends by itself: the run comes back only because the container was replaced.
    result = await csession.run(
        "import time\nwhile True:\n    try:\n        time.sleep(0.01)\n    except BaseException:\n        pass",
        timeout=1,
    )
    assert "state was lost" in (result.error or "")
    assert (await csession.run("kept")).error == "NameError: name 'kept' is not defined"
    assert (await csession.run("2 + 2")).value == 4


async def test_memory_limit_and_no_network(csession: Session) -> None:
    assert (await csession.run("b = bytearray(2 * 1024 ** 3)")).error == "MemoryError"
    net = await csession.run("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)")
    assert net.error is not None and "unreachable" in net.error.lower()


async def test_crash_recovery_and_cleanup(tmp_path: Path) -> None:
    config = ContainerConfig(default_timeout=10, name="pcm-crash")
    async with Session(
        storage=FileStorage(tmp_path), executor=ContainerExecutor(config)
    ) as session:
        died = await session.run("import os\nos._exit(3)")
        assert "worker process died" in (died.error or "")
        assert (await session.run("1 + 1")).value == 2
    deadline = time.monotonic() + 60  # a bound for a hang: docker removes containers async
    while containers("pcm-crash") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert containers("pcm-crash") == []


async def test_missing_image_is_a_clear_error(tmp_path: Path) -> None:
    executor = ContainerExecutor(ContainerConfig(image="py-code-mode-nonexistent:none"))
    with pytest.raises(WorkerError, match="is not present"):
        await executor.start(FileStorage(tmp_path))


def test_config_is_required() -> None:
    with pytest.raises(TypeError):
        ContainerExecutor()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ContainerExecutor.create()
