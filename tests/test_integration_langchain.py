"""LangChain: real tools, messages and a scripted chat model that calls them (bind_tools)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from agent_script import TASK_ONE, TASK_TWO, check_results, word_count
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor
from py_code_mode.catalog import OPERATIONS
from py_code_mode.integrations.langchain import CodeModeToolkit, to_langchain_tool

_ids = itertools.count()


class ScriptedChatModel(BaseChatModel):
    """Answers with the next scripted tool call, then a final message."""

    script: list[tuple[str, dict[str, Any]]]
    bound: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: list[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        self.bound = [t.name for t in tools]
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        if self.script:
            name, args = self.script.pop(0)
            assert name in self.bound, f"{name} is not offered: {self.bound}"
            message = AIMessage(
                content="", tool_calls=[{"name": name, "args": args, "id": f"call_{next(_ids)}"}]
            )
        else:
            message = AIMessage(content="done")
        return ChatResult(generations=[ChatGeneration(message=message)])


def run_agent(model: ScriptedChatModel, tools: list[BaseTool], task: str) -> dict[str, str]:
    model = model.bind_tools(tools)
    by_name = {t.name: t for t in tools}
    messages: list[BaseMessage] = [HumanMessage(task)]
    results = {}
    while True:
        ai = model.invoke(messages)
        messages.append(ai)
        if not ai.tool_calls:
            return results
        for call in ai.tool_calls:
            answer = by_name[call["name"]].invoke(call)
            assert isinstance(answer, ToolMessage)
            results[call["name"]] = answer.content
            messages.append(answer)


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
def test_agent_writes_code_saves_a_skill_then_reuses_it(tmp_path: Path, kind: str) -> None:
    executor = InProcessExecutor() if kind == "inprocess" else SubprocessExecutor()
    session = Session(storage=FileStorage(tmp_path), executor=executor)
    session.register_tool(word_count)
    try:
        toolkit = CodeModeToolkit(session=session)
        results = run_agent(
            ScriptedChatModel(script=list(TASK_ONE)), toolkit.get_tools(), "count words"
        )
        # Next turn: the new skill is offered as a tool of its own.
        results.update(
            run_agent(ScriptedChatModel(script=list(TASK_TWO)), toolkit.get_tools(), "again")
        )
        check_results(results)
    finally:
        session.blocking(session.close)


async def test_async_path_and_errors_as_tool_messages(tmp_path: Path) -> None:
    async with Session(storage=FileStorage(tmp_path)) as session:
        tools = {t.name: t for t in await CodeModeToolkit(session=session).aget_tools()}
        ok = await tools["run_code"].ainvoke({"code": "6 * 7"})
        assert ok == "42"
        failed = await tools["run_code"].ainvoke(
            {"type": "tool_call", "name": "run_code", "args": {"code": "1/0"}, "id": "c1"}
        )
        assert isinstance(failed, ToolMessage) and "ZeroDivisionError" in failed.content


def test_read_only_toolkit_leaves_out_writes(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path))
    try:
        names = {t.name for t in CodeModeToolkit(session=session, read_only=True).get_tools()}
        assert "search_skills" in names and "run_code" not in names and "create_skill" not in names
        chosen = {
            t.name
            for t in CodeModeToolkit(
                session=session, operations=["run_code"], skills_as_tools=False
            ).get_tools()
        }
        assert chosen == {"run_code"}
    finally:
        if session.loop is not None:
            session.blocking(session.close)


_SESSIONS: list[Session] = []


def _run_code_tool() -> BaseTool:
    import tempfile

    session = Session(storage=FileStorage(tempfile.mkdtemp(prefix="pcm-lc-")))
    _SESSIONS.append(session)
    return to_langchain_tool(OPERATIONS["run_code"], session)


class TestRunCodeToolStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return _run_code_tool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"code": "1 + 1"}


def _search_tool() -> BaseTool:
    import tempfile

    session = Session(storage=FileStorage(tempfile.mkdtemp(prefix="pcm-lc-")))
    return to_langchain_tool(OPERATIONS["search_skills"], session)


class TestSearchSkillsToolStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return _search_tool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "parse csv", "limit": 3}


class _ContentChecks:
    """The suite's defaults only check types: these check what the model would read."""

    expected_content: str

    def test_content_and_artifact(self, tool: BaseTool) -> None:  # type: ignore[override]
        call = {"type": "tool_call", "name": tool.name, "args": self.tool_invoke_params_example,
                "id": "c1"}  # fmt: skip
        message = tool.invoke(call)
        assert isinstance(message, ToolMessage) and message.status != "error", message
        assert message.content == self.expected_content
        assert message.artifact is not None

    async def test_async_content_and_artifact(self, tool: BaseTool) -> None:
        call = {"type": "tool_call", "name": tool.name, "args": self.tool_invoke_params_example,
                "id": "c2"}  # fmt: skip
        message = await tool.ainvoke(call)
        assert isinstance(message, ToolMessage) and message.status != "error", message
        assert message.content == self.expected_content


class TestRunCodeToolIntegration(_ContentChecks, ToolsIntegrationTests):
    expected_content = "4\n\nStdout:\nhi\n"

    @property
    def tool_constructor(self) -> BaseTool:
        return _run_code_tool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"code": "print('hi')\n2 + 2"}


def _skill_tool() -> BaseTool:
    import tempfile

    session = Session(storage=FileStorage(tempfile.mkdtemp(prefix="pcm-lc-")))
    _SESSIONS.append(session)
    session.skill_library().create(
        "add_two", "def run(a: int, b: int) -> int:\n    '''Add two numbers.'''\n    return a + b\n"
    )
    tools = CodeModeToolkit(session=session).get_tools()
    return next(t for t in tools if t.name == "add_two")


class TestSkillToolIntegration(_ContentChecks, ToolsIntegrationTests):
    expected_content = "5"

    @property
    def tool_constructor(self) -> BaseTool:
        return _skill_tool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"a": 2, "b": 3}
