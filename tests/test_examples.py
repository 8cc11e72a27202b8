"""The README quick start and the examples run unchanged, as a user would run them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(markdown: Path) -> list[str]:
    """Runnable blocks (```python); blocks marked ```python notest are illustrations."""
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.S)


def run_python(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    (quick_start,) = python_blocks(ROOT / "README.md")
    proc = run_python(quick_start, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "5.333333333333333",
        "['analyze_repo']",
        "https://github.com/python/cpython",
        "[3, 5, 8]",
        "ZeroDivisionError: division by zero",
    ]
    assert (tmp_path / "data" / "artifacts" / "scores.json").is_file()


def test_minimal_example(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "minimal" / "main.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "area: 12.57" in proc.stdout
    assert "still alive: 2.0" in proc.stdout


def test_demo_job_accumulates_runs(tmp_path: Path) -> None:
    for expected in ("stored 1 run(s)", "stored 2 run(s)"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "py_code_mode",
                "run",
                str(ROOT / "examples/minimal/job.py"),
                "--base",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert expected in proc.stdout


def test_skills_example(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "skills" / "main.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "found: ['word_stats']" in proc.stdout
    assert "report: 5 words; most frequent: 'a'" in proc.stdout
    assert "Unknown child process" not in proc.stderr


def test_tools_example() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tools" / "main.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "['celsius_to_fahrenheit', 'listing', 'text']",
        "3",
        "212.0",
        "celsius_to_fahrenheit",
        "class text:",
    ]


def test_mcp_example(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mcp" / "main.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "run_code: 45" in proc.stdout
    assert "word_count: 3" in proc.stdout


@pytest.mark.parametrize(
    ("framework", "expected"),
    [
        ("autogen", "FunctionExecutionResult(content='5', name='count_words'"),
        ("langchain", '[search_skills] [\n  {\n    "name": "count_words"'),
        ("llamaindex", "[invoke_skill] 5"),
    ],
)
def test_framework_examples_run_offline(tmp_path: Path, framework: str, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / framework / "main.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout
    assert "Done." in proc.stdout
