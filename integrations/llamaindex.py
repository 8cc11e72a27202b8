"""LlamaIndex: the catalog as a ``BaseToolSpec`` (``to_tool_list()``), skills as
``FunctionTool``s of their own, and a ``code_execute_fn`` for ``CodeActAgent``.

    from py_code_mode.integrations.llamaindex import CodeModeToolSpec
    agent = FunctionAgent(tools=CodeModeToolSpec(session).to_tool_list(), llm=llm)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llama_index.core.tools import FunctionTool, ToolMetadata
from llama_index.core.tools.tool_spec.base import BaseToolSpec

from py_code_mode.catalog import Operation, as_session, offered_operations


@dataclass
class _SchemaMetadata(ToolMetadata):
    """Metadata that shows a given JSON schema (a skill's own) instead of a model's."""

    schema: dict[str, Any] | None = None

    def get_parameters_dict(self) -> dict[str, Any]:
        if self.schema is not None:
            return dict(self.schema)
        return super().get_parameters_dict()


def to_llamaindex_tool(op: Operation, session: Any) -> FunctionTool:
    session = as_session(session)

    async def acall(**kwargs: Any) -> str:
        return (await op.call(session, kwargs)).text  # errors are text the model can read

    def call(**kwargs: Any) -> str:
        return session.blocking(lambda: acall(**kwargs))

    is_skill = op.schema is not None  # a skill: show its own JSON schema
    metadata = _SchemaMetadata(
        name=op.name,
        description=op.description,
        fn_schema=op.args_model,
        schema=op.input_schema() if is_skill else None,
    )
    return FunctionTool(fn=call, async_fn=acall, metadata=metadata)


class CodeModeToolSpec(BaseToolSpec):
    """py-code-mode's operations (and saved skills) as LlamaIndex tools."""

    spec_functions: list[str] = []

    def __init__(
        self,
        session: Any,
        operations: list[str] | None = None,
        skills_as_tools: bool = True,
        *,
        read_only: bool = False,
        max_skill_tools: int = 20,
    ) -> None:
        self.session = as_session(session)
        self.operations = operations
        self.skills_as_tools = skills_as_tools
        self.read_only = read_only
        self.max_skill_tools = max_skill_tools

    def _offered(self) -> list[Operation]:
        return offered_operations(
            self.session,
            self.operations,
            read_only=self.read_only,
            skills_as_tools=self.skills_as_tools,
            max_skill_tools=self.max_skill_tools,
        )

    def to_tool_list(self, *args: Any, **kwargs: Any) -> list[FunctionTool]:  # type: ignore[override]
        """The tools, from sync or async code (inside ``async with Session(...)`` too)."""
        return [to_llamaindex_tool(op, self.session) for op in self._offered()]

    async def ato_tool_list(self) -> list[FunctionTool]:
        return self.to_tool_list()

    async def code_execute_fn(self, code: str) -> dict[str, Any]:
        """For ``CodeActAgent(code_execute_fn=spec.code_execute_fn)``: run code in the session."""
        result = await self.session.run(code)
        output = result.repr if result.error is None and result.repr is not None else ""
        return {
            "stdout": result.stdout,
            "stderr": result.stderr + (result.traceback or result.error or ""),
            "output": output,
        }
