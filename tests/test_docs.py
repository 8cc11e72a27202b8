"""The docs build (mkdocs --strict), and every code block in README.md and docs/ runs as written.

Conventions for a fenced block's info string, ``<language> [tag][: reason]``:

- ``python``: runs as a script; ``python session``: agent code, run by ``Session.run`` (the
  namespaces are there); ``python framework``: a framework snippet run with scripted models
  (tests/doc_models.py).
- ``bash``: runs with bash (``-euo pipefail``), the venv's ``bin`` first on ``PATH``.
- ``<language> notest: <reason>`` is not run, and says why (a server, the network, a clone).
- ``yaml``: a tool file, loaded with the real ``ToolRegistry``; ``json``: parses.
- ``text``: right after a runnable block (at most one line such as "It prints:" between), the
  exact output the block prints; it is compared.

Every block runs in a scratch folder of its own (``HOME`` too), so the docs never depend on the
source tree. The tags after the language are dropped for the site by ``mkdocs_hooks.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor
from py_code_mode.execution import InProcessConfig, SubprocessConfig
from py_code_mode.tools.registry import ToolRegistry

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
KNOWN = {
    "python": {"", "notest", "framework", "session"},
    "bash": {"", "notest"},
    "yaml": {""},
    "json": {""},
    "text": {""},
    "": {""},
}
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
_INFO = re.compile(r"(?P<lang>[\w+-]*)(?:[ \t]+(?P<tag>\w+))?(?:[ \t]*:[ \t]*(?P<reason>.*))?$")
# Between a block and its output: blank lines and at most one line of prose ending with ":".
_OUTPUT_GAP = re.compile(r"\s*(?:[^\n`]*:\s*)?")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    tag: str
    reason: str
    code: str
    output: str | None  # the ```text block that follows, when there is one

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def doc_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, each with the output block that follows it."""
    text = path.read_text(encoding="utf-8")
    blocks: list[Block] = []
    previous_end, previous_runnable = 0, False
    fences = list(_FENCE.finditer(text))
    # Every ``` line opens or closes a block (an info string with a backtick opens nothing).
    assert 2 * len(fences) == len(re.findall(r"^```", text, re.M)), f"{path.name}: unpaired ```"
    for match in fences:
        info = _INFO.match(match.group(1).strip())
        assert info is not None, f"{path.name}: unreadable fence info {match.group(1)!r}"
        lang, tag, reason = info["lang"], info["tag"] or "", (info["reason"] or "").strip()
        gap = text[previous_end : match.start()]
        if lang == "text" and previous_runnable and _OUTPUT_GAP.fullmatch(gap):
            blocks[-1] = Block(**{**blocks[-1].__dict__, "output": match.group(2)})
            previous_end, previous_runnable = match.end(), False
            continue
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(path.name, line, lang, tag, reason, match.group(2), None))
        previous_end = match.end()
        previous_runnable = lang in ("python", "bash") and tag != "notest"
    return blocks


ALL_BLOCKS = [block for doc in DOCS for block in doc_blocks(doc)]


def of(lang: str, tag: str = "") -> list[Block]:
    return [b for b in ALL_BLOCKS if b.lang == lang and b.tag == tag]


