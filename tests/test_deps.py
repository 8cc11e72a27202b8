"""Deps: installs from wheels built in the test (no network), into a per-base overlay."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from wheels import build_wheel

from conftest import make_executor, value
from py_code_mode import FileStorage, Session
from py_code_mode.deps import PackageInstaller, validate_spec
from py_code_mode.errors import DependencyError, InvalidSpecError, RuntimeDepsDisabledError


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    build_wheel(folder, "tinypkg_alpha", "1.0", "VALUE = 'alpha'\n")
    build_wheel(folder, "tinypkg_beta", "2.0", "VALUE = 'beta'\n")
    return folder


def installer(wheelhouse: Path) -> PackageInstaller:
    return PackageInstaller(find_links=[str(wheelhouse)], no_index=True, timeout=120)


@pytest.fixture
async def dsession(tmp_path: Path, executor_kind: str, wheelhouse: Path) -> AsyncIterator[Session]:
    executor = make_executor(executor_kind, deps_installer=installer(wheelhouse))
    async with Session(storage=FileStorage(tmp_path / "base"), executor=executor) as session:
        yield session


async def test_add_installs_into_the_overlay_and_records(dsession: Session, tmp_path: Path) -> None:
    # A fresh module name per executor: the in-process one shares the test's sys.modules.
    name = "tinypkg_alpha"
    added = await value(
        dsession, f"r = deps.add({name!r})\n(r.installed, r.already_present, r.failed)"
    )
    assert added == (["tinypkg-alpha"], [], [])
    assert await value(dsession, f"import {name}\n{name}.VALUE") == "alpha"
    assert await value(dsession, "deps.list()") == ["tinypkg-alpha"]
    base = tmp_path / "base"
    assert (base / "deps" / "requirements.txt").read_text() == "tinypkg-alpha\n"
    assert (base / ".deps" / "tinypkg_alpha" / "__init__.py").is_file()
    again = await value(dsession, "deps.add('TinyPkg_Alpha').already_present")
    assert again == ["tinypkg-alpha"]


async def test_host_environment_is_never_modified(dsession: Session) -> None:
    await value(dsession, "deps.add('tinypkg_beta==2.0')")
    site = Path(sys.prefix)
    assert not list(site.rglob("tinypkg_beta*"))


async def test_failing_install_leaves_everything_as_it_was(
    dsession: Session, tmp_path: Path
) -> None:
    await value(dsession, "deps.add('tinypkg_alpha')")
    overlay = tmp_path / "base" / ".deps"
    before = sorted(p.name for p in overlay.iterdir())
    result = await dsession.run("deps.add('tinypkg_missing_zz')")
    assert result.error is not None
    assert result.error.startswith(
        "DependencyError: installing tinypkg-missing-zz failed; nothing was changed"
    )
    assert "Could not find a version" in result.error  # pip's own last lines
    assert sorted(p.name for p in overlay.iterdir()) == before
    assert await value(dsession, "deps.list()") == ["tinypkg-alpha"]
    assert not [p for p in (tmp_path / "base").iterdir() if p.name.startswith(".staging")]


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        "-e .",
        "--index-url http://evil",
        "pkg @ https://x/y.whl",
        "./local/pkg",
        "/abs/pkg",
        "git+https://x/y.git",
        "pkg; rm -rf /",
        "pkg$(id)",
        "pkg|cat",
        "x\ny",
        "a" * 300,
        "pkg; python_version>'3'",
    ],
)
async def test_refused_specs(dsession: Session, spec: str) -> None:
    result = await dsession.run(f"deps.add({spec!r})")
    assert result.error is not None and result.error.startswith("InvalidSpecError"), result.error
    assert await value(dsession, "deps.list()") == []


def test_spec_normalization_keeps_pins() -> None:
    assert validate_spec("Foo_Bar==1.2") == "foo-bar==1.2"
    assert validate_spec("requests[socks]>=2.0") == "requests[socks]>=2.0"
    assert validate_spec("pkg @ https://x/y.whl", allow_unsafe=True) == "pkg @ https://x/y.whl"
    with pytest.raises(ValueError):
        validate_spec("-e .")


async def test_remove_edits_the_record(dsession: Session) -> None:
    await value(dsession, "deps.add('tinypkg_alpha')")
    assert await value(dsession, "deps.remove('TINYPKG-ALPHA'), deps.remove('tinypkg_alpha')") == (
        True,
        False,
    )
    assert await dsession.list_deps() == []


async def test_facade(dsession: Session) -> None:
    assert await dsession.add_dep("tinypkg_beta") == {
        "installed": ["tinypkg-beta"],
        "already_present": [],
        "failed": [],
    }
    assert await dsession.list_deps() == ["tinypkg-beta"]
    assert await dsession.sync_deps() == {
        "installed": [],
        "already_present": ["tinypkg-beta"],
        "failed": [],
    }
    assert await dsession.remove_dep("tinypkg_beta") == {
        "removed": ["tinypkg_beta"],
        "not_found": [],
        "failed": [],
        "removed_from_config": True,
    }
    with pytest.raises(ValueError):
        await dsession.add_dep("--index-url=http://x")


async def test_runtime_deps_disabled(tmp_path: Path, executor_kind: str, wheelhouse: Path) -> None:
    executor = make_executor(
        executor_kind, deps_installer=installer(wheelhouse), allow_runtime_deps=False
    )
    async with Session(storage=FileStorage(tmp_path), executor=executor) as session:
        result = await session.run("deps.add('tinypkg_alpha')")
        assert result.error is not None and result.error.startswith("RuntimeDepsDisabledError")
        assert (await session.run("deps.remove('x')")).error.startswith("RuntimeDepsDisabledError")  # type: ignore[union-attr]
        assert (await session.run("deps.list()")).value == []
        assert (await session.run("deps.sync().installed")).value == []
        assert not session.supports("deps_install")
        with pytest.raises(RuntimeDepsDisabledError):
            await session.add_dep("tinypkg_alpha")
        with pytest.raises(RuntimeError):
            await session.remove_dep("tinypkg_alpha")


async def test_sync_on_start_installs_what_is_recorded(
    tmp_path: Path, executor_kind: str, wheelhouse: Path
) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "requirements.txt").write_text("# seeded by the operator\ntinypkg_beta\n")
    executor = make_executor(executor_kind, deps_installer=installer(wheelhouse))
    async with Session(
        storage=FileStorage(base), executor=executor, sync_deps_on_start=True
    ) as session:
        assert (base / ".deps" / "tinypkg_beta").is_dir()
        assert await session.list_deps() == ["tinypkg-beta"]
        assert (await session.run("import tinypkg_beta\ntinypkg_beta.VALUE")).value == "beta"


def test_installer_refuses_unknown_extra_args() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        PackageInstaller(extra_args=["--index-url", "http://evil"])


def test_install_timeout_is_a_clear_error(tmp_path: Path, wheelhouse: Path) -> None:
    slow = PackageInstaller(
        tmp_path / "overlay", find_links=[str(wheelhouse)], no_index=True, timeout=0.01
    )
    with pytest.raises(DependencyError, match="timed out"):
        slow.install(["tinypkg_alpha"])
    assert not (tmp_path / "overlay").exists() or not list((tmp_path / "overlay").iterdir())


def test_invalid_spec_is_also_a_value_error() -> None:
    assert issubclass(InvalidSpecError, ValueError)
