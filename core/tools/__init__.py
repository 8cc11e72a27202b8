"""Tools: CLI commands (YAML with recipes), MCP servers, HTTP APIs and Python callables,
exposed to code as ``tools.<name>.<callable>(**kwargs)``."""

from .adapters import CLIAdapter, PythonToolAdapter, ToolAdapter
from .models import Tool, ToolCallable, ToolParameter
from .namespace import CallableProxy, ToolProxy, ToolsNamespace
from .registry import ToolRegistry


async def load_tools_from_path(path, embedder=None) -> ToolRegistry:  # type: ignore[no-untyped-def]
    """A registry with every tool file of a folder (the reference's helper)."""
    return await ToolRegistry.from_dir(path, embedder)


ScopedToolRegistry = ToolRegistry  # scoped_view() returns a registry of the same kind

__all__ = [
    "CLIAdapter",
    "CallableProxy",
    "PythonToolAdapter",
    "ScopedToolRegistry",
    "Tool",
    "ToolAdapter",
    "ToolCallable",
    "ToolParameter",
    "ToolProxy",
    "ToolRegistry",
    "ToolsNamespace",
    "load_tools_from_path",
]
