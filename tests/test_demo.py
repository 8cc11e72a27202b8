"""`py-code-mode demo`: the README's main job, end to end through each framework adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("framework", ["langchain", "autogen", "llamaindex", "mcp"])
def test_demo_story_through_each_framework(tmp_path: Path, framework: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"COLUMNS": "120"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "py_code_mode",
            "demo",
            "--framework",
            framework,
            "--base",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert (
        "'author': 'Grace Hopper', 'words': 15, 'slug': 'grace-hopper'" in out
    )  # CLI + HTTP + Python tools
    assert "{'longer': 'Grace Hopper', 'words': [15, 11]}" in out  # two composed skills
    row = next(line for line in out.splitlines() if line.startswith("│") and framework in line)
    assert "│ 6 " in row and "│ 0 " in row and "yes" in row
    base = tmp_path / framework
    assert {p.name for p in (base / "skills").glob("*.py")} == {
        "quote_stats.py",
        "compare_quotes.py",
    }
    assert (
        json.loads((base / "artifacts" / "comparison.json").read_text())["longer"] == "Grace Hopper"
    )


@pytest.mark.parametrize("framework", ["autogen", "mcp"])
def test_demo_shows_only_its_story_and_cleans_up(tmp_path: Path, framework: str) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {
        "COLUMNS": "120",
        "TMPDIR": str(scratch),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "py_code_mode", "demo", "--framework", framework],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""  # no httpx INFO lines, AutoGen token-count warnings, server logs
    assert "INFO" not in proc.stdout and "Token count" not in proc.stdout
    assert not list(scratch.glob("pcm-demo-*"))  # its temporary folders are gone


def test_demo_explains_a_missing_extra() -> None:
    hide = "import sys; sys.modules['langchain_core'] = None\n"
    run = "from py_code_mode.cli.main import main; sys.exit(main(['demo', '--framework', 'langchain']))"
    proc = subprocess.run(
        [sys.executable, "-c", hide + run], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 1
    assert 'pip install "py-code-mode[langchain]"' in proc.stdout  # not swallowed as markup
    assert "┏" not in proc.stdout  # no empty summary table
