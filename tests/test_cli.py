"""The ``py-code-mode run`` command, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "py_code_mode", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_run_code_prints_stdout_and_value(tmp_path: Path, executor: str) -> None:
    proc = cli(
        "run", "-c", "print('hello')\n6 * 7", "--base", str(tmp_path), "--executor", executor
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello\n42\n"


def test_run_file_and_artifacts_persist(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("artifacts.save('out.json', {'ok': True})\n'saved'")
    assert cli("run", str(script), "--base", str(tmp_path / "b")).stdout == "'saved'\n"
    proc = cli("run", "-c", "artifacts.load('out.json')", "--base", str(tmp_path / "b"))
    assert proc.stdout == "{'ok': True}\n"


def test_failing_code_exits_1_with_traceback(tmp_path: Path) -> None:
    proc = cli("run", "-c", "1/0", "--base", str(tmp_path))
    assert proc.returncode == 1
    assert "ZeroDivisionError: division by zero" in proc.stderr


def test_json_output_has_the_full_result(tmp_path: Path) -> None:
    proc = cli("run", "-", "--base", str(tmp_path), "--json", stdin="print('x')\n[1, 2]")
    payload = json.loads(proc.stdout)
    assert payload["value"] == [1, 2]
    assert payload["stdout"] == "x\n"
    assert payload["is_ok"] is True
    assert set(payload) >= {"repr", "stderr", "error", "traceback", "duration_ms"}


def test_timeout_flag(tmp_path: Path) -> None:
    proc = cli("run", "-c", "while True: pass", "--base", str(tmp_path), "--timeout", "0.5")
    assert proc.returncode == 1
    assert "timed out after 0.5 seconds" in proc.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = cli("run", str(tmp_path / "nope.py"), "--base", str(tmp_path))
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr


def test_code_and_file_are_exclusive(tmp_path: Path) -> None:
    proc = cli("run", "-c", "1", "file.py", "--base", str(tmp_path))
    assert proc.returncode == 2


def test_help_lists_run() -> None:
    proc = cli("--help")
    assert proc.returncode == 0 and "run" in proc.stdout
