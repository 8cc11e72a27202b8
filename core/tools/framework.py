"""Existing framework tools (LangChain, LlamaIndex, AutoGen) as plain async callables.

Recognized by their shape, so the core never imports a framework.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any


def _identifier(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name).strip("_") or "tool"
    return cleaned if not cleaned[0].isdigit() else f"t_{cleaned}"


def adapt_framework_tool(
    tool: Any,
) -> tuple[Callable[..., Awaitable[Any]], str, str, dict[str, Any]]:
    """``(async fn(**kwargs), name, description, input JSON schema)`` for a framework tool."""
    if hasattr(tool, "run_json") and hasattr(tool, "schema"):  # AutoGen BaseTool
        schema = dict(tool.schema)

        async def call_autogen(**kwargs: Any) -> Any:
            from autogen_core import CancellationToken

            result = await tool.run_json(kwargs, CancellationToken())
            return (
                tool.return_value_as_string(result)
                if not isinstance(result, (str, int, float, dict, list))
                else result
            )

        return (
            call_autogen,
            _identifier(schema["name"]),
            schema.get("description", ""),
            dict(schema.get("parameters") or {"type": "object", "properties": {}}),
        )
    if hasattr(tool, "metadata") and hasattr(tool, "acall"):  # LlamaIndex BaseTool
        metadata = tool.metadata

        async def call_llamaindex(**kwargs: Any) -> Any:
            output = await tool.acall(**kwargs)
            raw = getattr(output, "raw_output", None)
            return (
                raw
                if isinstance(raw, (str, int, float, bool, dict, list))
                else str(getattr(output, "content", output))
            )

        return (
            call_llamaindex,
            _identifier(metadata.name or "tool"),
            metadata.description or "",
            metadata.get_parameters_dict(),
        )
    if hasattr(tool, "ainvoke") and hasattr(tool, "name"):  # LangChain BaseTool
        schema = (
            tool.tool_call_schema.model_json_schema()
            if hasattr(tool.tool_call_schema, "model_json_schema")
            else dict(tool.tool_call_schema)
        )
        schema.pop("title", None)
        schema.pop("description", None)

        async def call_langchain(**kwargs: Any) -> Any:
            return await tool.ainvoke(kwargs)

        return call_langchain, _identifier(tool.name), tool.description or "", schema
    raise TypeError(
        f"{type(tool).__name__} is not a LangChain, LlamaIndex or AutoGen tool "
        "(register plain functions with register_tool)"
    )
