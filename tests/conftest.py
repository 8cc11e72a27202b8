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


# --- a real redis-server for the storage contract suite ------------------------------------------

import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server on a free port in a temp dir, stopped after the tests."""
    require("redis")
    binary = shutil.which("redis-server")
    assert binary is not None
    folder = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
         "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


_prefixes = iter(range(10**9))


@pytest.fixture(params=["file", "redis"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """Each storage backend, fresh (a new folder, or a new Redis prefix)."""
    if request.param == "file":
        return FileStorage(tmp_path / "base")
    from py_code_mode import RedisStorage

    url = request.getfixturevalue("redis_url")
    return RedisStorage(url=url, prefix=f"test{next(_prefixes)}")


# --- prerequisites: a skip on a laptop, a failure where CI installed them ------------------------

import functools  # noqa: E402
import os  # noqa: E402

#: What each capability needs, as a probe returning None (available) or the problem.
_PROBES = {
    "redis": lambda: (
        None
        if shutil.which("redis-server")
        else "redis-server is not installed (.ci/run installs Debian's redis-server)"
    ),
    "sandbox": lambda: _sandbox_problem(),
    "docker": lambda: _docker_problem(),
}


def _sandbox_problem() -> str | None:
    from py_code_mode import SandboxExecutor

    return SandboxExecutor.check()


def _docker_problem() -> str | None:
    from py_code_mode.execution.container import DEFAULT_IMAGE, docker_problem, image_present

    problem = docker_problem()
    if problem is None and not image_present(DEFAULT_IMAGE):
        problem = (
            f"image {DEFAULT_IMAGE} is not built (.ci/run builds it: py-code-mode container build)"
        )
    return problem


def required_capabilities() -> frozenset[str]:
    """``PY_CODE_MODE_REQUIRE`` (comma-separated): capabilities whose absence fails a test."""
    names = {n.strip() for n in os.environ.get("PY_CODE_MODE_REQUIRE", "").split(",") if n.strip()}
    unknown = names - _PROBES.keys()
    if unknown:
        raise pytest.UsageError(
            f"PY_CODE_MODE_REQUIRE names unknown capabilities {sorted(unknown)}; "
            f"known: {', '.join(sorted(_PROBES))}"
        )
    return frozenset(names)


@functools.cache
def capability_problem(capability: str) -> str | None:
    """None when ``capability`` (redis, sandbox, docker) works here, else why not (probed once)."""
    return _PROBES[capability]()


def require(capability: str) -> None:
    """Skip the calling test when ``capability`` is unavailable, or fail it when
    ``PY_CODE_MODE_REQUIRE`` names it (``.ci/run`` installs everything, so a skip there would
    hide a broken prerequisite)."""
    problem = capability_problem(capability)
    if problem is None:
        return
    if capability in required_capabilities():
        pytest.fail(f"{capability} is required (PY_CODE_MODE_REQUIRE) but unavailable: {problem}")
    pytest.skip(f"{capability} unavailable: {problem}")


def pytest_configure(config: pytest.Config) -> None:
    required_capabilities()  # a typo in PY_CODE_MODE_REQUIRE stops the run before any test


def pytest_report_header(config: pytest.Config) -> str | None:
    required = required_capabilities()
    return f"required capabilities: {', '.join(sorted(required))}" if required else None
