"""The in-process transport: namespace calls go straight to the host's objects.

Code runs on the session's cell thread, so blocking host methods simply run there. Async ones
(tool calls) are coroutines that belong on the host's event loop, where MCP connections and HTTP
clients live: a sync call hands the coroutine to that loop and waits — it never blocks the loop
itself — and on the host loop itself an awaitable is returned instead.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from .surface import SURFACE, Method

log = logging.getLogger("py_code_mode.namespaces")


def _view(value: Any, view: str) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if view == "fields":
        return value.model_dump()  # the model's own fields; datetimes stay datetimes
    return getattr(value, view)()


def plain(spec: Method, value: Any) -> Any:
    """A host method's result as plain data, by the method's declared result kind."""
    if spec.result == "records":
        return [_view(v, spec.view) for v in value or []]
    if spec.result == "record":
        return None if value is None else _view(value, spec.view)
    return value


class LocalTransport:
    """Calls the host objects that serve each namespace (``handlers``) directly."""

    def __init__(
        self,
        handlers: dict[str, Any],
        extras: dict[str, Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.handlers = handlers
        self.extras = extras or {}
        self.loop = loop

    def _running(self) -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def _start(self, namespace: str, method: str, args: tuple[Any, ...]) -> tuple[Method, Any]:
        spec = SURFACE[namespace][method]
        return spec, getattr(self.handlers[namespace], method)(*args)

    def call(self, namespace: str, method: str, args: tuple[Any, ...]) -> Any:
        spec, result = self._start(namespace, method, args)
        if not inspect.iscoroutine(result):
            return plain(spec, result)
        loop, current = self.loop, self._running()
        if loop is None or loop is current or loop.is_closed():
            if current is not None:
                return self._converted(spec, result)  # on the host loop: let the caller await
            return plain(spec, asyncio.run(result))
        return plain(spec, asyncio.run_coroutine_threadsafe(result, loop).result())

    async def _converted(self, spec: Method, coro: Any) -> Any:
        return plain(spec, await coro)

    def call_async(self, namespace: str, method: str, args: tuple[Any, ...]) -> Any:
        spec = SURFACE[namespace][method]
        handler = getattr(self.handlers[namespace], method)
        if not inspect.iscoroutinefunction(handler):
            return self._converted(spec, asyncio.to_thread(handler, *args))
        coro = handler(*args)
        loop, current = self.loop, self._running()
        if loop is None or current is loop or current is None:
            return self._converted(spec, coro)
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        return self._converted(spec, asyncio.wrap_future(future))

    def notify(self, namespace: str, method: str, args: tuple[Any, ...]) -> None:
        try:
            self._start(namespace, method, args)
        except Exception:  # statistics only: a failure must not fail the skill that ran
            log.warning("%s.%s failed", namespace, method, exc_info=True)

    def host_attribute(self, namespace: str, name: str) -> Any:
        target = self.extras.get(namespace)
        if target is None:
            raise AttributeError(f"{namespace} has no attribute {name!r}")
        return getattr(target, name)
