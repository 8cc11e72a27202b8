"""Calling a Session's async API from sync code (framework tools' sync paths).

A Session is bound to the event loop it started on (its worker pipes and MCP connections live
there). Sync callers hand coroutines to that loop; a Session that has not started yet is
started on a private loop running on a daemon thread, which then serves all its calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def portal_loop() -> asyncio.AbstractEventLoop:
    """The shared background loop (started on first use)."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="py-code-mode-portal", daemon=True
            ).start()
            _loop = loop
        return _loop


def call_sync(session: Any, make: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
    """Run ``make()`` on the session's loop and wait for it from this (sync) thread."""
    loop = getattr(session, "loop", None)
    if loop is None or loop.is_closed():
        loop = portal_loop()
        asyncio.run_coroutine_threadsafe(_start(session), loop).result(timeout)
        loop = session.loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError(
            "a sync tool call cannot block the event loop its session runs on; use the async "
            "API (ainvoke / acall / await) inside async code"
        )
    if not loop.is_running():
        raise RuntimeError(
            "the session's event loop is not running; start the session inside a running loop, "
            "or let the tools start it (do not start it with asyncio.run before sync calls)"
        )
    return asyncio.run_coroutine_threadsafe(_coro(make), loop).result(timeout)


async def _start(session: Any) -> None:
    await session.start()


async def _coro(make: Callable[[], Awaitable[T]]) -> T:
    return await make()
