"""Who owns a Session: its loop (bound once at start), its start (one, whatever the
concurrency) and its runs (cancellation interrupts them). Framework tools work in sync code,
in async code, from worker threads and from a loop that is blocked — or fail fast, never hang."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core import CancellationToken
from autogen_core.code_executor import CodeBlock
from langchain_core.messages import ToolMessage
from llama_index.core.agent.workflow import FunctionAgent
from test_integration_autogen import replay
from test_integration_llamaindex import run_task as run_llamaindex_task
from test_integration_llamaindex import scripted

from py_code_mode import (
    FileStorage,
    InProcessExecutor,
    Session,
    SessionLoopError,
    SubprocessConfig,
    SubprocessExecutor,
    SyncSession,
)
from py_code_mode.integrations.autogen import CodeModeCodeExecutor, create_tools
from py_code_mode.integrations.langchain import CodeModeToolkit
from py_code_mode.integrations.llamaindex import CodeModeToolSpec

KINDS = ["inprocess", "subprocess"]


def make(tmp_path: Path, kind: str, timeout: float = 60.0) -> Session:
    executor = (
        InProcessExecutor(default_timeout=timeout)
        if kind == "inprocess"
        else SubprocessExecutor(SubprocessConfig(default_timeout=timeout))
    )
    return Session(storage=FileStorage(tmp_path), executor=executor)


async def wait_for_file(path: Path, seconds: float = 30.0) -> None:
    """Until ``path`` exists (the cell under test has reached its loop)."""
    async with asyncio.timeout(seconds):
        while not path.exists():
            await asyncio.sleep(0.01)


# --- the README's snippets, inside `async with Session(...)` ---------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_langchain_get_tools_inside_async_with_session(tmp_path: Path, kind: str) -> None:
    async with make(tmp_path, kind) as session:
        tools = {t.name: t for t in CodeModeToolkit(session=session).get_tools()}
        assert await tools["run_code"].ainvoke({"code": "6 * 7"}) == "42"


@pytest.mark.parametrize("kind", KINDS)
async def test_llamaindex_function_agent_with_to_tool_list(tmp_path: Path, kind: str) -> None:
    async with make(tmp_path, kind) as session:
        spec = CodeModeToolSpec(session)
        agent = FunctionAgent(
            tools=spec.to_tool_list(), llm=scripted([("run_code", {"code": "6 * 7"})])
        )
        results = await run_llamaindex_task(agent, "compute")
        assert results["run_code"] == "42"


@pytest.mark.parametrize("kind", KINDS)
async def test_autogen_assistant_agent_with_create_tools(tmp_path: Path, kind: str) -> None:
    async with make(tmp_path, kind) as session:
        agent = AssistantAgent(
            "coder",
            replay([("run_code", {"code": "6 * 7"})]),
            tools=create_tools(session),  # exactly the documented form
        )
        result = await agent.run(task="compute")
        contents = [getattr(m, "content", None) for m in result.messages]
        flat = [c for group in contents if isinstance(group, list) for c in group]
        assert any(getattr(c, "content", None) == "42" for c in flat)


# --- a session first touched by sync code, then used from an application's loop --------------


@pytest.mark.parametrize("kind", KINDS)
def test_sync_first_then_async_use_does_not_stall(tmp_path: Path, kind: str) -> None:
    session = make(tmp_path, kind, timeout=60.0)
    tools = {t.name: t for t in CodeModeToolkit(session=session).get_tools()}
    assert tools["run_code"].invoke({"code": "x = 20\nx + 1"}) == "21"  # starts on its own loop

    async def from_the_app() -> tuple[str, object]:
        text = await tools["run_code"].ainvoke({"code": "x * 2"})
        direct = await session.run("x + 2")
        return text, direct.value

    # The answers come from the session's own loop; before the fix each waited out the timeout.
    assert asyncio.run(asyncio.wait_for(from_the_app(), 30)) == ("40", 22)
    SyncSession(session=session).close()
    assert session.closed and not session._own_loop.thread.is_alive()  # type: ignore[union-attr]


def test_sync_session_facade(tmp_path: Path) -> None:
    with SyncSession(storage=FileStorage(tmp_path)) as session:
        assert session.run("6 * 7").value == 42
        session.save_artifact("n.json", {"n": 1})
        assert session.load_artifact("n.json") == {"n": 1}
        assert [a["name"] for a in session.list_artifacts()] == ["n.json"]
        own = session.session._own_loop
        assert own is not None and own.thread is not threading.current_thread()
    assert session.session.closed and not own.thread.is_alive()


async def test_calls_from_another_loop_hop_to_the_owner(tmp_path: Path) -> None:
    async with make(tmp_path, "subprocess") as session:
        await session.run("y = 5")

        def elsewhere() -> object:
            return asyncio.run(session.run("y * 3")).value

        assert await asyncio.to_thread(elsewhere) == 15


# --- blocked loops: fail fast, never hang -----------------------------------------------------


async def test_sync_tool_call_on_the_sessions_own_loop_fails_fast(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path)) as session:
        tool = CodeModeToolkit(session=session, operations=["run_code"]).get_tools()[0]
        with pytest.raises(SessionLoopError, match="cannot block the event loop"):
            tool.invoke({"code": "1"})


@pytest.mark.timeout(60)
async def test_notebook_sync_agent_call_from_worker_threads_fails_fast(tmp_path: Path) -> None:
    """A notebook cell awaited the session, then calls a sync agent whose framework runs the
    tools in worker threads while the cell (on the loop's thread) waits for them."""
    async with Session(storage=FileStorage(tmp_path)) as session:
        tool = CodeModeToolkit(session=session, operations=["run_code"]).get_tools()[0]
        with pytest.raises(SessionLoopError, match="blocked by synchronous code"):
            tool.batch([{"code": "6 * 7"}, {"code": "1"}])  # run in a thread pool
        # The session is untouched and still answers.
        assert (await session.run("6 * 7")).value == 42


def test_sync_calls_from_framework_worker_threads(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path))
    tool = CodeModeToolkit(session=session, operations=["run_code"]).get_tools()[0]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: tool.invoke({"code": f"{n} * 2"}), range(8)))
    assert answers == [str(n * 2) for n in range(8)]
    SyncSession(session=session).close()


