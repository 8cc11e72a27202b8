"""MCP servers (stdio and streamable HTTP, a real server written with the `mcp` package) and
HTTP APIs (served locally) as tools, under both executors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import error, make_executor, value
from py_code_mode import FileStorage, Session

SERVER = Path(__file__).parent / "servers" / "mcp_server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mcp_http_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.kill()
    proc.wait(timeout=10)


class _Api(BaseHTTPRequestHandler):
    def _send(self, status: int, payload: object, content_type: str = "application/json") -> None:
        data = (
            json.dumps(payload) if content_type == "application/json" else str(payload)
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        from urllib.parse import parse_qs, urlparse

        url = urlparse(self.path)
        if url.path.startswith("/repos/"):
            _, _, owner, repo = url.path.split("/")
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            self._send(
                200,
                {
                    "owner": owner,
                    "repo": repo,
                    "query": query,
                    "auth": self.headers.get("Authorization"),
                },
            )
        elif url.path == "/text":
            self._send(200, "plain words", "text/plain")
        elif url.path == "/slow":
            RELEASE_SLOW.wait(timeout=60)  # answers only after the client has given up
            self._send(200, {})
        else:
            self._send(404, {"message": "no such thing " + "x" * 5000})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._send(201, {"created": body})

    def log_message(self, *args: object) -> None:
        pass


#: Set when the module's tests are done: /slow never answers while a client waits for it.
RELEASE_SLOW = threading.Event()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out on /slow closed its socket: nothing to report


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    RELEASE_SLOW.set()
    server.shutdown()


@pytest.fixture
async def rsession(
    tmp_path: Path,
    executor_kind: str,
    mcp_http_url: str,
    api_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Session]:
    monkeypatch.setenv("TEST_API_TOKEN", "s3cret")
    monkeypatch.setenv("SERVER_SECRET", "from-host-env")
    tools = tmp_path / "base" / "tools"
    tools.mkdir(parents=True)
    (tools / "calc.yaml").write_text(
        f"name: calc\ntype: mcp\ntransport: stdio\ncommand: {sys.executable}\nargs: [{SERVER}]\n"
        "env: {PASSED: '${SERVER_SECRET}'}\ntimeout: 2\n"
    )
    (tools / "remote.yaml").write_text(
        f"name: remote\ntype: mcp\ntransport: http\nurl: {mcp_http_url}\ntimeout: 5\n"
    )
    (tools / "dead.yaml").write_text(
        "name: dead\ntype: mcp\ncommand: /nonexistent/server\ntimeout: 2\n"
    )
    (tools / "api.yaml").write_text(
        f"""
name: api
type: http
description: A code hosting API
base_url: {api_url}
headers:
  Authorization: "Bearer ${{TEST_API_TOKEN}}"
timeout: 1
endpoints:
  get_repo:
    path: /repos/{{owner}}/{{repo}}
    description: Get a repository
    query: [per_page]
  create_issue:
    method: post
    path: /issues
    body: [title]
  text:
    path: /text
  slow:
    path: /slow
  missing:
    path: /missing
