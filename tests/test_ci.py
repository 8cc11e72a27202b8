"""CI cannot pass by skipping: `make test`, `.ci/run` and the prerequisite checks of the tests.

`make test` and `.ci/run` are run for real; the commands around them that would install
packages, start daemons or run the suite again are stand-ins that record how they were called.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

RECORDER = """#!/bin/sh
echo "$(basename "$0") $* REQUIRE=${PY_CODE_MODE_REQUIRE:-}" >> "$CALLS"
"""


def recorder(path: Path, body: str = "exit 0\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RECORDER + body)
    path.chmod(0o755)


# --- make test ------------------------------------------------------------------------------------


def test_make_test_fails_when_no_tests_are_collected(tmp_path: Path) -> None:
    # A virtualenv whose python runs the real pytest (selecting nothing) and whose other
    # commands (linters) succeed: only pytest's "no tests collected" can decide the exit code.
    venv = tmp_path / "venv"
    recorder(
        venv / "bin" / "python",
        f'if [ "$1 $2" = "-m pytest" ]; then shift 2; exec {sys.executable} -m pytest "$@"; fi\n',
    )
    recipe = (ROOT / "Makefile").read_text()
    for name in set(re.findall(r"\$\(VENV\)/bin/([\w.-]+)", recipe)) - {"python"}:
        recorder(venv / "bin" / name)
    (venv / ".installed").touch()  # newer than pyproject.toml: `install` has nothing to do
    env = {
        **os.environ,
        "CALLS": str(tmp_path / "calls"),
        "PYTEST_ADDOPTS": "-p no:cacheprovider -k no_test_is_named_like_this",
    }
    proc = subprocess.run(
        ["make", "-C", str(ROOT), "test", f"VENV={venv}", f"PY={venv / 'bin' / 'python'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "-m pytest" in (tmp_path / "calls").read_text()
    assert proc.returncode != 0, proc.stdout + proc.stderr


# --- .ci/run --------------------------------------------------------------------------------------


def ci_run(tmp_path: Path, *, build_rc: int) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run a copy of .ci/run with every command it calls recorded (the image build exits
    ``build_rc``); returns the process and the calls, one a line."""
    repo, fakes = tmp_path / "repo", tmp_path / "bin"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    for name in ("python3", "make", "apt-get", "docker", "dockerd", "redis-server", "bwrap",
                 "debootstrap"):  # fmt: skip
        recorder(fakes / name)
    recorder(repo / ".venv" / "bin" / "python")
    recorder(
        repo / ".venv" / "bin" / "py-code-mode",
        f'case "$*" in *build*) exit {build_rc};; esac\n',
    )
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        "PATH": f"{fakes}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "CALLS": str(calls),
        "HOME": str(tmp_path),
    }
    proc = subprocess.run(
        ["bash", str(repo / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60
    )
    return proc, calls.read_text()


def test_ci_run_fails_when_the_image_build_fails(tmp_path: Path) -> None:
    proc, calls = ci_run(tmp_path, build_rc=1)
    assert proc.returncode != 0, calls
    assert "make test" not in calls


def test_ci_run_requires_the_prerequisites_it_installs_and_checks_the_wheel(
    tmp_path: Path,
) -> None:
    proc, calls = ci_run(tmp_path, build_rc=0)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (make_test,) = [line for line in calls.splitlines() if line.startswith("make test")]
    required = set(make_test.split("REQUIRE=")[1].split(","))
    assert required == {"redis", "sandbox", "docker"}
    assert any(line.startswith("python .ci/wheel-check") for line in calls.splitlines()), calls


# --- require(): a skip on a laptop, a failure where the prerequisite is required ------------------

NEEDS_REDIS = """
import sys
sys.path.insert(0, {tests!r})
from conftest import require

def test_needs_redis():
    require("redis")
"""


def run_needing_redis(tmp_path: Path, required: str) -> subprocess.CompletedProcess[str]:
    """A test that needs redis-server, run where none is on PATH."""
    (tmp_path / "test_needs.py").write_text(NEEDS_REDIS.format(tests=str(TESTS)))
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "PY_CODE_MODE_REQUIRE": required}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_needs.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_missing_prerequisite_skips_where_not_required(tmp_path: Path) -> None:
    proc = run_needing_redis(tmp_path, "")
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout and "redis-server is not installed" in proc.stdout


def test_a_missing_prerequisite_fails_where_required(tmp_path: Path) -> None:
    proc = run_needing_redis(tmp_path, "sandbox,redis")
    assert proc.returncode == 1, proc.stdout
    assert "1 failed" in proc.stdout
    assert "redis is required (PY_CODE_MODE_REQUIRE) but unavailable" in proc.stdout


def test_an_unknown_required_capability_is_refused(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    env = {**os.environ, "PY_CODE_MODE_REQUIRE": "redis,dokcer"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "unknown capabilities ['dokcer']" in proc.stderr
