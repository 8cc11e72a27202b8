"""The MCP server, run as a real subprocess and driven by the real `mcp` client."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters

PY = sys.executable
DOUBLE = "def run(x: int) -> int:\n    '''Double a number.'''\n    return 2 * x\n"


def stdio(base: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=PY, args=["-m", "py_code_mode.cli.mcp_server", "--base", str(base), *extra]
    )


def texts(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def test_stdio_tools_state_skills_and_resources(tmp_path: Path) -> None:
    notes: list[str] = []

    async def on_message(message: Any) -> None:
        notes.append(type(message).__name__)

    async with Client(
        stdio(tmp_path, "--timeout", "5"), message_handler=on_message, mode="legacy"
    ) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        for reference_tool in (
            "run_code",
            "list_tools",
            "search_tools",
            "list_skills",
            "search_skills",
            "create_skill",
            "delete_skill",
            "list_artifacts",
            "list_deps",
            "add_dep",
            "remove_dep",
        ):
            assert reference_tool in names
        assert texts(await client.call_tool("run_code", {"code": "x = 40"})) == "(no output)"
        assert (
            texts(await client.call_tool("run_code", {"code": "print('hi')\nx + 2"}))
            == "42\n\nStdout:\nhi\n"
        )

        created = await client.call_tool(
            "create_skill", {"name": "double", "source": DOUBLE, "description": ""}
        )
        assert not created.is_error
        assert "ToolListChangedNotification" in notes
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["double"].input_schema["properties"] == {"x": {"type": "integer"}}
        assert texts(await client.call_tool("double", {"x": 21})) == "42"
        assert (
            texts(await client.call_tool("invoke_skill", {"name": "double", "arguments": {"x": 2}}))
            == "4"
        )
        found = texts(await client.call_tool("search_skills", {"query": "multiply by two"}))
        assert '"name": "double"' in found
        resource = await client.read_resource("skill://double")
        assert resource.contents[0].text == DOUBLE

        bad = await client.call_tool("run_code", {"code": "1/0"})
        assert bad.is_error and "ZeroDivisionError: division by zero" in texts(bad)


async def test_hostile_calls_leave_the_server_serving(tmp_path: Path) -> None:
    async with Client(stdio(tmp_path, "--timeout", "1")) as client:
        await client.call_tool("run_code", {"code": "kept = 1"})
        looped = await client.call_tool("run_code", {"code": "while True:\n    pass"})
        assert looped.is_error and "timed out after 1.0 seconds" in texts(looped)
        died = await client.call_tool("run_code", {"code": "import os\nos._exit(3)"})
        assert died.is_error and "worker process died" in texts(died)
        bomb = await client.call_tool("run_code", {"code": "x = bytearray(8 * 1024 ** 3)"})
        assert bomb.is_error and "MemoryError" in texts(bomb)
        assert texts(await client.call_tool("run_code", {"code": "2 + 2"})) == "4"


async def test_invalid_arguments_are_an_error_result(tmp_path: Path) -> None:
    async with Client(stdio(tmp_path)) as client:
        result = await client.call_tool(
            "create_skill", {"name": "bad name", "source": DOUBLE, "description": ""}
        )
        assert result.is_error and "identifier" in texts(result)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "py_code_mode",
            "mcp",
            "--base",
            str(tmp_path),
            "--http",
            "--port",
            str(port),
            "--token",
            "t0ken",
        ],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_http_requires_the_token(http_server: str) -> None:
    async with httpx.AsyncClient() as http:
        refused = await http.post(
            http_server, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        )
        assert refused.status_code == 401
        wrong = await http.post(http_server, json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401


async def test_http_client_with_token(http_server: str) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    transport = streamable_http_client(
        http_server,
        http_client=httpx2.AsyncClient(headers={"Authorization": "Bearer t0ken"}, timeout=30),
    )
    async with Client(transport) as client:
        assert "run_code" in [t.name for t in (await client.list_tools()).tools]
        assert texts(await client.call_tool("run_code", {"code": "6 * 7"})) == "42"


def test_refuses_public_host_without_token(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PY, "-m", "py_code_mode", "mcp", "--base", str(tmp_path), "--http", "--no-token",
         "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "without a token" in proc.stderr
