"""LlamaIndex: the catalog as a ``BaseToolSpec`` (``to_tool_list()``), skills as
``FunctionTool``s of their own, and a ``code_execute_fn`` for ``CodeActAgent``.

    from py_code_mode.integrations.llamaindex import CodeModeToolSpec
    agent = FunctionAgent(tools=CodeModeToolSpec(session).to_tool_list(), llm=llm)

Each call gives a ``ToolOutput`` whose ``content`` is the text for the model, ``raw_output``
the data behind it (an ``ExecutionResult`` for ``run_code``) and ``is_error`` whether the
operation failed. ``to_tool_list(["run_code", ...])`` offers only the named tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llama_index.core.tools import FunctionTool, ToolMetadata, ToolOutput
from llama_index.core.tools.tool_spec.base import BaseToolSpec

from py_code_mode.catalog import (
    OPERATIONS,
    Operation,
    OperationResult,
    as_session,
    offered_operations,
)


@dataclass
class _SchemaMetadata(ToolMetadata):
    """Metadata that shows a given JSON schema (a skill's own) instead of a model's."""

    schema: dict[str, Any] | None = None

    def get_parameters_dict(self) -> dict[str, Any]:
        if self.schema is not None:
            return dict(self.schema)
        return super().get_parameters_dict()


class CodeModeFunctionTool(FunctionTool):
    """A FunctionTool whose output carries the operation's data and error flag."""

    def _output(self, result: OperationResult, kwargs: dict[str, Any]) -> ToolOutput:
        return ToolOutput(
            content=result.text,  # errors too: text the model can read
            tool_name=self.metadata.get_name(),
            raw_input={"args": (), "kwargs": kwargs},
            raw_output=result.data if result.data is not None else result.text,
            is_error=result.is_error,
        )

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return self._output(self._fn(*args, **kwargs), kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return self._output(await self._async_fn(*args, **kwargs), kwargs)


def to_llamaindex_tool(op: Operation, session: Any) -> FunctionTool:
    session = as_session(session)

    async def acall(**kwargs: Any) -> OperationResult:
        return await op.call(session, kwargs)

    def call(**kwargs: Any) -> OperationResult:
        return session.blocking(lambda: acall(**kwargs))

    is_skill = op.schema is not None  # a skill: show its own JSON schema
    metadata = _SchemaMetadata(
        name=op.name,
        description=op.description,
        fn_schema=op.args_model,
        schema=op.input_schema() if is_skill else None,
    )
    return CodeModeFunctionTool(fn=call, async_fn=acall, metadata=metadata)


class CodeModeToolSpec(BaseToolSpec):
    """py-code-mode's operations (and saved skills) as LlamaIndex tools."""

    spec_functions: list[str] = list(OPERATIONS)  # plus each saved skill's tool

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

    def to_tool_list(  # type: ignore[override]
        self, spec_functions: list[str] | None = None, *args: Any, **kwargs: Any
    ) -> list[FunctionTool]:
        """The tools (only those named in ``spec_functions`` when given), from sync or async
        code (inside ``async with Session(...)`` too)."""
        offered = self._offered()
        if spec_functions is not None:
            names = [n if isinstance(n, str) else n[0] for n in spec_functions]
            unknown = sorted(set(names) - {op.name for op in offered})
            if unknown:
                raise ValueError(
                    f"no tool named {', '.join(unknown)}; offered: {', '.join(o.name for o in offered)}"
                )
            offered = [op for op in offered if op.name in names]
        return [to_llamaindex_tool(op, self.session) for op in offered]

    async def ato_tool_list(self, spec_functions: list[str] | None = None) -> list[FunctionTool]:
        return self.to_tool_list(spec_functions)

    async def code_execute_fn(self, code: str) -> dict[str, Any]:
        """For ``CodeActAgent(code_execute_fn=spec.code_execute_fn)``: run code in the session."""
        result = await self.session.run(code)
        output = result.repr if result.error is None and result.repr is not None else ""
        return {
            "stdout": result.stdout,
            "stderr": result.stderr + (result.traceback or result.error or ""),
            "output": output,
        }