def params(blocks: list[Block]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("block", blocks, ids=[b.id for b in blocks])


def check_output(block: Block, proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"{block.id}:\n{block.code}\n{proc.stdout}\n{proc.stderr}"
    if block.output is not None:
        assert proc.stdout.rstrip("\n").splitlines() == block.output.rstrip("\n").splitlines(), (
            f"{block.id} printed:\n{proc.stdout}\nthe doc shows:\n{block.output}\n{proc.stderr}"
        )


def scratch_env(home: Path) -> dict[str, str]:
    """The caller's environment with this venv first on PATH and a scratch HOME."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    return env


# --- the site --------------------------------------------------------------------------------------


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A tagged fence (```python notest) must render as a code block, not as inline text.
    langs = "|".join(lang for lang in KNOWN if lang)
    for page in site.rglob("*.html"):
        broken = re.findall(rf"<p><code>(?:{langs})(?: \w+)?(?::[^\n<]*)?\n", page.read_text())
        assert not broken, f"{page.relative_to(site)}: fences rendered as text: {broken}"


def test_every_block_has_a_known_tag() -> None:
    for block in ALL_BLOCKS:
        assert block.tag in KNOWN.get(block.lang, set()), (
            f"{block.id}: unknown block {block.lang!r} {block.tag!r}"
        )
        if block.tag == "notest":
            assert block.reason, f"{block.id}: a `notest` block says why (```bash notest: ...)"


def test_make_targets_are_offered_only_from_a_clone() -> None:
    # pip users have no Makefile: a paragraph naming a make target says it is for a clone.
    for doc in DOCS:
        for chunk in re.split(r"\n[ \t]*\n", doc.read_text()):
            if re.search(r"\bmake (demo|test|bench|install|lint)\b", chunk):
                assert re.search(r"\b(clone|checkout)\b", chunk), f"{doc.name}: {chunk}"


# --- Python -----------------------------------------------------------------------------------------


@params(of("python"))
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", block.code],
        cwd=tmp_path,
        env=scratch_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    check_output(block, proc)


@params(of("python", "session"))
async def test_session_block_runs(block: Block, tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path / "base")) as session:
        result = await session.run(block.code)
    assert result.is_ok, f"{block.id}:\n{block.code}\n{result.traceback or result.error}"
    if block.output is not None:
        assert result.stdout.rstrip("\n") == block.output.rstrip("\n"), result.stdout


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


@params(of("python", "framework"))
def test_framework_snippets_run_as_documented(block: Block, tmp_path: Path) -> None:
    runner = _FRAMEWORK_RUNNER.format(tests=str(ROOT / "tests"))
    proc = subprocess.run(
        [sys.executable, "-c", runner],
        input=block.code,
        cwd=tmp_path,
        env=scratch_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    check_output(block, proc)
    assert "42" in proc.stdout, (
        f"{block.code}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-2000:]}"
    )


# --- shell ------------------------------------------------------------------------------------------


@params(of("bash"))
def test_shell_block_runs(block: Block, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        cwd=tmp_path,
        env=scratch_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    check_output(block, proc)


# --- YAML tool files and JSON -----------------------------------------------------------------------


@params(of("yaml"))
async def test_yaml_block_loads_as_a_tool(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing may start: the variables the file names are unset and PATH is empty, so an MCP
    # server it names can only fail to connect (a server the docs name is not running here).
    for variable in re.findall(r"\$\{(\w+)\}", block.code):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    file = tmp_path / "tool.yaml"
    file.write_text(block.code)
    registry = ToolRegistry()
    try:
        await registry.load_dir(tmp_path)
        name = re.search(r"^name:\s*(\w+)", block.code, re.M)
        assert name is not None, f"{block.id}: a tool file names its tool"
        assert name.group(1) in registry.names(), f"{block.id}: {registry.load_errors}"
        problems = [e for e in registry.load_errors if "cannot connect to the MCP server" not in e]
        assert not problems, f"{block.id}: {problems}"
    finally:
        await registry.close()


@params(of("json"))
def test_json_block_parses(block: Block) -> None:
    json.loads(block.code)


# --- docs/tools.md: the main CLI tool example works as written ---------------------------------------


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps(
            {"path": self.path, "auth": self.headers.get("Authorization"),
             "accept": self.headers.get("Accept")}
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


async def test_tools_md_curl_example_runs(tmp_path: Path, local_url: str) -> None:
    (curl,) = [b for b in doc_blocks(ROOT / "docs" / "tools.md") if "name: curl" in b.code]
    (tmp_path / "curl.yaml").write_text(curl.code)
    registry = await ToolRegistry.from_dir(tmp_path)
    try:
        assert registry.load_errors == []
        got = json.loads(await registry.call_tool("curl", "get", {"url": f"{local_url}/a"}))
        assert got["path"] == "/a"
        raw = await registry.call_tool(
            "curl",
            None,
            {"url": f"{local_url}/b", "silent": True, "max_time": 5, "user": "alice:secret",
             "header": ["Accept: text/plain"]},
        )  # fmt: skip
        got = json.loads(raw)
        assert got["auth"] == "Basic YWxpY2U6c2VjcmV0" and got["accept"] == "text/plain"
    finally:
        await registry.close()


# --- what the docs claim about results --------------------------------------------------------------


def executor(kind: str, **options: object) -> InProcessExecutor | SubprocessExecutor:
    if kind == "inprocess":
        return InProcessExecutor(config=InProcessConfig(**options))  # type: ignore[arg-type]
    return SubprocessExecutor(SubprocessConfig(**options))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_the_documented_truncation_marker_is_the_one_given(tmp_path: Path, kind: str) -> None:
    doc = (ROOT / "docs" / "session-api.md").read_text()
    marker = re.search(r"`\[output truncated: N more (\w+)\]`", doc)
    assert marker is not None, "session-api.md shows the truncation marker"
    async with Session(
        storage=FileStorage(tmp_path), executor=executor(kind, output_limit=100)
    ) as session:
        result = await session.run("print('x' * 300, end='')")
    assert result.stdout == "x" * 100 + f"\n... [output truncated: 200 more {marker[1]}]\n"


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_artifacts_md_says_what_other_objects_become(tmp_path: Path, kind: str) -> None:
    doc = (ROOT / "docs" / "artifacts.md").read_text()
    async with Session(storage=FileStorage(tmp_path), executor=executor(kind)) as session:
        result = await session.run(
            "import datetime\nartifacts.save('day', datetime.date(2024, 5, 1))\nartifacts.load('day')"
        )
    if kind == "inprocess":
        assert "| anything else | `str(data)` as text | `str` |" in doc
        assert result.value == "2024-05-01"
    else:
        assert "`Unencodable: date has no wire form`" in doc
        assert result.error == "Unencodable: date has no wire form"
