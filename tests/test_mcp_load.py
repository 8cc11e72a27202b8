"""What each MCP call costs the server's event loop, whatever the number of clients.

Load (bench/load.py) showed the MCP server's single event loop saturated at ~40 calls/s: after
every call it rebuilt every tool's JSON schema (pydantic) and a validator for it, to compare the
tool list with what the client last heard. These tests show the work per call at small scale,
counting schema builds (a spy that calls through), never timing anything."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_harness import texts

from py_code_mode.catalog import Operation
from py_code_mode.factory import create_session, create_storage
from py_code_mode.integrations.mcp_server import CodeModeMCPServer


def make_server(base: Path, **options: Any) -> CodeModeMCPServer:
    storage_root = base / "storage"

    def factory() -> Any:
        return create_session(storage=create_storage(storage_root), executor="subprocess")

    return CodeModeMCPServer(factory, **options)


@pytest.fixture
def schema_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the operations whose input schema was built, in order (calls through)."""
    built: list[str] = []
    original = Operation.input_schema

    def spy(self: Operation) -> dict[str, Any]:
        built.append(self.name)
        return original(self)

    monkeypatch.setattr(Operation, "input_schema", spy)
    return built


async def test_calls_do_not_rebuild_tool_schemas_until_the_tools_change(
    tmp_path: Path, schema_builds: list[str]
) -> None:
    server = make_server(tmp_path)
    async with Client(server.server) as client:
        await client.call_tool("run_code", {"code": "x = 1"})
        await client.list_tools()
        schema_builds.clear()
        for i in range(5):
            result = await client.call_tool("run_code", {"code": f"x += {i}\nx"})
            assert not result.is_error, texts(result)
        await client.list_tools()
        assert schema_builds == []  # nothing changed: nothing rebuilt
        # A new skill is a new tool: only its schema is built, and clients see it.
        made = await client.call_tool(
            "create_skill",
            {"name": "double", "source": "def run(n: int) -> int:\n    return 2 * n\n"},
        )
        assert not made.is_error, texts(made)
        assert set(schema_builds) == {"double"}
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["double"].input_schema["properties"]["n"]["type"] == "integer"
        assert texts(await client.call_tool("double", {"n": 21})) == "42"
        refused = await client.call_tool("double", {"n": "x"})
        assert refused.is_error and "invalid arguments for double" in texts(refused)
        schema_builds.clear()
        for _ in range(3):  # the skill's tool too is built once, not at every re-read
            await client.call_tool("run_code", {"code": "x"})
        assert schema_builds == []
    await server.close()


async def test_concurrent_calls_share_the_skill_rereads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten calls finishing together re-read the skills a few times, not ten times one after
    the other (every call still waits for a re-read that began after it)."""
    from py_code_mode.integrations import mcp_server

    server = make_server(tmp_path)
    rereads = 0
    original = mcp_server.offered_operations

    def counting(*args: Any, **kwargs: Any) -> list[Operation]:
        nonlocal rereads
        rereads += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(mcp_server, "offered_operations", counting)
    async with Client(server.server) as client:
        await client.call_tool("run_code", {"code": "1"})
        rereads = 0
        results = await asyncio.gather(*(client.call_tool("list_artifacts", {}) for _ in range(10)))
        assert not any(r.is_error for r in results)
        # Every call is answered after a re-read that began after it; they share them.
        assert 1 <= rereads < 10
    await server.close()