"""
    )
    async with Session(
        storage=FileStorage(tmp_path / "base"), executor=make_executor(executor_kind)
    ) as session:
        yield session


async def test_mcp_stdio_tools_are_namespaced(rsession: Session) -> None:
    assert await value(rsession, "tools.calc.add(a=2, b=3)") == 5
    assert await value(rsession, "tools.calc.greet(name='ada')") == "Hello, ada!"
    names = await value(rsession, "[c.name for c in tools.calc.list()]")
    assert {"add", "greet", "stats", "fail", "hang", "die", "env"} <= set(names)  # type: ignore[arg-type]
    assert await value(rsession, "tools.calc.env(name='PASSED')") == "from-host-env"


async def test_mcp_over_streamable_http(rsession: Session) -> None:
    assert await value(rsession, "tools.remote.add(a=20, b=22)") == 42
    assert await value(rsession, "await tools.remote.greet.call_async(name='bo')") == "Hello, bo!"


async def test_mcp_errors_timeouts_and_a_crash(rsession: Session) -> None:
    assert (await error(rsession, "tools.calc.fail(message='nope')")).startswith(
        "ToolCallError: Tool 'calc' failed"
    )
    assert (
        await error(rsession, "tools.calc.hang(seconds=30)")
        == "ToolTimeoutError: Tool 'calc.hang' timed out after 2.0s"
    )
    assert await value(rsession, "tools.calc.add(a=1, b=1)") == 2  # the session goes on
    assert "closed the connection" in await error(rsession, "tools.calc.die()")
    assert await value(rsession, "tools.calc.add(a=5, b=5)") == 10  # reconnected
    assert (await error(rsession, "tools.calc.nosuch()")).startswith(
        "ToolNotFoundError: Tool 'calc.nosuch'"
    )


async def test_dead_mcp_server_is_reported_and_the_rest_loads(rsession: Session) -> None:
    errors = rsession.executor.registry.load_errors  # type: ignore[union-attr]
    assert any(e.startswith("dead.yaml:") for e in errors)
    message = await error(rsession, "tools.dead.anything()")
    assert message.startswith("ToolCallError: Tool 'dead' failed: cannot connect")
    assert await value(rsession, "tools.calc.add(a=1, b=2)") == 3


async def test_http_endpoints(rsession: Session) -> None:
    repo = await value(
        rsession,
        "tools.api.get_repo(owner='octo', repo='hello', per_page=5, query_params={'page': 2})",
    )
    assert repo == {
        "owner": "octo",
        "repo": "hello",
        "query": {"per_page": "5", "page": "2"},
        "auth": "Bearer s3cret",
    }
    created = await value(rsession, "tools.api.create_issue(title='Bug', labels=['x'])")
    assert created == {"created": {"title": "Bug", "labels": ["x"]}}
    assert await value(rsession, "tools.api.text()") == "plain words"


async def test_http_errors(rsession: Session) -> None:
    missing = await error(rsession, "tools.api.missing()")
    assert missing.startswith("ToolCallError: Tool 'api' failed: HTTP 404 from GET /missing:")
    assert "more characters]" in missing and len(missing) < 2300
    assert (
        await error(rsession, "tools.api.slow()")
        == "ToolTimeoutError: Tool 'api.slow' timed out after 1.0s"
    )
    assert "missing path parameter 'repo'" in await error(rsession, "tools.api.get_repo(owner='x')")


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "repos", "version": "1"},
    "paths": {
        "/repos/{owner}/{repo}": {
            "parameters": [
                {"name": "owner", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "operationId": "getRepo",
                "summary": "Get a repository",
                "parameters": [
                    {"$ref": "#/components/parameters/Repo"},
                    {"name": "per_page", "in": "query", "schema": {"type": "integer"}},
                ],
            },
        },
        "/issues": {
            "post": {
                "operationId": "createIssue",
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Issue"}}
                    }
                },
            }
        },
        "/text": {"get": {"operationId": "getText"}},
    },
    "components": {
        "parameters": {
            "Repo": {"name": "repo", "in": "path", "required": True, "schema": {"type": "string"}}
        },
        "schemas": {
            "Issue": {
                "type": "object",
                "required": ["title"],
                "properties": {"title": {"type": "string"}},
            }
        },
    },
}


async def test_http_tool_from_an_openapi_document(tmp_path: Path, api_url: str) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "spec.json").write_text(json.dumps(OPENAPI))
    (tools / "gh.yaml").write_text(
        f"name: gh\ntype: http\nbase_url: {api_url}\nopenapi: spec.json\noperations: [getRepo, createIssue]\n"
    )
    async with Session(storage=FileStorage(tmp_path)) as session:
        listed = {c["name"]: c for c in (await session.list_tools())[0]["callables"]}
        assert set(listed) == {"getRepo", "createIssue"}
        assert [p["name"] for p in listed["getRepo"]["parameters"]] == ["owner", "repo", "per_page"]
        result = await session.run("tools.gh.getRepo(owner='o', repo='r', per_page=2)")
        assert result.value["query"] == {"per_page": "2"}, result.error
        created = await session.run("tools.gh.createIssue(title='t')")
        assert created.value == {"created": {"title": "t"}}
