"""AutoGen: a real AssistantAgent driven by ReplayChatCompletionClient (function calling)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from agent_script import TASK_ONE, TASK_TWO, check_results, word_count
from autogen_agentchat.agents import AssistantAgent, CodeExecutorAgent
from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent
from autogen_core import CancellationToken, FunctionCall
from autogen_core.code_executor import CodeBlock
from autogen_core.models import CreateResult, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor
from py_code_mode.integrations.autogen import (
    CodeModeCodeExecutor,
    CodeModeWorkbench,
    create_run_code_tool,
    create_tools,
    get_tools_description,
)

MODEL_INFO = {
    "vision": False,
    "function_calling": True,
    "json_output": False,
    "family": "unknown",
    "structured_output": False,
}
_ids = itertools.count()


def replay(script: list[tuple[str, dict]]) -> ReplayChatCompletionClient:
    results = [
        CreateResult(
            finish_reason="function_calls",
            content=[FunctionCall(id=f"call_{next(_ids)}", name=name, arguments=json.dumps(args))],
            usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
            cached=False,
        )
        for name, args in script
    ]
    results.append(
        CreateResult(
            finish_reason="stop",
            content="done",
            usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
            cached=False,
        )
    )
    return ReplayChatCompletionClient(results, model_info=MODEL_INFO)  # type: ignore[arg-type]


async def run_task(agent: AssistantAgent, task: str) -> dict[str, str]:
    result = await agent.run(task=task)
    out = {}
    for message in result.messages:
        if isinstance(message, ToolCallExecutionEvent):
            for item in message.content:
                out[item.name] = item.content
    return out


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_agent_with_workbench_saves_and_reuses_a_skill(tmp_path: Path, kind: str) -> None:
    executor = InProcessExecutor() if kind == "inprocess" else SubprocessExecutor()
    session = Session(storage=FileStorage(tmp_path), executor=executor)
    session.register_tool(word_count)
    async with session:
        workbench = CodeModeWorkbench(session)
        first = AssistantAgent(
            "coder", replay(TASK_ONE), workbench=workbench, max_tool_iterations=10
        )
        results = await run_task(first, "count the words")
        assert "count_words" in [
            t["name"] for t in await workbench.list_tools()
        ]  # follows the library
        second = AssistantAgent(
            "coder", replay(TASK_TWO), workbench=workbench, max_tool_iterations=10
        )
        results.update(await run_task(second, "count again"))
        check_results(results)


async def test_agent_with_tools_list(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path))
    session.register_tool(word_count)
    async with session:
        await session.add_skill("count_words", TASK_ONE[1][1]["source"], "Count words")
        tools = create_tools(session)
        names = [t.name for t in tools]
        assert "run_code" in names and "count_words" in names
        agent = AssistantAgent(
            "coder",
            replay([("count_words", {"text": "a b"}), ("run_code", {"code": "1/0"})]),
            tools=tools,
            max_tool_iterations=5,
        )
        results = await run_task(agent, "go")
        assert results["count_words"] == "2"
        assert "ZeroDivisionError" in results["run_code"]


async def test_code_executor_agent_keeps_state(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path)) as session:
        executor = CodeModeCodeExecutor(session)
        first = await executor.execute_code_blocks(
            [CodeBlock(code="x = 20", language="python")], CancellationToken()
        )
        second = await executor.execute_code_blocks(
            [CodeBlock(code="x * 2", language="python")], CancellationToken()
        )
        assert (first.exit_code, second.exit_code, second.output) == (0, 0, "40\n")
        failed = await executor.execute_code_blocks(
            [CodeBlock(code="1/0", language="python")], CancellationToken()
        )
        assert failed.exit_code == 1 and "ZeroDivisionError" in failed.output
        agent = CodeExecutorAgent("runner", code_executor=executor)
        reply = await agent.on_messages(
            [TextMessage(content="```python\nprint(x + 1)\n```", source="user")],
            CancellationToken(),
        )
        assert "21" in reply.chat_message.to_text()


async def test_reference_helpers(tmp_path: Path) -> None:
    executor = InProcessExecutor()
    await executor.start(FileStorage(tmp_path))
    run_code = create_run_code_tool(executor=executor)
    assert await run_code("print('a')\n5") == "a\n5"
    assert (await run_code("1/0")).startswith("Error: ZeroDivisionError")
    assert isinstance(get_tools_description(executor=executor), str)
    with pytest.raises(ValueError):
        create_run_code_tool()
    await executor.close()
