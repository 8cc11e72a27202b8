"""Clients of a real session server process: ContainerExecutor(remote_url=...), SessionClient,
and AutoGen's create_run_code_tool / get_tools_description with session_url."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ToolCallExecutionEvent
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient
from session_server import DOUBLE, TOKEN, RunningServer, base_with_echo_tool, serve

from py_code_mode import ContainerConfig, ContainerExecutor, FileStorage, RedisStorage, Session
from py_code_mode.errors import RemoteSessionError, SessionCapacityError
from py_code_mode.execution.container import SessionClient
from py_code_mode.factory import create_session
from py_code_mode.integrations.autogen import create_run_code_tool, get_tools_description


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("clients")
    base_with_echo_tool(tmp)
    with serve(tmp, "--timeout", "600", "--max-sessions", "8") as running:
        yield running


def remote(server: RunningServer, **options: object) -> ContainerExecutor:
    # docker= a missing binary: the remote client must never need Docker.
    config = ContainerConfig(
        remote_url=server.url, auth_token=TOKEN, docker="/nonexistent/docker", **options
    )
    return ContainerExecutor(config)


async def test_a_session_runs_on_the_server_without_docker(
    server: RunningServer, tmp_path: Path
) -> None:
    session = Session(storage=FileStorage(tmp_path), executor=remote(server))
    async with session:
        assert (await session.run("import os\nx = 20\nos.getpid()")).is_ok
        result = await session.run("print('hi')\n(x * 2, b'\\x01', {1, 2})")
        assert result.value == (40, b"\x01", {1, 2}) and result.stdout == "hi\n"
        assert result.duration_ms is not None
        failed = await session.run("1 / 0")
        assert failed.error == "ZeroDivisionError: division by zero"
        slow = await session.run("import time\ntime.sleep(60)", timeout=1)
        assert slow.error == "TimeoutError: Execution timed out after 1 seconds"
        assert (await session.run("x")).value == 20
        await session.reset()
        assert (await session.run("x")).error == "NameError: name 'x' is not defined"
        assert session.supports("timeout") and session.supports("process_isolation")
        assert [t["name"] for t in await session.list_tools()] == ["echo"]
        assert (await session.search_tools("print text"))[0]["name"] == "echo"
        assert (await session.run("tools.echo(words=['a']).strip()")).value == "a"
        assert await session.list_deps() == []
        with pytest.raises(Exception, match="cannot take Python tools"):
            session._registry().register_callable(len)


async def test_closing_the_session_frees_its_server_session(
    server: RunningServer, tmp_path: Path
) -> None:
    async with SessionClient(server.url, auth_token=TOKEN) as probe:
        ids = []
        sessions = [
            Session(storage=FileStorage(tmp_path), executor=remote(server)) for _ in range(2)
        ]
        for s in sessions:
            await s.start()
            await s.run("__x = 'kept'")
            ids.append(s.executor._remote.session_id)  # type: ignore[union-attr]
        for s in sessions:
            await s.close()
        # Each id is gone from the server: a run with it starts afresh.
        for sid in ids:
            probe.session_id = sid
            assert (await probe.execute("globals().get('__x', 'fresh')")).value == "fresh"
            await probe.close_session()


async def test_wrong_token_or_address_fails_at_start_with_a_clear_error(
    server: RunningServer, tmp_path: Path
) -> None:
    bad = ContainerExecutor(ContainerConfig(remote_url=server.url, auth_token="wrong"))
    with pytest.raises(RemoteSessionError) as info:
        await Session(storage=FileStorage(tmp_path), executor=bad).start()
    assert info.value.status_code == 401 and "unauthorized" in str(info.value)
    assert "wrong" not in str(info.value) and TOKEN not in str(info.value)
    nowhere = ContainerExecutor(ContainerConfig(remote_url="http://127.0.0.1:9", timeout=5))
    with pytest.raises(RemoteSessionError, match="did not answer"):
        await Session(storage=FileStorage(tmp_path), executor=nowhere).start()


async def test_cancelling_a_remote_run_interrupts_the_code_on_the_server(
    server: RunningServer, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    async with Session(storage=FileStorage(tmp_path), executor=remote(server)) as session:
        await session.run("n = 0")
        task = asyncio.create_task(
            session.run(f"open({str(marker)!r}, 'w').close()\nwhile True:\n    n += 1")
        )
        while not marker.exists():  # the server is on this machine: its code wrote the file
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The server runs with --timeout 600: only the interrupt lets this run through.
        after = await asyncio.wait_for(session.run("n > 0"), timeout=60)
        assert after.value is True


async def test_create_session_builds_a_remote_session(
    server: RunningServer, tmp_path: Path
) -> None:
    session = create_session(
        base=tmp_path, executor="container", remote_url=server.url, auth_token=TOKEN
    )
    async with session:
        assert (await session.run("6 * 7")).value == 42


async def test_reference_production_usage_with_shared_redis(tmp_path: Path, redis_url: str) -> None:
    """docs/production.md of the reference: RedisStorage shared with the server, a
    ContainerExecutor configured with the token; skills written on the client run there."""
    prefix = f"prod{os.getpid()}"
    with serve(tmp_path, "--redis", redis_url, "--prefix", prefix) as shared:
        storage = RedisStorage(url=redis_url, prefix=prefix)
        config = ContainerConfig(
            timeout=60.0,
            allow_runtime_deps=False,
            auth_token=TOKEN,
            remote_url=shared.url,
        )
        executor = ContainerExecutor(config)
        async with Session(storage=storage, executor=executor, sync_deps_on_start=True) as session:
            await session.add_skill("double", DOUBLE, "Double a number")
            assert (await session.run("skills.double(x=21)")).value == 42
            await session.run("artifacts.save('report', {'ok': True})")
            assert await session.load_artifact("report") == {"ok": True}


async def test_session_client_reference_api(server: RunningServer) -> None:
    async with SessionClient(server.url, auth_token=TOKEN) as client:
        assert (await client.health()).status == "healthy"
        assert (await client.execute("y = 5")).is_ok
        assert (await client.execute("y + 1")).value == 6
        assert [t["name"] for t in (await client.info()).tools] == ["echo"]
        created = await client.create_skill(
            "halve", "def run(x: int):\n    return x // 2\n", "Halve"
        )
        assert created["name"] == "halve"
        assert (await client.invoke_skill("halve", x=8)).value == 4
        assert (await client.get_skill("halve"))["source"].startswith("def run")
        await client.save_artifact("raw", b"\x00\xff")
        assert await client.load_artifact("raw") == b"\x00\xff"
        assert await client.delete_skill("halve") is True
        assert (await client.reset()).status == "reset"
        assert (await client.execute("globals().get('y')")).value is None
        await client.close_session()


async def test_session_limit_reaches_the_client_as_a_clear_error(tmp_path: Path) -> None:
    with serve(tmp_path, "--max-sessions", "1") as small:
        async with SessionClient(small.url, auth_token=TOKEN) as first:
            await first.execute("1")
            async with SessionClient(small.url, auth_token=TOKEN) as second:
                with pytest.raises(SessionCapacityError, match="maximum of 1 sessions"):
                    await second.execute("1")
            executor = ContainerExecutor(ContainerConfig(remote_url=small.url, auth_token=TOKEN))
            async with Session(storage=FileStorage(tmp_path), executor=executor) as session:
                refused = await session.run("1")
                assert refused.error.startswith("SessionCapacityError: ")
                assert "retry later" in refused.error


# --- AutoGen -------------------------------------------------------------------------------------


def test_autogen_run_code_tool_keeps_one_server_session(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTAINER_AUTH_TOKEN", TOKEN)
    run_code = create_run_code_tool(session_url=server.url)
    assert run_code("x = 20") == ""
    assert run_code("print('a')\nx * 2") == "a\n40"
    assert run_code("1/0") == "Error: ZeroDivisionError: division by zero"
    assert run_code("object()").startswith("<object object at")
    other = create_run_code_tool(session_url=server.url, session_id="autogen-other")
    assert other("globals().get('x')") == ""
    description = get_tools_description(session_url=server.url)
    assert description.splitlines() == [
        "Available tools (use via tools.name(arg=value)):",
        "  - echo: Print text to standard output",
    ]
    monkeypatch.delenv("CONTAINER_AUTH_TOKEN")
    refused = create_run_code_tool(session_url=server.url)("1")
    assert refused.startswith("Error: RemoteSessionError: ") and "401" in refused
    with pytest.raises(RemoteSessionError, match="unauthorized"):
        get_tools_description(session_url=server.url)


async def test_autogen_agent_uses_the_remote_run_code_tool(server: RunningServer) -> None:
    run_code = create_run_code_tool(session_url=server.url, auth_token=TOKEN)
    script = [("run_code", {"code": "x = 20"}), ("run_code", {"code": "x * 2"})]
    usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
    replies = [
        CreateResult(
            finish_reason="function_calls",
            content=[FunctionCall(id=f"c{n}", name=name, arguments=json.dumps(args))],
            usage=usage,
            cached=False,
        )
        for n, (name, args) in enumerate(script)
    ]
    replies.append(CreateResult(finish_reason="stop", content="done", usage=usage, cached=False))
    model = ReplayChatCompletionClient(
        replies,
        model_info={
            "vision": False,
            "function_calling": True,
            "json_output": False,
            "family": "unknown",
            "structured_output": False,
        },  # fmt: skip
    )
    agent = AssistantAgent("coder", model, tools=[run_code], max_tool_iterations=5)
    result = await agent.run(task="double twenty")
    outputs = [
        item.content
        for message in result.messages
        if isinstance(message, ToolCallExecutionEvent)
        for item in message.content
    ]
    assert outputs == ["", "40"]
