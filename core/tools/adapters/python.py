"""Python callables as tools: name, description and JSON schema from the signature and
docstring (the same schema builder that skills use). Calls run on the host."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from ...errors import ToolCallError, ToolNotFoundError
from ...schema import schema_from_callable
from ..models import Tool, ToolCallable, parameters_from_schema


class PythonToolAdapter:
    """Functions registered with ``register_tool`` (sync functions run in a thread)."""

    def __init__(self) -> None:
        self._tools: dict[str, tuple[Callable[..., Any], Tool]] = {}
        self._signatures: dict[str, tuple[Callable[..., Any], inspect.Signature | None]] = {}

    def register(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] = (),
        input_schema: dict[str, Any] | None = None,
    ) -> Tool:
        if not callable(fn):
            raise TypeError(f"register_tool needs a callable, not {type(fn).__name__}")
        schema = schema_from_callable(fn, name=name, description=description)
        tool_name = str(name or getattr(fn, "__name__", ""))
        if not tool_name.isidentifier():
            raise ValueError(f"tool name {tool_name!r} must be a Python identifier")
        input_schema = input_schema or schema.json_schema()
        tool = Tool(
            name=tool_name,
            description=schema.description,
            callables=[
                ToolCallable(
                    name=tool_name,
                    description=schema.description,
                    parameters=parameters_from_schema(input_schema),
                    input_schema=input_schema,
                )
            ],
            tags=list(tags),
        )
        self._tools[tool_name] = (fn, tool)
        return tool

    def _signature(self, name: str, fn: Callable[..., Any]) -> inspect.Signature | None:
        """``fn``'s signature, worked out once per registration (it costs more than a small
        tool's call); None when it has none (a wrapped framework tool validates itself)."""
        cached = self._signatures.get(name)
        if cached is not None and cached[0] is fn:
            return cached[1]
        try:
            signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None
        self._signatures[name] = (fn, signature)
        return signature

    def list_tools(self) -> list[Tool]:
        return [tool for _, tool in self._tools.values()]

    async def call_tool(self, name: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        if name not in self._tools:
            raise ToolNotFoundError(name, list(self._tools))
        if callable_name not in (None, name):
            raise ToolNotFoundError(f"{name}.{callable_name}", [f"{name}.{name}"])
        fn, _ = self._tools[name]
        signature = self._signature(name, fn)
        if signature is not None:
            try:
                signature.bind(**args)
            except TypeError as exc:
                raise ToolCallError(name, args, f"wrong arguments: {exc}") from None
        try:
            if inspect.iscoroutinefunction(fn):
                return await fn(**args)
            result = await asyncio.to_thread(fn, **args)
            if inspect.isawaitable(result):
                result = await result
            return result
        except (ToolCallError, ToolNotFoundError):
            raise
        except Exception as exc:
            raise ToolCallError(name, args, f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        return None
