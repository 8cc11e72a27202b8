"""LlamaIndex: a real FunctionAgent driven by MockFunctionCallingLLM with a scripted generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_script import TASK_ONE, TASK_TWO, check_results, word_count
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor
from py_code_mode.integrations.llamaindex import CodeModeToolSpec


def scripted(script: list[tuple[str, dict[str, Any]]]) -> MockFunctionCallingLLM:
    steps = list(script)

    def respond(messages: Any, **kwargs: Any) -> ChatMessage:
        offered = {t.metadata.name for t in kwargs.get("tools") or []}
        if steps:
            name, args = steps.pop(0)
            assert name in offered, f"{name} is not offered: {offered}"
            block = ToolCallBlock(
                tool_call_id=f"call-{len(steps)}", tool_name=name, tool_kwargs=args
            )
            return ChatMessage(role=MessageRole.ASSISTANT, blocks=[block])
        return ChatMessage(role=MessageRole.ASSISTANT, content="done")

    return MockFunctionCallingLLM(response_generator=respond, is_chat_model=True)


async def run_task(agent: FunctionAgent, task: str) -> dict[str, str]:
    handler = agent.run(user_msg=task)
    results = {}
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            results[event.tool_name] = str(event.tool_output.content)
    await handler
    return results


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_function_agent_saves_and_reuses_a_skill(tmp_path: Path, kind: str) -> None:
    executor = InProcessExecutor() if kind == "inprocess" else SubprocessExecutor()
    session = Session(storage=FileStorage(tmp_path), executor=executor)
    session.register_tool(word_count)
    async with session:
        spec = CodeModeToolSpec(session)
        results = await run_task(
            FunctionAgent(tools=await spec.ato_tool_list(), llm=scripted(TASK_ONE)), "count"
        )
        tools = await spec.ato_tool_list()  # the next turn offers the new skill as its own tool
        skill_tool = next(t for t in tools if t.metadata.name == "count_words")
        assert skill_tool.metadata.get_parameters_dict()["properties"] == {
            "text": {"type": "string"}
        }
        results.update(await run_task(FunctionAgent(tools=tools, llm=scripted(TASK_TWO)), "again"))
        check_results(results)


async def test_code_execute_fn_for_codeact(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path)) as session:
        spec = CodeModeToolSpec(session)
        await spec.code_execute_fn("x = 2")
        out = await spec.code_execute_fn("print('hi')\nx * 21")
        assert out == {"stdout": "hi\n", "stderr": "", "output": "42"}
        failed = await spec.code_execute_fn("1/0")
        assert "ZeroDivisionError" in failed["stderr"]


def test_sync_tool_list_and_call(tmp_path: Path) -> None:

    session = Session(storage=FileStorage(tmp_path))
    try:
        tools = {
            t.metadata.name: t
            for t in CodeModeToolSpec(session, operations=["run_code"]).to_tool_list()
        }
        assert set(tools) == {"run_code"}
        assert tools["run_code"].call(code="3 * 3").content == "9"
    finally:
        session.blocking(session.close)
