"""Native in every framework: each adapter follows its framework's own conventions for
cancellation, results, component config and lifecycle, inside the framework's real loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken
from autogen_core.code_executor import CodeBlock
from test_integration_autogen import replay
from test_session_ownership import wait_for_file

from py_code_mode import FileStorage, Session, SubprocessConfig, SubprocessExecutor
from py_code_mode.integrations.autogen import (
    CodeModeCodeExecutor,
    CodeModeTool,
    CodeModeWorkbench,
    create_tools,
)

FOREVER = "import time\nopen({flag!r}, 'w').close()\nwhile True:\n    time.sleep(0.01)"


def subprocess_session(base: Path, timeout: float = 300) -> Session:
    return Session(
        storage=FileStorage(base),
        executor=SubprocessExecutor(SubprocessConfig(default_timeout=timeout)),
    )


# --- AutoGen ------------------------------------------------------------------------------------


async def test_autogen_code_executor_plain_output_and_exit_codes(tmp_path: Path) -> None:
    async with subprocess_session(tmp_path, timeout=1) as session:
        executor = CodeModeCodeExecutor(session)
        token = CancellationToken()
        done = await executor.execute_code_blocks(
            [CodeBlock(code="print(42)", language="python")], token
        )
        assert (done.exit_code, done.output) == (0, "42\n")  # not "Stdout:\n42\n"
        slow = await executor.execute_code_blocks(
            [CodeBlock(code="import time\ntime.sleep(30)", language="python")], token
        )
        assert slow.exit_code == 124 and "timed out" in slow.output  # AutoGen's timeout code


async def test_autogen_tool_and_workbench_honour_the_cancellation_token(tmp_path: Path) -> None:
    flag = tmp_path / "running"
    async with subprocess_session(tmp_path / "base") as session:
        tool = next(t for t in create_tools(session) if t.name == "run_code")
        workbench = CodeModeWorkbench(session)
        for call in (
            lambda token: tool.run_json({"code": FOREVER.format(flag=str(flag))}, token),
            lambda token: workbench.call_tool(
                "run_code", {"code": FOREVER.format(flag=str(flag))}, token
            ),
        ):
            flag.unlink(missing_ok=True)
            token = CancellationToken()
            task = asyncio.create_task(call(token))
            await wait_for_file(flag)
            token.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await asyncio.wait_for(session.run("2 + 2"), 30)).value == 4


async def test_autogen_workbench_does_not_close_a_session_it_was_given(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path)) as session:
        async with CodeModeWorkbench(session) as workbench:
            await workbench.call_tool("run_code", {"code": "x = 1"})
        assert (await session.run("x + 1")).value == 2  # before: "Session is closed"


async def test_autogen_team_saved_with_dump_component_loads_and_runs(tmp_path: Path) -> None:
    session = subprocess_session(tmp_path / "base", timeout=30)
    coder = AssistantAgent(
        "coder",
        replay([("run_code", {"code": "6 * 7"})]),
        workbench=CodeModeWorkbench(session, read_only=False),
    )
    tooled = AssistantAgent(
        "tooled",
        replay([("run_code", {"code": "6 * 8"})]),
        tools=create_tools(session, operations=["run_code"], skills_as_tools=False),
    )
    team = RoundRobinGroupChat([coder, tooled], max_turns=2)
    saved = team.dump_component().model_dump()
    loaded = RoundRobinGroupChat.load_component(saved)
    result = await loaded.run(task="compute")
    texts = [str(getattr(m, "content", "")) for m in result.messages]
    assert any("42" in t for t in texts) and any("48" in t for t in texts), texts
    # The executor component round-trips too, and owns the session it built.
    executor = CodeModeCodeExecutor(session, timeout=5)
    again = CodeModeCodeExecutor.load_component(executor.dump_component())
    async with again:
        out = await again.execute_code_blocks(
            [CodeBlock(code="3 * 3", language="python")], CancellationToken()
        )
    assert out.output == "9\n"
    tool = CodeModeTool.load_component(
        create_tools(session, operations=["run_code"])[0].dump_component()
    )
    assert tool.name == "run_code"
    for loaded_session in {id(t._session): t._session for t in [tool]}.values():
        await loaded_session.close()
    await asyncio.gather(*(p.close() for p in _team_sessions(loaded)))


def _team_sessions(team: Any) -> list[Session]:
    sessions: dict[int, Session] = {}
    for agent in team._participants:
        for bench in getattr(agent, "_workbench", []):
            inner = getattr(bench, "_session", None)
            for tool in getattr(bench, "_tools", []):
                inner = getattr(tool, "_session", inner)
            if inner is not None:
                sessions[id(inner)] = inner
    return list(sessions.values())


# --- LlamaIndex ---------------------------------------------------------------------------------


async def test_llamaindex_tool_output_has_data_and_error_flag(tmp_path: Path) -> None:
    from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
    from test_integration_llamaindex import scripted

    from py_code_mode import ExecutionResult
    from py_code_mode.integrations.llamaindex import CodeModeToolSpec

    async with Session(storage=FileStorage(tmp_path)) as session:
        spec = CodeModeToolSpec(session)
        agent = FunctionAgent(
            tools=spec.to_tool_list(),
            llm=scripted([("run_code", {"code": "6 * 7"}), ("run_code", {"code": "1/0"})]),
        )
        handler = agent.run(user_msg="go")
        outputs = [
            e.tool_output async for e in handler.stream_events() if isinstance(e, ToolCallResult)
        ]
        await handler
    ok, failed = outputs
    assert (ok.content, ok.is_error) == ("42", False)
    assert isinstance(ok.raw_output, ExecutionResult) and ok.raw_output.value == 42
    assert failed.is_error and "ZeroDivisionError" in failed.content  # before: is_error False
    assert isinstance(failed.raw_output, ExecutionResult) and failed.raw_output.error


def test_llamaindex_to_tool_list_honours_spec_functions(tmp_path: Path) -> None:
    from py_code_mode.integrations.llamaindex import CodeModeToolSpec

    spec = CodeModeToolSpec(Session(storage=FileStorage(tmp_path)))
    assert [t.metadata.name for t in spec.to_tool_list(["run_code"])] == ["run_code"]
    assert [
        t.metadata.name for t in spec.to_tool_list(spec_functions=["list_skills", "run_code"])
    ] == [
        "run_code",
        "list_skills",
    ]
    with pytest.raises(ValueError, match="no tool named nope"):
        spec.to_tool_list(["nope"])


# --- LangChain ----------------------------------------------------------------------------------


async def test_langchain_cancelled_ainvoke_interrupts_the_code(tmp_path: Path) -> None:
    from py_code_mode.integrations.langchain import CodeModeToolkit

    flag = tmp_path / "running"
    async with subprocess_session(tmp_path / "base") as session:
        tool = CodeModeToolkit(session=session, operations=["run_code"]).get_tools()[0]
        task = asyncio.create_task(tool.ainvoke({"code": FOREVER.format(flag=str(flag))}))
        await wait_for_file(flag)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await asyncio.wait_for(session.run("5"), 30)).value == 5


async def test_llamaindex_cancelled_tool_call_interrupts_the_code(tmp_path: Path) -> None:
    from py_code_mode.integrations.llamaindex import CodeModeToolSpec

    flag = tmp_path / "running"
    async with subprocess_session(tmp_path / "base") as session:
        tool = CodeModeToolSpec(session).to_tool_list(["run_code"])[0]
        task = asyncio.create_task(tool.acall(code=FOREVER.format(flag=str(flag))))
        await wait_for_file(flag)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await asyncio.wait_for(session.run("6"), 30)).value == 6
