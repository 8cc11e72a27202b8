"""LangChain: the catalog as a ``BaseToolkit`` of ``StructuredTool``s (sync and async).

    from py_code_mode.integrations.langchain import CodeModeToolkit
    tools = CodeModeToolkit(session=session).get_tools()

Errors come back to the model as tool messages (``handle_tool_error``), never as exceptions.
Results use ``response_format="content_and_artifact"``: the model reads the text, and the data
behind it (an ``ExecutionResult``, a skill list, ...) is in ``ToolMessage.artifact``.
``get_tools()`` also renders saved skills as tools of their own; call it again on the next turn
to offer skills created meanwhile. It works in sync and async code alike (listing is storage
work); sync tool calls run on the session's own loop (``Session.blocking``).
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit, StructuredTool, ToolException
from pydantic import ConfigDict, field_validator

from py_code_mode.catalog import Operation, as_session, offered_operations


def to_langchain_tool(op: Operation, session: Any) -> StructuredTool:
    """One operation as a StructuredTool over ``session``."""
    session = as_session(session)

    async def acall(**kwargs: Any) -> tuple[str, Any]:
        result = await op.call(session, kwargs)
        if result.is_error:
            raise ToolException(result.text)
        return result.text, result.data  # text for the model, data in ToolMessage.artifact

    def call(**kwargs: Any) -> tuple[str, Any]:
        return session.blocking(lambda: acall(**kwargs))

    is_skill = op.schema is not None  # a skill: show its own JSON schema
    return StructuredTool(
        name=op.name,
        description=op.description,
        args_schema=op.input_schema() if is_skill else op.args_model,
        func=call,
        coroutine=acall,
        handle_tool_error=True,
        response_format="content_and_artifact",
    )


class CodeModeToolkit(BaseToolkit):
    """py-code-mode's operations (and saved skills) as LangChain tools."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    session: Any
    operations: list[str] | None = None
    read_only: bool = False
    skills_as_tools: bool = True
    max_skill_tools: int = 20

    @field_validator("session")
    @classmethod
    def _unwrap(cls, session: Any) -> Any:
        return as_session(session)

    def get_tools(self) -> list[BaseTool]:
        """The tools, from sync or async code (inside ``async with Session(...)`` too)."""
        return [to_langchain_tool(op, self.session) for op in self._offered()]

    async def aget_tools(self) -> list[BaseTool]:
        """``get_tools`` for async code (kept for code written against earlier versions)."""
        return self.get_tools()

    def _offered(self) -> list[Operation]:
        return offered_operations(
            self.session,
            self.operations,
            read_only=self.read_only,
            skills_as_tools=self.skills_as_tools,
            max_skill_tools=self.max_skill_tools,
        )