# --- one start, one worker --------------------------------------------------------------------


def workers_of(folder: Path) -> list[str]:
    """Live worker processes whose command line names ``folder`` (its deps overlay)."""
    import subprocess

    found = subprocess.run(
        ["pgrep", "-f", f"worker.*{folder}"], capture_output=True, text=True, timeout=10
    )
    return found.stdout.split()


async def test_concurrent_first_runs_start_one_worker(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path), executor=SubprocessExecutor())
    results = await asyncio.gather(*(session.run("import os\nos.getpid()") for _ in range(3)))
    assert len({r.value for r in results}) == 1
    assert len(workers_of(tmp_path)) <= 2  # the worker and its warm spare
    await session.close()
    assert workers_of(tmp_path) == []  # before the fix a third worker outlived close()


# --- cancellation interrupts the code, as a timeout does --------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelled_run_stops_the_code_and_the_session_stays_usable(
    tmp_path: Path, kind: str
) -> None:
    flag = tmp_path / "running"
    async with make(tmp_path / "base", kind, timeout=300) as session:
        await session.run("kept = 'yes'")
        task = asyncio.create_task(
            session.run(
                f"import time\nopen({str(flag)!r}, 'w').close()\nwhile True:\n    time.sleep(0.01)"
            )
        )
        await wait_for_file(flag)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Before the fix the loop kept running and this waited out the 300 s timeout.
        after = await asyncio.wait_for(session.run("kept"), 30)
        assert after.value == "yes"


async def test_autogen_cancellation_token_interrupts_the_code_block(tmp_path: Path) -> None:
    flag = tmp_path / "running"
    async with make(tmp_path / "base", "subprocess", timeout=300) as session:
        executor = CodeModeCodeExecutor(session)
        token = CancellationToken()
        code = f"import time\nopen({str(flag)!r}, 'w').close()\nwhile True:\n    time.sleep(0.01)"
        task = asyncio.create_task(
            executor.execute_code_blocks([CodeBlock(code=code, language="python")], token)
        )
        await wait_for_file(flag)
        token.cancel()
        result = await task
        assert result.exit_code == 125  # as AutoGen's own executors answer a cancellation
        assert (await asyncio.wait_for(session.run("1 + 1"), 30)).value == 2


async def test_cancelling_a_hopped_call_cancels_it_on_the_owning_loop(tmp_path: Path) -> None:
    flag = tmp_path / "running"
    async with make(tmp_path / "base", "inprocess", timeout=300) as session:
        code = f"import time\nopen({str(flag)!r}, 'w').close()\nwhile True:\n    time.sleep(0.01)"

        def elsewhere() -> str:
            async def go() -> str:
                task = asyncio.create_task(session.run(code))
                await wait_for_file(flag)
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    return "cancelled"
                return "finished"

            return asyncio.run(go())

        assert await asyncio.to_thread(elsewhere) == "cancelled"
        assert (await asyncio.wait_for(session.run("3"), 30)).value == 3


def test_tool_message_errors_still_reach_the_model(tmp_path: Path) -> None:
    with SyncSession(storage=FileStorage(tmp_path)) as sync:
        tool = CodeModeToolkit(session=sync.session, operations=["run_code"]).get_tools()[0]
        answer = tool.invoke(
            {"type": "tool_call", "name": "run_code", "args": {"code": "1/0"}, "id": "c1"}
        )
        assert isinstance(answer, ToolMessage) and "ZeroDivisionError" in answer.content
