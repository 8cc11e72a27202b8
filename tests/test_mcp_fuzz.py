"""Fuzz the MCP server's tool inputs over real HTTP: arguments drawn from each tool's declared
input schema (hypothesis-jsonschema), plus arbitrary JSON objects that break the schemas.
Every call must be answered (a result or ``isError``), arguments the declared schema rejects
must be refused (``isError``, never silently reinterpreted), the server must keep serving, and
nothing stored beforehand may be lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator
from mcp import Client
from mcp_harness import http_client, http_server, texts

from py_code_mode import FileStorage, Session

SKILL = "seeded_skill_kept"
SOURCE = "def run(x: int) -> int:\n    '''Double a number.'''\n    return 2 * x\n"
ARTIFACT = "seeded/kept.json"
DATA = {"kept": [1, 2, 3]}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


async def seed(base: Path) -> None:
    session = Session(storage=FileStorage(base))
    await session.add_skill(SKILL, SOURCE, "")
    await session.save_artifact(ARTIFACT, DATA)


async def answered(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    with anyio.fail_after(60):
        return await client.call_tool(name, arguments)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[BlockingPortal, Client, list[Any]]]:
    base = tmp_path_factory.mktemp("fuzz") / "base"
    asyncio.run(seed(base))
    # No runtime deps: fuzzed add_dep calls must never reach a package index.
    with (
        http_server(base, "--no-runtime-deps", "--timeout", "10") as server,
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(http_client(server.url)) as client,
    ):
        tools = portal.call(client.list_tools).tools
        yield portal, client, tools


def test_tool_inputs_from_their_schemas_are_always_answered(
    served: tuple[BlockingPortal, Client, list[Any]],
) -> None:
    portal, client, tools = served
    assert SKILL in {t.name for t in tools}
    valid = st.one_of([from_schema(t.input_schema).map(lambda a, n=t.name: (n, a)) for t in tools])
    invalid = st.tuples(
        st.sampled_from([t.name for t in tools]), st.dictionaries(st.text(), JSON, max_size=4)
    )
    schemas = {t.name: Draft202012Validator(t.input_schema) for t in tools}
    seen: dict[str, int] = {}

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(valid | invalid)
    def call(example: tuple[str, dict[str, Any]]) -> None:
        name, arguments = example
        result = portal.call(answered, client, name, arguments)
        assert result.content, (name, arguments)
        if not schemas[name].is_valid(arguments):
            assert result.is_error, (name, arguments, texts(result))
            assert "invalid arguments" in texts(result)
        seen[name] = seen.get(name, 0) + 1

    call()
    assert len(seen) > len(tools) // 2, seen  # the draw reached most tools

    # Still serving, and the seeded skill and artifact are intact.
    assert texts(portal.call(answered, client, "run_code", {"code": "6 * 7"})) == "42"
    assert texts(portal.call(answered, client, SKILL, {"x": 21})) == "42"
    loaded = portal.call(answered, client, "load_artifact", {"name": ARTIFACT})
    assert json.loads(texts(loaded)) == DATA
