"""``tools`` inside code (in-process), and the host side of the worker's ``tools`` proxy.

In-process code runs on the session's cell thread; tool calls are coroutines on the host's
event loop (where MCP connections and HTTP clients live), so a sync call hands the coroutine to
that loop and waits — it never blocks the loop itself, and works from inside ``async def`` code.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import ToolNotFoundError
from .models import Tool, ToolCallable
from .registry import ToolRegistry


class ToolsNamespace:
    """``tools.list()``, ``tools.search(q)``, ``tools.describe()``, ``tools.<name>...``."""

    def __init__(
        self, registry: ToolRegistry, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.registry = registry
        self._loop = loop

    def list(self) -> list[Tool]:
        return self.registry.list_tools()

    def search(self, query: str, limit: int = 10) -> list[Tool]:
        return self.registry.search(query, limit)

    def describe(self, name: str | None = None) -> str:
        return self.registry.describe(name)

    def __getattr__(self, name: str) -> ToolProxy:
        if name.startswith("_"):
            raise AttributeError(name)
        return ToolProxy(self, self.registry.get_tool(name))

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.registry.names()})

    def __repr__(self) -> str:
        return f"<tools namespace: {len(self.registry.names())} tool(s)>"

    # --- calls -------------------------------------------------------------------------------

    def _current_loop(self) -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def call(self, tool: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        """Blocking call from code; on the host loop itself it returns an awaitable instead."""
        coro = self.registry.call_tool(tool, callable_name, args)
        loop = self._loop
        if loop is None or self._current_loop() is loop or loop.is_closed():
            if self._current_loop() is not None:
                return coro  # called from async host code: let the caller await it
            return asyncio.run(coro)
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def call_sync(self, tool: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        result = self.call(tool, callable_name, args)
        if asyncio.iscoroutine(result):
            result.close()
            raise RuntimeError(
                "call_sync() cannot block the event loop it runs on; use call_async()"
            )
        return result

    def call_async(self, tool: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        """An awaitable for the current event loop."""
        coro = self.registry.call_tool(tool, callable_name, args)
        loop = self._loop
        current = self._current_loop()
        if loop is None or current is loop or current is None:
            return coro
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


class ToolProxy:
    """``tools.<name>``: call it (the raw tool), or pick a callable: ``tools.<name>.<recipe>``."""

    def __init__(self, owner: Any, tool: Tool) -> None:
        self._owner = owner
        self._tool = tool

    def __call__(self, **kwargs: Any) -> Any:
        return self._owner.call(self._tool.name, None, kwargs)

    def call_sync(self, **kwargs: Any) -> Any:
        return self._owner.call_sync(self._tool.name, None, kwargs)

    def call_async(self, **kwargs: Any) -> Any:
        return self._owner.call_async(self._tool.name, None, kwargs)

    def list(self) -> list[ToolCallable]:
        return list(self._tool.callables)

    def describe(self) -> str:
        return self._tool.stub()

    def __getattr__(self, name: str) -> CallableProxy:
        if name.startswith("_"):
            raise AttributeError(name)
        found = self._tool.get_callable(name)
        if found is None and not self._tool.callables:
            found = ToolCallable(
                name=name
            )  # not listed yet (an unreachable MCP server): let the adapter decide
        if found is None:
            raise ToolNotFoundError(
                f"{self._tool.name}.{name}",
                [f"{self._tool.name}.{c.name}" for c in self._tool.callables],
            )
        return CallableProxy(self._owner, self._tool.name, found)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(c.name for c in self._tool.callables)})

    def __repr__(self) -> str:
        return str(self._tool)


class CallableProxy:
    """``tools.<name>.<callable>``: call it sync, or ``await ....call_async(...)``."""

    def __init__(self, owner: Any, tool: str, callable_: ToolCallable) -> None:
        self._owner = owner
        self._tool = tool
        self._callable = callable_

    def __call__(self, **kwargs: Any) -> Any:
        return self._owner.call(self._tool, self._callable.name, kwargs)

    def call_sync(self, **kwargs: Any) -> Any:
        return self._owner.call_sync(self._tool, self._callable.name, kwargs)

    def call_async(self, **kwargs: Any) -> Any:
        return self._owner.call_async(self._tool, self._callable.name, kwargs)

    def describe(self) -> dict[str, str]:
        return {p.name: p.description for p in self._callable.parameters}

    def signature(self) -> str:
        return self._callable.signature()

    def __repr__(self) -> str:
        return f"<tools.{self._tool}.{self._callable.signature()}>"


class ToolsRPC:
    """What the worker's ``tools`` proxy may call on the host; results are plain data."""

    def __init__(self, registry: ToolRegistry) -> None:
        self.registry = registry

    def list(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.registry.list_tools()]

    async def search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(self.registry.search, str(query), int(limit))
        return [t.to_dict() for t in found]

    def describe(self, name: str | None = None) -> str:
        return self.registry.describe(name)

    def get(self, name: str) -> dict[str, Any]:
        tool = self.registry.get_tool(name)
        return {**tool.to_dict(), "callables": [c.code_view() for c in tool.callables]}

    async def call(self, tool: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        return await self.registry.call_tool(tool, callable_name, dict(args))
