"""What each MCP call costs the server's event loop, whatever the number of clients.

Load (bench/load.py) showed the MCP server's single event loop saturated at ~40 calls/s: after
every call it rebuilt every tool's JSON schema (pydantic) and a validator for it, to compare the
tool list with what the client last heard; then that every call listed every artifact. These
tests show the work per call at small scale, counting schema builds and listings (spies that
call through), never timing anything, and that what the server keeps between calls gives way
to writes by other clients and other processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_harness import http_client, http_server, texts

from py_code_mode.artifacts import FileArtifactStore
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


async def eventually(check: Callable[[], Any], timeout: float = 15.0) -> None:
    """Wait until ``check()`` is true (notifications travel on their own stream)."""
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.05)


def counting_listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every artifact listing, by store class (a spy that calls through)."""
    listed: list[str] = []
    original = FileArtifactStore.list

    def spy(self: FileArtifactStore) -> Any:
        listed.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(FileArtifactStore, "list", spy)
    return listed


async def test_calls_do_not_list_the_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What changed is asked of the store's change stamp: a call costs the same with one
    artifact or a thousand."""
    server = make_server(tmp_path)
    store = FileArtifactStore(tmp_path / "storage" / "artifacts")
    for i in range(50):
        store.save(f"a{i}", i)
    listed = counting_listings(monkeypatch)
    async with Client(server.server) as client:
        for i in range(3):
            made = await client.call_tool("run_code", {"code": f"artifacts.save('x', {i})"})
            assert not made.is_error, texts(made)
            assert texts(await client.call_tool("load_artifact", {"name": "x"})) == str(i)
        assert listed == []
        assert len(json.loads(texts(await client.call_tool("list_artifacts", {})))) == 51
        assert listed == ["FileArtifactStore"]  # asked for: listed
    await server.close()


async def test_artifact_changes_from_other_clients_and_processes_are_announced(
    tmp_path: Path,
) -> None:
    notes: dict[str, list[str]] = {"a": [], "b": []}

    def recorder(who: str) -> Any:
        async def on_message(message: Any) -> None:
            notes[who].append(type(message).__name__)

        return on_message

    def changed(who: str) -> int:
        return notes[who].count("ResourceListChangedNotification")

    base = tmp_path / "base"
    with http_server(base) as server:
        async with (
            http_client(server.url, message_handler=recorder("a"), mode="legacy") as a,
            http_client(server.url, message_handler=recorder("b"), mode="legacy") as b,
        ):
            await a.call_tool("run_code", {"code": "1"})
            await b.call_tool("run_code", {"code": "1"})
            assert changed("a") == changed("b") == 0
            # Another client's save: b hears of it at its next call.
            made = await a.call_tool("run_code", {"code": "artifacts.save('r', {'v': 1})"})
            assert not made.is_error, texts(made)
            await eventually(lambda: changed("a") == 1)
            await b.call_tool("run_code", {"code": "2"})
            await eventually(lambda: changed("b") == 1)
            await b.call_tool("run_code", {"code": "3"})
            await a.call_tool("run_code", {"code": "3"})
            # Another process writes into the storage: both hear of it, and read it.
            FileArtifactStore(base / "artifacts").save("r", "from elsewhere")
            assert texts(await a.call_tool("load_artifact", {"name": "r"})) == "from elsewhere"
            await eventually(lambda: changed("a") == 2)
            await b.call_tool("run_code", {"code": "4"})
            await eventually(lambda: changed("b") == 2)
            quiet = dict(notes)
            await a.call_tool("run_code", {"code": "5"})  # nothing written since: no note
            await b.call_tool("load_artifact", {"name": "r"})
            await anyio.sleep(0.5)
            assert changed("a") == quiet["a"].count("ResourceListChangedNotification") == 2
            assert changed("b") == 2


async def test_skill_tools_are_reused_until_another_process_changes_the_skill(
    tmp_path: Path, schema_builds: list[str]
) -> None:
    """The operations made from skills (a pydantic model each) are kept between the re-reads
    that follow every call, and rebuilt when the skill is saved again elsewhere."""
    server = make_server(tmp_path)
    elsewhere = create_storage(tmp_path / "storage").get_skill_library()  # another process's
    notes: list[str] = []

    async def on_message(message: Any) -> None:
        notes.append(type(message).__name__)

    async with Client(server.server, message_handler=on_message, mode="legacy") as client:
        await client.call_tool("run_code", {"code": "1"})
        elsewhere.create("triple", "def run(n: int) -> int:\n    return 3 * n\n")

        async def offered_after_a_call(name: str) -> bool:
            await client.call_tool("run_code", {"code": "1"})
            return name in server.offered

        with anyio.fail_after(15):
            while not await offered_after_a_call("triple"):
                await anyio.sleep(0.1)
        await eventually(lambda: "ToolListChangedNotification" in notes)
        op = server.offered["triple"]
        schema_builds.clear()
        for _ in range(3):
            await client.call_tool("run_code", {"code": "1"})
        assert server.offered["triple"] is op and schema_builds == []
        assert texts(await client.call_tool("triple", {"n": 2})) == "6"

        elsewhere.create(
            "triple", "def run(n: int, times: int = 3) -> int:\n    return times * n\n"
        )
        with anyio.fail_after(15):
            while server.offered["triple"] is op:
                await client.call_tool("run_code", {"code": "1"})
                await anyio.sleep(0.1)
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools["triple"].input_schema["properties"]) == {"n", "times"}
        assert texts(await client.call_tool("triple", {"n": 2, "times": 5})) == "10"
        assert notes.count("ToolListChangedNotification") >= 2
    await server.close()
