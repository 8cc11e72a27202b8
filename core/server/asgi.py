"""A pure ASGI middleware that bounds request bodies and cancels requests whose client left.

Starlette does not cancel a handler when its client disconnects (and its ``BaseHTTPMiddleware``
hides the disconnect), so a run whose HTTP client gave up would go on in the worker until its
own timeout. Here one task per request reads the client's messages; when it sees
``http.disconnect`` before the response is complete, it cancels the handler's task, and a
cancelled ``Session.run`` interrupts the code as a timeout does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _too_large(limit: int) -> bytes:
    return json.dumps(
        {"detail": f"request body too large: the limit is {limit} bytes (--max-body-bytes)"}
    ).encode()


class RequestGuard:
    """Refuse bodies over ``max_body_bytes`` with 413; cancel handlers whose client left."""

    def __init__(self, app: ASGIApp, max_body_bytes: int | Callable[[], int]) -> None:
        self.app = app
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit() if callable(self._limit) else self._limit
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    await self._refuse(send, limit)
                    return
        await _Request(self.app, scope, receive, send, limit).serve()

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = _too_large(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _Request:
    """One request's state: the messages read so far, the handler task, the response state."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int):
        self.app, self.scope, self.receive, self.send, self.limit = app, scope, receive, send, limit
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.received = 0
        self.started = False
        self.complete = False
        self.refused = False

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        handler = loop.create_task(self.app(self.scope, self._app_receive, self._app_send))
        listener = loop.create_task(self._listen(handler))
        try:
            await handler
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # this request itself is being cancelled (server shutdown)
            # else the listener cancelled the handler: its client left, or the body was too large
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self, handler: asyncio.Task[None]) -> None:
        """Read the client's messages for the handler; on a disconnect, cancel it."""
        while True:
            message = await self.receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.refused = True
                    if not self.started:
                        await RequestGuard._refuse(self.send, self.limit)
                        self.started = self.complete = True
                    handler.cancel()
                    return
                self.inbox.put_nowait(message)
                continue
            self.inbox.put_nowait(message)
            if message["type"] == "http.disconnect":
                if not self.complete:
                    handler.cancel()
                return

    async def _app_receive(self) -> Message:
        return await self.inbox.get()

    async def _app_send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self.send(message)
