"""The host side of ``tools``: what the declared surface's methods do with the registry.

Code gets ``tools`` as :class:`py_code_mode.worker.namespaces.Tools` (in-process and in a worker
alike); its calls arrive at :class:`ToolsHost`. Tool calls always run here, on the host's event
loop, where MCP connections and HTTP clients live.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

from ..worker.local import LocalTransport
from ..worker.namespaces import ToolCallableHandle, ToolHandle, Tools
from .models import Tool
from .registry import ToolRegistry

#: The reference's names for ``tools.<name>`` and ``tools.<name>.<callable>``.
ToolProxy = ToolHandle
CallableProxy = ToolCallableHandle


class ToolsHost:
    """Serves the ``tools`` surface from a :class:`ToolRegistry`."""

    def __init__(self, registry: ToolRegistry) -> None:
        self.registry = registry
        self._views: dict[str, tuple[Tool, dict[str, Any]]] = {}

    def list(self) -> builtins.list[Tool]:
        return self.registry.list_tools()

    def search(self, query: str, limit: int = 10) -> builtins.list[Tool]:
        return self.registry.search(str(query), int(limit))

    def describe(self, name: str | None = None) -> str:
        return self.registry.describe(name)

    def get(self, name: str) -> dict[str, Any]:
        tool = self.registry.get_tool(name)
        cached = self._views.get(name)
        if cached is not None and cached[0] is tool:  # every tool call starts here: reuse
            return cached[1]
        view = {**tool.to_dict(), "callables": [c.code_view() for c in tool.callables]}
        self._views[name] = (tool, view)
        return view

    async def call(self, tool: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        return await self.registry.call_tool(tool, callable_name, dict(args))


class ToolsNamespace(Tools):
    """``tools`` over a registry, for code that builds one itself (the reference's
    ``ToolsNamespace(registry)``); sessions assemble theirs in ``execution.host``."""

    def __init__(
        self, registry: ToolRegistry, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        super().__init__(LocalTransport({"tools": ToolsHost(registry)}, loop=loop))
        self.registry = registry
