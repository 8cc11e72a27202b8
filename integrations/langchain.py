"""LangChain: the catalog as a ``BaseToolkit`` of ``StructuredTool``s (sync and async).

    from py_code_mode.integrations.langchain import CodeModeToolkit
    tools = CodeModeToolkit(session=session).get_tools()

Errors come back to the model as tool messages (``handle_tool_error``), never as exceptions.
``get_tools()`` also renders saved skills as tools of their own; call it again on the next turn
to offer skills created meanwhile.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit, StructuredTool, ToolException
from pydantic import ConfigDict

from py_code_mode._portal import call_sync
from py_code_mode.catalog import Operation, offered_operations


def to_langchain_tool(op: Operation, session: Any) -> StructuredTool:
    """One operation as a StructuredTool over ``session``."""

    async def acall(**kwargs: Any) -> str:
        result = await op.call(session, kwargs)
        if result.is_error:
            raise ToolException(result.text)
        return result.text

    def call(**kwargs: Any) -> str:
        return call_sync(session, lambda: acall(**kwargs))

    is_skill = op.schema is not None  # a skill: show its own JSON schema
    return StructuredTool(
        name=op.name,
        description=op.description,
        args_schema=op.input_schema() if is_skill else op.args_model,
        func=call,
        coroutine=acall,
        handle_tool_error=True,
    )


class CodeModeToolkit(BaseToolkit):
    """py-code-mode's operations (and saved skills) as LangChain tools."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    session: Any
    operations: list[str] | None = None
    read_only: bool = False
    skills_as_tools: bool = True
    max_skill_tools: int = 20

    def get_tools(self) -> list[BaseTool]:
        ops = call_sync(self.session, self._offered)
        return [to_langchain_tool(op, self.session) for op in ops]

    async def aget_tools(self) -> list[BaseTool]:
        """``get_tools`` for async code (no blocking on the event loop)."""
        return [to_langchain_tool(op, self.session) for op in await self._offered()]

    async def _offered(self) -> list[Operation]:
        return await offered_operations(
            self.session,
            self.operations,
            read_only=self.read_only,
            skills_as_tools=self.skills_as_tools,
            max_skill_tools=self.max_skill_tools,
        )
