"""`py-code-mode container build` from a pip install: the wheel ships the build files under
py_code_mode (never a top-level ``docker/``, docker-py's install folder), and the build context
is assembled from an installed, non-editable layout: the image's wheel is the installed
distribution re-packed. No Docker needed here (.ci/wheel-check builds and runs the image)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from py_code_mode.execution.container import build_context, source_digest, source_root

BUILD_FILES = {
    "py_code_mode/execution/container/build/Dockerfile",
    "py_code_mode/execution/container/build/build-base.sh",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built as `container build` builds it from a checkout."""
    assert source_root() is not None  # the tests run from the checkout
    from py_code_mode.execution.container.image import package_wheel

    return package_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed (not editable) in a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    return target


def run_installed(site: Path, code: str, cwd: Path) -> dict:  # type: ignore[type-arg]
    """Run ``code`` with the package imported from ``site``; it prints one JSON object."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_wheel_ships_the_build_files_under_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert set(names) >= BUILD_FILES
    assert not [n for n in names if n.split("/")[0] not in ("py_code_mode", _dist_info(names))]
    assert not [n for n in names if n.startswith("docker/")]


def _dist_info(names: list[str]) -> str:
    return next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))


ASSEMBLE = """
import json, sys, zipfile
from pathlib import Path
import py_code_mode
from py_code_mode.execution.container import build_context, source_digest, source_root
context = Path(sys.argv[1] if len(sys.argv) > 1 else "context")
context.mkdir()
wheel = build_context(context)
print(json.dumps({
    "package": py_code_mode.__file__,
    "root": None if source_root() is None else str(source_root()),
    "wheel": str(wheel.resolve()),
    "dockerfile": (context / "Dockerfile").read_text(),
    "worker": (context / "core" / "worker" / "__main__.py").is_file(),
    "digest": source_digest(),
}))
"""


def test_context_from_an_installed_layout(wheel: Path, installed: Path, tmp_path: Path) -> None:
    out = run_installed(installed, ASSEMBLE, tmp_path)
    assert Path(out["package"]).is_relative_to(installed)
    assert out["root"] is None  # no checkout: the installed distribution is the source
    shipped = installed / "py_code_mode/execution/container/build/Dockerfile"
    assert out["dockerfile"] == shipped.read_text()
    assert out["worker"]
    # The image's wheel is the installed distribution re-packed: the same version, the same
    # files with the same bytes (RECORD is written anew; console scripts are the installer's).
    repacked = Path(out["wheel"])
    assert repacked.name == wheel.name
    with zipfile.ZipFile(wheel) as old, zipfile.ZipFile(repacked) as new:
        record = f"{_dist_info(old.namelist())}/RECORD"
        assert sorted(new.namelist()) == sorted(old.namelist())
        for name in old.namelist():
            if name != record:
                assert new.read(name) == old.read(name), name
    # ... and it installs, with pip checking its RECORD.
    again = tmp_path / "again"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(again), str(repacked)],
        check=True, timeout=300,
    )  # fmt: skip
    version = run_installed(
        again,
        "import json, py_code_mode, importlib.metadata as m\n"
        "print(json.dumps([py_code_mode.__file__, m.version('py-code-mode')]))",
        tmp_path,
    )
    assert Path(version[0]).is_relative_to(again)
    assert version[1] == repacked.name.split("-")[1]


def test_digest_of_an_installed_layout_follows_its_files(installed: Path, tmp_path: Path) -> None:
    code = (
        "import json; from py_code_mode.execution.container import source_digest; "
        "print(json.dumps(source_digest()))"
    )
    first = run_installed(installed, code, tmp_path)
    assert run_installed(installed, code, tmp_path) == first
    module = installed / "py_code_mode" / "execution" / "container" / "build" / "Dockerfile"
    module.write_text(module.read_text() + "# changed\n")
    assert run_installed(installed, code, tmp_path) != first


def test_context_from_the_checkout(tmp_path: Path) -> None:
    root = source_root()
    assert root is not None
    wheel = build_context(tmp_path)
    assert (tmp_path / "Dockerfile").read_bytes() == (
        root / "core/execution/container/build/Dockerfile"
    ).read_bytes()
    assert set(zipfile.ZipFile(wheel).namelist()) >= BUILD_FILES
    assert source_digest() == source_digest(root)
