"""Settings kept for the reference project's users either work or say plainly that they do
nothing; one timeout check everywhere."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

from py_code_mode import (
    ContainerConfig,
    FileStorage,
    InProcessConfig,
    InProcessExecutor,
    Session,
    SubprocessConfig,
)
from py_code_mode.compat import CompatibilityWarning
from py_code_mode.execution import SandboxConfig


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: SubprocessConfig(base_deps=("ipykernel", "pandas")), "base_deps"),
        (lambda: SubprocessConfig(cache_venv=False), "cache_venv"),
        (lambda: SubprocessConfig(cleanup_venv_on_close=True), "cleanup_venv_on_close"),
        (lambda: SandboxConfig(cache_venv=False), "cache_venv"),
        (lambda: InProcessConfig(ipc_timeout=5.0), "ipc_timeout"),
        (lambda: ContainerConfig(port=8080), "port"),
    ],
)
def test_a_setting_that_does_nothing_says_so(make: object, field: str) -> None:
    with pytest.warns(CompatibilityWarning, match=f"{field} has no effect"):
        make()  # type: ignore[operator]


def test_defaults_and_working_settings_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompatibilityWarning)
        SubprocessConfig(default_timeout=5, python_version=None, memory_limit_mb=512)
        InProcessConfig(default_timeout=3)
        ContainerConfig()
        Session.subprocess  # noqa: B018 - the classmethod passes cache_venv=True (the default)


def test_positional_in_process_config_is_the_config() -> None:
    executor = InProcessExecutor(InProcessConfig(default_timeout=7))
    assert executor.config.default_timeout == 7 and executor._registry is None


def test_container_available_says_whether_docker_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    import py_code_mode.execution as execution

    monkeypatch.setenv("PATH", "")
    assert execution.CONTAINER_AVAILABLE is False


@pytest.mark.parametrize("timeout", [-1, 0, math.nan, math.inf, "10", True])
@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_a_bad_run_timeout_is_the_same_error_everywhere(
    tmp_path: Path, kind: str, timeout: object
) -> None:
    session = (Session.inprocess if kind == "inprocess" else Session.subprocess)(tmp_path)
    async with session:
        result = await session.run("1", timeout=timeout)  # type: ignore[arg-type]
        assert result.error is not None and result.error.startswith("ValueError: timeout must be")
        assert (await session.run("2")).value == 2


@pytest.mark.parametrize("bad", [-1, 0, math.nan])
def test_a_bad_default_timeout_is_refused_by_every_config(bad: float) -> None:
    for config in (InProcessConfig, SubprocessConfig, SandboxConfig):
        with pytest.raises(ValueError, match="default_timeout must be a finite number"):
            config(default_timeout=bad)


def test_a_failed_artifact_write_raises_artifact_write_error(tmp_path: Path) -> None:
    from py_code_mode.errors import ArtifactWriteError

    store = FileStorage(tmp_path).get_artifact_store()
    store.save("report", "v1")
    (tmp_path / "artifacts" / "sub").write_text("a file where a folder must go")
    with pytest.raises(ArtifactWriteError, match="'sub/report' could not be written"):
        store.save("sub/report", "v2")
    assert store.load("report") == "v1"  # nothing already stored is lost
