"""MCP clients over HTTP each get their own Session, which lasts across their calls, is closed
when they leave or go idle, and is limited in number; cancelled calls stop their run. All
driven by the real `mcp` client against the server run as a subprocess."""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import UNSUPPORTED_PROTOCOL_VERSION
from mcp_harness import TOKEN, http_client, http_server, stdio, texts, wait_until_gone

from py_code_mode.cli.mcp_server import add_arguments


async def pid_of(client: Client) -> int:
    """The worker process behind the client's Session (the code runs in it)."""
    return int(texts(await client.call_tool("run_code", {"code": "import os\nos.getpid()"})))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_each_http_client_has_its_own_lasting_session(tmp_path: Path, mode: str) -> None:
    with http_server(tmp_path / "base") as server:
        async with (
            http_client(server.url, mode=mode) as a,
            http_client(server.url, mode=mode) as b,
        ):
            await a.call_tool("run_code", {"code": "secret = 41"})
            assert texts(await a.call_tool("run_code", {"code": "secret + 1"})) == "42"
            other = await b.call_tool("run_code", {"code": "secret"})
            assert other.is_error and "NameError" in texts(other)
            await b.call_tool("run_code", {"code": "secret = 'b'"})
            assert texts(await a.call_tool("run_code", {"code": "secret"})) == "41"
            assert await pid_of(a) != await pid_of(b)


async def test_the_sessionless_protocol_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    with http_server(tmp_path / "base") as server:
        async with http_client(server.url, mode="2026-07-28") as client:
            with pytest.raises(MCPError) as refused:
                await client.list_tools()
        assert refused.value.error.code == UNSUPPORTED_PROTOCOL_VERSION
        assert "--shared-session" in refused.value.error.message


async def test_shared_session_serves_every_client_from_one_session(tmp_path: Path) -> None:
    with http_server(tmp_path / "base", "--shared-session") as server:
        async with (
            http_client(server.url) as a,
            http_client(server.url, mode="2026-07-28") as sessionless,
        ):
            await a.call_tool("run_code", {"code": "shared = 7"})
            assert texts(await sessionless.call_tool("run_code", {"code": "shared * 6"})) == "42"


async def test_a_session_ends_with_its_client_and_the_limit_holds(tmp_path: Path) -> None:
    with http_server(tmp_path / "base", "--max-sessions", "1") as server:
        async with http_client(server.url) as b:
            async with http_client(server.url) as a:
                worker = await pid_of(a)
                refused = await b.call_tool("run_code", {"code": "1 + 1"})
                assert refused.is_error
                assert "too many sessions" in texts(refused)
                assert "--max-sessions 1" in texts(refused)
            # A's DELETE closed its Session: its worker exits and B gets the free place.
            await wait_until_gone(worker)
            assert texts(await b.call_tool("run_code", {"code": "1 + 1"})) == "2"


async def test_an_idle_session_is_closed_and_the_client_is_told(tmp_path: Path) -> None:
    with http_server(tmp_path / "base", "--idle-timeout", "1") as server:
        async with http_client(server.url) as client:
            # One call: with a 1 s limit, a second call might already meet a fresh session.
            code = "kept = 1\nimport os\nos.getpid()"
            worker = int(texts(await client.call_tool("run_code", {"code": code})))
            await wait_until_gone(worker)
            after = await client.call_tool("run_code", {"code": "kept"})
            assert after.is_error and "NameError" in texts(after)
            assert "previous session ended after 1 s without a call" in texts(after)
            assert texts(await client.call_tool("run_code", {"code": "kept = 2\nkept"})) == "2"


LOOP = (
    "import pathlib, time\n"
    "n = 0\n"
    "pathlib.Path({marker!r}).write_text('started')\n"
    "while True:\n"
    "    n += 1\n"
    "    time.sleep(0.01)\n"
)


async def cancel_a_run_then_call_again(client: Client, marker: Path) -> str:
    """Start an endless run, cancel the call once it runs, and return the next call's text."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(client.call_tool, "run_code", {"code": LOOP.format(marker=str(marker))})
        with anyio.fail_after(60):
            while not marker.exists():
                await anyio.sleep(0.02)
        tg.cancel_scope.cancel()  # the client sends notifications/cancelled
    with anyio.fail_after(60):  # the next call is answered: the run stopped
        return texts(await client.call_tool("run_code", {"code": "a = n\ntime.sleep(0.2)\n(a, n)"}))


async def test_a_cancelled_call_stops_its_run_over_http(tmp_path: Path) -> None:
    with http_server(tmp_path / "base", "--timeout", "0") as server:
        async with http_client(server.url) as client:
            answer = await cancel_a_run_then_call_again(client, tmp_path / "started")
    a, n = answer.strip("()").split(", ")
    assert a == n and int(n) > 0


async def test_a_cancelled_call_stops_its_run_over_stdio(tmp_path: Path) -> None:
    params = stdio(tmp_path / "base", "--timeout", "0", "--executor", "inprocess")
    async with Client(params) as client:
        answer = await cancel_a_run_then_call_again(client, tmp_path / "started")
    a, n = answer.strip("()").split(", ")
    assert a == n and int(n) > 0


def test_runs_have_a_default_time_limit() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).timeout == 60
    assert parser.parse_args(["--timeout", "0"]).timeout == 0  # 0: no limit


async def test_fastmcp_clients_get_their_own_sessions_and_annotations(tmp_path: Path) -> None:
    from fastmcp import Client as FastMCPClient
    from fastmcp.exceptions import ToolError

    with http_server(tmp_path / "base") as server:
        async with (
            FastMCPClient(server.url, auth=TOKEN) as a,
            FastMCPClient(server.url, auth=TOKEN) as b,
        ):
            tools = {t.name: t for t in await a.list_tools()}
            assert tools["list_skills"].annotations.read_only_hint is True
            assert tools["run_code"].annotations.destructive_hint is True
            await a.call_tool("run_code", {"code": "mine = 'a'"})
            assert texts(await a.call_tool("run_code", {"code": "mine"})) == "a"
            with pytest.raises(ToolError, match="NameError"):
                await b.call_tool("run_code", {"code": "mine"})
            with pytest.raises(ToolError, match="invalid arguments"):
                await b.call_tool("run_code", {"code": "1", "unexpected": True})
