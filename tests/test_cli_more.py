"""The REPL (through a pseudo-terminal) and the skills subcommands."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

DOUBLE = 'def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "py_code_mode", *args], capture_output=True, text=True, timeout=120
    )


def test_skills_subcommands_round_trip(tmp_path: Path) -> None:
    base, other, out = str(tmp_path / "a"), str(tmp_path / "b"), tmp_path / "exported"
    source = tmp_path / "double.py"
    source.write_text(DOUBLE)
    assert cli("skills", "--base", base, "add", str(source)).stdout == "added double (version 1)\n"
    assert (
        cli("skills", "--base", base, "add", str(source), "--description", "Twice").returncode == 0
    )
    assert cli("skills", "--base", base, "list").stdout == "double(x: int) -> int  — Twice\n"
    assert cli("skills", "--base", base, "search", "multiply a number").stdout.startswith(
        "double: Twice"
    )
    assert cli("skills", "--base", base, "show", "double").stdout == DOUBLE
    history = cli("skills", "--base", base, "history", "double").stdout.splitlines()
    assert history[0].startswith("  v1") and history[1].startswith("* v2")
    assert (
        "restored as version 3" in cli("skills", "--base", base, "rollback", "double", "1").stdout
    )
    assert json.loads(cli("skills", "--base", base, "export", str(out)).stdout) == {
        "exported": ["double"]
    }
    manifest = (out / "double" / "SKILL.md").read_text()
    assert manifest.startswith("---\nname: double\ndescription: Double a number.\n---")
    assert (out / "double" / "double.py").read_text() == DOUBLE
    (out / "broken").mkdir()
    (out / "broken" / "SKILL.md").write_text("no front matter")
    imported = json.loads(cli("skills", "--base", other, "import", str(out)).stdout)
    assert imported["imported"] == ["double"] and imported["problems"][0].startswith("broken:")
    assert cli("skills", "--base", other, "list").stdout.startswith("double(x: int)")
    assert cli("skills", "--base", base, "remove", "double").stdout == "removed double\n"
    missing = cli("skills", "--base", base, "remove", "double")
    assert missing.returncode == 1 and "no skill named 'double'" in missing.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("def run(:")
    refused = cli("skills", "--base", base, "add", str(bad))
    assert refused.returncode == 1 and "Syntax error" in refused.stderr


def _read_until(fd: int, marker: bytes, timeout: float = 60) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        if time.monotonic() > deadline:
            raise AssertionError(f"did not see {marker!r} in {data[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_repl_through_a_pseudo_terminal(tmp_path: Path, executor: str) -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "PY_CODE_MODE_HISTORY": str(tmp_path / "history"), "TERM": "dumb"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "py_code_mode",
            "repl",
            "--base",
            str(tmp_path / "base"),
            "--executor",
            executor,
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    try:
        _read_until(master, b">>> ")
        os.write(master, b"x = 20\n")
        _read_until(master, b">>> ")
        os.write(master, b"def f(n):\n    return n * 2\n\n")
        _read_until(master, b">>> ")
        os.write(master, b"f(x) + 2\n")
        assert b"42" in _read_until(master, b"42")
        os.write(master, b"1/0\n")
        assert b"ZeroDivisionError" in _read_until(master, b"ZeroDivisionError")
        os.write(master, b"%reset\n")
        _read_until(master, b"variables cleared")
        os.write(master, b"x\n")
        _read_until(master, b"NameError")
        os.write(master, b"%tools\n%skills\n%help\n")
        _read_until(master, b"%exit")
        os.write(master, b"%exit\n")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert "f(x) + 2" in (tmp_path / "history").read_text()
