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
                assert lang in ("python", "python notest", "python framework"), (
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


# A framework snippet runs exactly as written, top-level ``await`` included, with scripted
# stand-ins for the model objects it names (tests/doc_models.py).
_FRAMEWORK_RUNNER = """
import ast, asyncio, sys
sys.path.insert(0, {tests!r})
import doc_models
namespace = {{"__name__": "__main__", "model_client": doc_models.model_client,
             "llm": doc_models.llm, "chat_model": doc_models.chat_model}}
code = compile(sys.stdin.read(), "<doc>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, namespace)
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""
FRAMEWORK_BLOCKS = [
    (doc.name, n, block)
    for doc in [*DOCS, ROOT / "README.md"]
    for n, block in enumerate(re.findall(r"```python framework\n(.*?)```", doc.read_text(), re.S))
]


@pytest.mark.parametrize(
    "block", [b[2] for b in FRAMEWORK_BLOCKS], ids=[f"{d}-{n}" for d, n, _ in FRAMEWORK_BLOCKS]
)
def test_framework_snippets_run_as_documented(block: str, tmp_path: Path) -> None:
    runner = _FRAMEWORK_RUNNER.format(tests=str(ROOT / "tests"))
    proc = subprocess.run(
        [sys.executable, "-c", runner],
        input=block,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"{block}\n{proc.stderr}"
    assert "42" in proc.stdout, f"{block}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-2000:]}"
