"""The docs build (mkdocs --strict), and every runnable code block in them runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_python_block_is_runnable_or_marked() -> None:
    for doc in [*DOCS, ROOT / "README.md"]:
        for lang in re.findall(r"```(\w[^\n]*)\n", doc.read_text()):
            if lang.startswith("python"):
                assert lang in ("python", "python notest"), (
                    f"{doc.name}: unknown block tag {lang!r}"
                )


@pytest.mark.parametrize(
    "doc", [d for d in DOCS if "```python\n" in d.read_text()], ids=lambda d: d.name
)
def test_runnable_doc_blocks(doc: Path, tmp_path: Path) -> None:
    for block in re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S):
        proc = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, f"{doc.name}:\n{block}\n{proc.stderr}"
