"""Reaching a Session's event loop from anywhere: another loop, another thread, sync code.

A Session is bound to one event loop when it starts (its worker pipes, MCP connections and
waiter futures live there). This module holds the two ways in from elsewhere:

* :func:`hop` — an ``await`` from another loop runs the coroutine on the owning loop and waits
  for it without blocking its own loop (cancellation travels with it);
* :func:`wait_sync` — a blocking call from a thread. If the owning loop's thread is itself stuck
  in a blocking wait (a notebook cell running a sync ``agent.invoke`` whose framework calls our
  tools from worker threads), the call would wait forever: it fails fast with
  :class:`~py_code_mode.errors.SessionLoopError` instead.

:class:`LoopThread` is the private loop a Session starts on when its first user is sync code
(the sync facade): it runs on its own daemon thread and is stopped when the Session closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .errors import SessionLoopError

T = TypeVar("T")

#: How long a blocking call waits for the owning loop to pick its work up before it looks at
#: what that loop's thread is doing.
_PICKUP_GRACE = 0.5
_POLL = 0.1
#: Innermost frames that mean "this thread is parked in a blocking wait on other threads".
_BLOCKING_WAITS = (
    ("threading.py", {"wait", "acquire", "join", "_wait_for_tstate_lock"}),
    ("_base.py", {"result", "wait", "as_completed", "exception"}),  # concurrent.futures
    ("queue.py", {"get", "put", "join"}),
    ("thread.py", {"shutdown"}),  # ThreadPoolExecutor.shutdown(wait=True)
)


class LoopThread:
    """An event loop running forever on its own daemon thread (until :meth:`stop`)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def stop(self) -> None:
        """Stop the loop; waits for the thread unless called from it."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout=10)


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def hop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` (another thread's) and await it from the current loop.

    Cancelling the awaiting task cancels the coroutine on ``loop`` too."""
    if loop.is_closed() or not loop.is_running():
        coro.close()
        raise SessionLoopError(
            "the session's event loop has stopped (it was bound when the session started); "
            "start the session again inside a running loop, or use SyncSession from sync code"
        )
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def wait_sync(
    loop: asyncio.AbstractEventLoop,
    loop_thread: int | None,
    make: Callable[[], Awaitable[T]],
) -> T:
    """Run ``make()`` on ``loop`` and block this thread until it finishes.

    Raises SessionLoopError at once when called on the loop's own thread, and soon when that
    thread is parked in a blocking wait and so can never run the call."""
    if running_loop() is loop or threading.get_ident() == loop_thread:
        raise SessionLoopError(
            "a sync call cannot block the event loop its session runs on; in async code use the "
            "async API (await tool.ainvoke(...), await agent.run(...), await session.run(...))"
        )
    if loop.is_closed() or not loop.is_running():
        raise SessionLoopError(
            "the session's event loop is not running (it was bound when the session started); "
            "use SyncSession, or let the framework tools start the session from sync code"
        )
    picked_up = threading.Event()

    async def runner() -> T:
        picked_up.set()
        return await make()

    future = asyncio.run_coroutine_threadsafe(runner(), loop)
    if not picked_up.wait(_PICKUP_GRACE):
        while not picked_up.wait(_POLL):
            # cancel() fails when the call started meanwhile: then it just runs to its end.
            if loop_thread is not None and _parked(loop_thread) and future.cancel():
                raise SessionLoopError(
                    "the session's event loop is blocked by synchronous code that waits for "
                    "this call (for example a sync agent.invoke(...) in a notebook cell or "
                    "inside async code); use the framework's async API there "
                    "(await agent.ainvoke / agent.run / agent.achat), or create the session "
                    "in sync code with SyncSession"
                )
            if loop.is_closed():
                raise SessionLoopError("the session's event loop stopped before the call ran")
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        raise SessionLoopError("the call was cancelled on the session's event loop") from None


def _parked(thread_id: int) -> bool:
    """Whether the thread's innermost Python frame is a blocking wait on other threads."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return False
    filename = frame.f_code.co_filename.replace("\\", "/").rsplit("/", 1)[-1]
    return any(filename == f and frame.f_code.co_name in names for f, names in _BLOCKING_WAITS)
