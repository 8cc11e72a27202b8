"""The pure ASGI layer in front of the session server's routes: auth, body limit, and
cancellation of requests whose client left.

* Auth: every path but the public ones (``/health`` and the OpenAPI pages) needs
  ``Authorization: Bearer <token>``, compared in constant time before the body is read; a
  missing, malformed or wrong token gets the same 401.
* A body over the limit gets 413 (from ``Content-Length`` up front, or counted as it streams).
* Starlette does not cancel a handler when its client disconnects, so a run whose HTTP client
  gave up would go on until its own timeout. Once the body is read, a task waits for the
  client's ``http.disconnect``; if it comes before the response is complete, the handler's task
  is cancelled, and a cancelled ``Session.run`` interrupts the code as a timeout does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths served without a token: liveness for load balancers, and the API description.
PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
UNAUTHORIZED = "unauthorized: send 'Authorization: Bearer <token>' with the server's token"


class GuardSettings:
    """What the guard enforces; ``token=None`` with ``auth_disabled=False`` refuses everything."""

    def __init__(self, token: str | None, auth_disabled: bool, max_body_bytes: int) -> None:
        self.expected = b"bearer " + token.encode() if token is not None else None
        self.auth_disabled = auth_disabled
        self.max_body_bytes = max_body_bytes


async def _answer(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"request body too large: the limit is {limit} bytes (--max-body-bytes)"


class RequestGuard:
    """Auth, body limit and cancel-on-disconnect for every HTTP request of ``app``.

    ``settings()`` returns the running server's :class:`GuardSettings`, or None while it starts
    (requests then pass to the app, whose routes answer 503 until it is ready)."""

    def __init__(self, app: ASGIApp, settings: Callable[[], GuardSettings | None]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings()
        if settings is None:
            await self.app(scope, receive, send)
            return
        authorization = b""
        declared = 0
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
        if not settings.auth_disabled and scope.get("path") not in PUBLIC_PATHS:
            # The scheme is case-insensitive; the token is compared in constant time.
            scheme, _, token = authorization.partition(b" ")
            if settings.expected is None or not hmac.compare_digest(
                scheme.lower() + b" " + token, settings.expected
            ):
                await _answer(send, 401, UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
                return
        limit = settings.max_body_bytes
        if declared < 0 or declared > limit:
            await _answer(send, 413, _too_large(limit), [(b"connection", b"close")])
            return
        await _Request(self.app, scope, receive, send, limit).serve()


class _Request:
    """One request: the body read through to the handler, then a watch for the client leaving."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int):
        self.app, self.scope, self.receive, self.send, self.limit = app, scope, receive, send, limit
        self.received = 0
        self.started = False
        self.complete = False
        self.refused = False
        self.gone = asyncio.Event()
        self.handler: asyncio.Task[None] | None = None
        self.watcher: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        self.handler = asyncio.ensure_future(
            self.app(self.scope, self._app_receive, self._app_send)
        )
        try:
            await self.handler
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # this request itself is being cancelled (server shutdown)
            # else the watcher cancelled the handler: its client left
        finally:
            if self.watcher is not None:
                self.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.watcher

    async def _app_receive(self) -> Message:
        if self.watcher is not None:  # the body was read: the next message is the disconnect
            await self.gone.wait()
            return {"type": "http.disconnect"}
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                if not self.started:
                    self.started = self.complete = True
                    await _answer(
                        self.send, 413, _too_large(self.limit), [(b"connection", b"close")]
                    )
                return {"type": "http.disconnect"}
            if not message.get("more_body", False):
                self.watcher = asyncio.get_running_loop().create_task(self._watch())
        return message

    async def _watch(self) -> None:
        """Wait for the client to go; cancel the handler if it goes before the response ends."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                if not self.complete and self.handler is not None:
                    self.handler.cancel()
                return

    async def _app_send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self.send(message)
