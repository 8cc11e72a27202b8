"""Tool adapters: each turns one kind of tool source into Tools and runs their calls."""

from typing import Any, Protocol, runtime_checkable

from ..models import Tool
from .cli import (
    CLIAdapter,
    CLICommandBuilder,
    CLIToolDefinition,
    Recipe,
    parse_cli_tool_dict,
    parse_cli_tool_yaml,
)
from .python import PythonToolAdapter


@runtime_checkable
class ToolAdapter(Protocol):
    """What a ToolRegistry needs from a source of tools."""

    def list_tools(self) -> list[Tool]: ...

    async def call_tool(
        self, name: str, callable_name: str | None, args: dict[str, Any]
    ) -> Any: ...

    async def close(self) -> None: ...


__all__ = [
    "CLIAdapter",
    "CLICommandBuilder",
    "CLIToolDefinition",
    "PythonToolAdapter",
    "Recipe",
    "ToolAdapter",
    "parse_cli_tool_dict",
    "parse_cli_tool_yaml",
]


def __getattr__(name: str) -> Any:
    # MCP and HTTP adapters import their clients lazily.
    if name in ("HTTPAdapter", "Endpoint"):
        from . import http

        return getattr(http, name)
    if name == "MCPAdapter":
        from .mcp import MCPAdapter

        return MCPAdapter
    raise AttributeError(name)
