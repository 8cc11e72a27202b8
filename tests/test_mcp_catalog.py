"""What the MCP server offers: tool annotations, read-only serving, artifacts as resources with
their media type and change notifications, and results that name artifacts without host
paths. Driven by the real `mcp` client against the server run as a subprocess over stdio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from mcp_harness import stdio, texts

from py_code_mode import FileStorage, Session
from py_code_mode.catalog import RESULT_LIMIT

DOUBLE = "def run(x: int) -> int:\n    '''Double a number.'''\n    return 2 * x\n"


async def seed(base: Path, **artifacts: Any) -> None:
    """A saved skill and the given artifacts, written through the library, not the server."""
    session = Session(storage=FileStorage(base))
    await session.add_skill("double", DOUBLE, "")
    for name, data in artifacts.items():
        await session.save_artifact(name, data)


def stored_files(base: Path) -> dict[str, bytes]:
    """Every stored file and its bytes, less the search index (a cache rebuilt on reads)."""
    index = base / ".code-mode" / "index"
    return {
        str(p.relative_to(base)): p.read_bytes()
        for p in base.rglob("*")
        if p.is_file() and index not in p.parents
    }


async def test_tools_carry_annotations(tmp_path: Path) -> None:
    await seed(tmp_path)
    async with Client(stdio(tmp_path)) as client:
        tools = {t.name: t.annotations for t in (await client.list_tools()).tools}
    for name in ("list_skills", "search_skills", "get_skill", "list_tools", "search_tools",
                 "list_artifacts", "load_artifact", "list_deps"):  # fmt: skip
        assert tools[name].read_only_hint is True, name
    code = tools["run_code"]
    assert (code.read_only_hint, code.destructive_hint, code.idempotent_hint) == (
        False,
        True,
        False,
    )
    assert code.open_world_hint is True
    assert tools["delete_skill"].destructive_hint is True
    assert tools["delete_skill"].idempotent_hint is True
    assert tools["create_skill"].destructive_hint is False  # a new version; history is kept
    assert tools["save_artifact"].idempotent_hint is True
    assert tools["double"].read_only_hint is False  # a saved skill is arbitrary code
    assert tools["double"].destructive_hint is True


async def test_read_only_offers_nothing_that_writes(tmp_path: Path) -> None:
    await seed(tmp_path, **{"big.txt": "y" * (RESULT_LIMIT + 5000)})
    before = stored_files(tmp_path)
    async with Client(stdio(tmp_path, "--read-only")) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "double" not in tools  # a saved skill runs code
        assert all(t.annotations.read_only_hint for t in tools.values()), sorted(tools)
        refused = await client.call_tool("double", {"x": 2})
        assert refused.is_error and "unknown tool" in texts(refused)
        # A long result is cut rather than kept as an artifact.
        loaded = texts(await client.call_tool("load_artifact", {"name": "big.txt"}))
        assert loaded.startswith("y" * 100) and "more characters were cut" in loaded
        listed = json.loads(texts(await client.call_tool("list_artifacts", {})))
        assert [a["name"] for a in listed] == ["big.txt"]
    assert stored_files(tmp_path) == before


async def test_artifacts_are_resources_with_their_media_type_and_changes_are_announced(
    tmp_path: Path,
) -> None:
    notes: list[str] = []

    async def on_message(message: Any) -> None:
        notes.append(type(message).__name__)

    async with Client(stdio(tmp_path), message_handler=on_message, mode="legacy") as client:
        assert client.server_capabilities.resources.list_changed is True
        assert client.server_capabilities.tools.list_changed is True
        assert [r.uri for r in (await client.list_resources()).resources] == []
        await client.call_tool("save_artifact", {"name": "reports/summary.json", "data": {"n": 1}})
        assert "ResourceListChangedNotification" in notes
        await client.call_tool("run_code", {"code": "artifacts.save('notes.txt', 'hello')"})
        assert notes.count("ResourceListChangedNotification") == 2
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        assert listed["artifact://reports/summary.json"].mime_type == "application/json"
        assert listed["artifact://notes.txt"].mime_type == "text/plain"
        read = (await client.read_resource("artifact://reports/summary.json")).contents[0]
        assert read.mime_type == "application/json"
        assert json.loads(read.text) == {"n": 1}
        text = (await client.read_resource("artifact://notes.txt")).contents[0]
        assert (text.mime_type, text.text) == ("text/plain", "hello")
        for missing in ("artifact://nothing.json", "artifact://../../etc/passwd", "skill://nope"):
            with pytest.raises(MCPError) as unknown:
                await client.read_resource(missing)
            assert unknown.value.error.code == INVALID_PARAMS, missing
        quiet = len(notes)
        await client.call_tool("run_code", {"code": "1 + 1"})
        assert len(notes) == quiet  # nothing changed, nothing announced


async def test_results_name_artifacts_without_host_paths(tmp_path: Path) -> None:
    async with Client(stdio(tmp_path)) as client:
        saved = texts(await client.call_tool("save_artifact", {"name": "r.json", "data": [1]}))
        listed = texts(await client.call_tool("list_artifacts", {}))
    for shown in (saved, listed):
        assert "r.json" in shown
        assert str(tmp_path) not in shown
    assert json.loads(listed)[0]["path"] == "r.json"
