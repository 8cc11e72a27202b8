"""The catalog as an MCP server (the ``mcp`` package), over stdio or streamable HTTP.

Each catalog operation is an MCP tool with its input schema; each saved skill is offered as a
tool of its own, and the server sends ``tools/list_changed`` when the library changes. Skills
are readable as ``skill://<name>`` resources and artifacts as ``artifact://<name>`` with their
media type. Every MCP client session gets its own Session (closed when the client goes away;
at most ``max_sessions`` at once). Errors in user code come back as tool results with
``isError``; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from py_code_mode import Session
from py_code_mode.catalog import Operation, OperationResult, select, skills_as_operations

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Write Python instead of calling one tool per step: run_code runs code in a persistent "
    "session where `tools`, `skills`, `artifacts` and `deps` are ready. Search skills first; "
    "when a workflow works, save it with create_skill."
)
_MEDIA_TYPES = {
    "json": "application/json",
    "text": "text/plain",
    "bytes": "application/octet-stream",
}
# Reference clients expect these results as objects rather than text.
_DATA_RESULTS = {"create_skill", "delete_skill", "add_dep", "remove_dep"}


class SessionLimitError(RuntimeError):
    pass


class CodeModeMCPServer:
    """Builds the MCP server and owns the Sessions of its clients."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        operations: Iterable[str] | None = None,
        read_only: bool = False,
        skills_as_tools: bool = True,
        max_skill_tools: int = 20,
        max_sessions: int = 16,
        name: str = "py-code-mode",
    ) -> None:
        self._factory = session_factory
        self._catalog = select(operations, read_only=read_only)
        self._skills_as_tools = skills_as_tools
        self._max_skill_tools = max_skill_tools
        self._max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = asyncio.Lock()
        # A never-started Session serves listings that only need the storage.
        self.browser = session_factory()
        self._skill_tools: dict[str, tuple[str, Operation]] = {}
        self.server = MCPServer(name, instructions=INSTRUCTIONS)
        for op in self._catalog:
            self._add_tool(op)
        self._add_resources()

    # --- sessions ----------------------------------------------------------------------------

    async def session_for(self, ctx: Context | None) -> Session:
        """The Session of the calling MCP client (created on its first call)."""
        key = self._client_key(ctx)
        async with self._lock:
            session = self._sessions.get(key)
            if session is None:
                if len(self._sessions) >= self._max_sessions:
                    raise SessionLimitError(
                        f"too many concurrent sessions (limit {self._max_sessions}); try again later"
                    )
                session = self._factory()
                await session.start()
                self._sessions[key] = session
                if key != "default" and ctx is not None:
                    with contextlib.suppress(
                        TypeError
                    ):  # close when the client's session goes away
                        weakref.finalize(ctx.session, self._forget, key)
            return session

    @staticmethod
    def _client_key(ctx: Context | None) -> str:
        """Which client is calling: its MCP session id over HTTP; stdio (and stateless HTTP)
        has one client per server, hence one Session."""
        headers = None
        with contextlib.suppress(Exception):
            headers = ctx.headers if ctx is not None else None
        session_id = (headers or {}).get("mcp-session-id")
        return f"http:{session_id}" if session_id else "default"

    def _forget(self, key: str) -> None:
        session = self._sessions.pop(key, None)
        if session is None:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(session.close())

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.close()

    # --- tools -------------------------------------------------------------------------------

    def _add_tool(self, op: Operation, *, skill: bool = False) -> str:
        schema = op.input_schema()
        params = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any)
            for name in schema.get("properties", {})
            if name.isidentifier() and name != "ctx"
        ]
        params.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))

        async def call(**kwargs: Any) -> Any:
            ctx = kwargs.pop("ctx", None)
            arguments = {k: v for k, v in kwargs.items() if v is not None}
            return await self._call(op, arguments, ctx, skill=skill)

        call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        call.__annotations__ = {p.name: p.annotation for p in params}
        call.__name__ = op.name
        self.server.add_tool(
            call, name=op.name, description=op.description, structured_output=False
        )
        tool = self.server._tool_manager.get_tool(op.name)
        if tool is not None:
            tool.parameters = schema  # show the operation's own schema, not the shim's
        return op.name

    async def _call(
        self, op: Operation, arguments: dict[str, Any], ctx: Context | None, *, skill: bool
    ) -> Any:
        from mcp.server.mcpserver.exceptions import ToolError

        try:
            session = await self.session_for(ctx)
        except SessionLimitError as exc:
            raise ToolError(str(exc)) from None
        result: OperationResult = await op.call(session, arguments)
        if op.name in ("run_code", "create_skill", "delete_skill", "invoke_skill") or skill:
            await self.refresh_skill_tools(ctx)
        if result.is_error:
            raise ToolError(result.text)  # an isError result; the server keeps serving
        if op.name in _DATA_RESULTS:
            return result.data
        return result.text

    async def refresh_skill_tools(self, ctx: Context | None = None) -> bool:
        """Make the skill tools match the library; tell the client when they changed."""
        if not self._skills_as_tools:
            return False
        ops = await asyncio.to_thread(skills_as_operations, self.browser, self._max_skill_tools)
        taken = {op.name for op in self._catalog}
        wanted: dict[str, tuple[str, Operation]] = {}
        for op in ops:
            name = op.name if op.name not in taken else f"skill_{op.name}"
            op.name = name
            wanted[name] = (str(op.input_schema()) + op.description, op)
        if {k: v[0] for k, v in wanted.items()} == {k: v[0] for k, v in self._skill_tools.items()}:
            return False
        for name in self._skill_tools:
            with contextlib.suppress(Exception):
                self.server.remove_tool(name)
        for _, op in wanted.values():
            self._add_tool(op, skill=True)
        self._skill_tools = wanted
        if ctx is not None:
            # Handshake-era clients get the classic notification; 2026-era ones subscribe.
            with contextlib.suppress(Exception):
                await ctx.session.send_tool_list_changed()
            with contextlib.suppress(Exception):
                await ctx.notify_tools_changed()
        return True

    # --- resources ---------------------------------------------------------------------------

    def _add_resources(self) -> None:
        @self.server.resource(
            "skill://{name}", mime_type="text/x-python", description="A saved skill's source"
        )
        async def skill_source(name: str) -> str:
            skill = await self.browser.get_skill(name)
            if skill is None:
                raise ValueError(f"no skill named {name!r}")
            return str(skill["source"])

        @self.server.resource("artifact://{name}", description="A stored artifact")
        async def artifact(name: str) -> str | bytes:
            data = await self.browser.load_artifact(name)
            if isinstance(data, (str, bytes)):
                return data
            from py_code_mode.catalog import as_json

            return as_json(data)

    async def add_artifact_resources(self) -> None:
        """List each artifact as a concrete resource with its media type."""
        from mcp.server.mcpserver.resources import FunctionResource

        for item in await self.browser.list_artifacts():
            name = item["name"]
            kind = item.get("metadata", {}).get("_data_type", "text")

            async def read(name: str = name) -> Any:
                data = await self.browser.load_artifact(name)
                if isinstance(data, (str, bytes)):
                    return data
                from py_code_mode.catalog import as_json

                return as_json(data)

            self.server.add_resource(
                FunctionResource(
                    uri=f"artifact://{name}",
                    name=name,
                    description=item.get("description") or None,
                    mime_type=_MEDIA_TYPES.get(kind, "text/plain"),
                    fn=read,
                )
            )

    # --- running -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        await self.refresh_skill_tools(None)
        with contextlib.suppress(Exception):
            await self.add_artifact_resources()

    async def run_stdio(self) -> None:
        await self.prepare()
        try:
            await self.server.run_stdio_async()
        finally:
            await self.close()

    async def run_http(
        self, host: str = "127.0.0.1", port: int = 8000, token: str | None = None
    ) -> None:
        """Serve streamable HTTP at ``/mcp``; with a token, every request must carry it."""
        import uvicorn

        if token is None and host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(
                f"refusing to serve on {host} without a token: pass --token (or set PY_CODE_MODE_MCP_TOKEN)"
            )
        await self.prepare()
        app = self.server.streamable_http_app(host=host, max_sessions=self._max_sessions)
        if token is not None:
            app = BearerTokenMiddleware(app, token)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        try:
            await uvicorn.Server(config).serve()
        finally:
            await self.close()


class BearerTokenMiddleware:
    """Refuses HTTP requests without ``Authorization: Bearer <token>`` (constant-time compare)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            supplied = headers.get(b"authorization", b"")
            expected = b"Bearer " + self._token
            if not hmac.compare_digest(supplied, expected):
                body = b'{"error": "unauthorized: a bearer token is required"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
