"""MCP servers as tools: ``tools.<name>.<server_tool>(**kwargs)``.

Each server's connection is owned by one long-lived task on the host (the MCP client's task
groups must be entered and left in the same task): opened when the tool file loads, closed with
the session, and reconnected once if it dies. A dead or hanging server gives a clear error within
the tool's timeout; the session goes on. Text results come back as ``str``, structured results
as data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...errors import ToolCallError, ToolNotFoundError, ToolTimeoutError
from ..models import Tool, ToolCallable, ToolName, parameters_from_schema

log = logging.getLogger(__name__)
_ENV_REF = re.compile(r"\$\{(\w+)\}")


def expand_env(value: str, *, what: str) -> str:
    """Replace ``${VAR}`` with the environment variable's value (missing → a clear error)."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ToolCallError(what, {}, f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


class MCPToolConfig(BaseModel):
    """A ``type: mcp`` tool file."""

    model_config = ConfigDict(extra="ignore")

    name: ToolName
    type: Literal["mcp"] = "mcp"
    description: str = ""
    transport: Literal["stdio", "http", "streamable-http", "streamable_http", "sse"] = "stdio"
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0)
    tags: list[str] = Field(default_factory=list)

    def model_post_init(self, _: Any) -> None:
        if self.transport == "stdio" and not self.command:
            raise ValueError("an MCP tool with transport 'stdio' needs 'command'")
        if self.transport != "stdio" and not self.url:
            raise ValueError(f"an MCP tool with transport '{self.transport}' needs 'url'")


class MCPAdapter:
    """One MCP server, namespaced as one tool whose callables are the server's tools."""

    def __init__(self, config: MCPToolConfig) -> None:
        self.config = config
        self.namespace = config.name
        self._client: Any = None
        self._owner: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._tools: list[Any] = []
        self._lock = asyncio.Lock()
        self._log: Any = None

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> MCPAdapter:
        return cls(MCPToolConfig.model_validate(data))

    @classmethod
    async def connect_stdio(
        cls,
        command: str,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        *,
        namespace: str,
    ) -> MCPAdapter:
        adapter = cls(
            MCPToolConfig(name=namespace, command=command, args=args or [], env=env or {})
        )
        await adapter.connect()
        return adapter

    @classmethod
    async def connect_http(
        cls,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        namespace: str,
        timeout: float = 30.0,
    ) -> MCPAdapter:
        adapter = cls(
            MCPToolConfig(
                name=namespace, transport="http", url=url, headers=headers or {}, timeout=timeout
            )
        )
        await adapter.connect()
        return adapter

    # --- connection --------------------------------------------------------------------------

    def _server(self) -> Any:
        from mcp import StdioServerParameters

        c = self.config
        if c.transport == "stdio":
            from mcp.client.stdio import stdio_client

            env = {k: expand_env(v, what=c.name) for k, v in c.env.items()}
            params = StdioServerParameters(
                command=c.command or "", args=list(c.args), env=env or None, cwd=c.cwd
            )
            # The server's stderr must not reach the host's (an MCP host may speak stdio itself).
            return stdio_client(params, errlog=self._errlog())
        headers = {k: expand_env(v, what=c.name) for k, v in c.headers.items()}
        if c.transport == "sse":
            from mcp.client.sse import sse_client

            return sse_client(c.url or "", headers=headers or None)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(c.timeout, read=300.0))
        return streamable_http_client(c.url or "", http_client=client)

    def _errlog(self) -> Any:
        if self._log is None:
            self._log = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the adapter
        return self._log

    async def connect(self) -> None:
        """Open the connection (in its owner task) and read the server's tool list."""
        from mcp import Client

        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._closing = asyncio.Event()
        closing = self._closing

        async def own() -> None:
            try:
                async with Client(self._server(), read_timeout_seconds=None) as client:
                    listed = await client.list_tools()
                    self._tools = list(listed.tools)
                    self._client = client
                    ready.set_result(None)
                    await closing.wait()
            except BaseException as exc:  # surfaces through `ready`, or marks the link dead
                if not ready.done():
                    ready.set_exception(
                        exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                    )
                elif not closing.is_set():
                    log.warning("MCP server %r disconnected: %r", self.namespace, exc)
            finally:
                self._client = None

        self._owner = asyncio.create_task(own(), name=f"mcp-{self.namespace}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.config.timeout)
        except TimeoutError:
            await self.close()
            raise ToolCallError(
                self.namespace, {}, f"MCP server did not answer within {self.config.timeout}s"
            ) from None
        except Exception as exc:
            await self.close()
            raise ToolCallError(
                self.namespace, {}, f"cannot connect to the MCP server: {_cause(exc)}"
            ) from exc

    @property
    def connected(self) -> bool:
        return self._client is not None and self._owner is not None and not self._owner.done()

    async def close(self) -> None:
        if self._closing is not None:
            self._closing.set()
        owner, self._owner = self._owner, None
        if owner is not None:
            try:
                await asyncio.wait_for(owner, 5.0)
            except (TimeoutError, Exception):
                owner.cancel()
                with contextlib.suppress(BaseException):
                    await owner
        self._client = None

    # --- tools -------------------------------------------------------------------------------

    def list_tools(self) -> list[Tool]:
        callables = []
        for t in self._tools:
            schema = dict(getattr(t, "input_schema", None) or getattr(t, "inputSchema", None) or {})
            callables.append(
                ToolCallable(
                    name=t.name,
                    description=t.description or "",
                    parameters=parameters_from_schema(schema),
                    input_schema=schema,
                )
            )
        described = "; ".join(f"{c.name}: {c.description}" for c in callables if c.description)
        description = self.config.description or described or f"MCP tools under {self.namespace}"
        return [
            Tool(
                name=self.namespace,
                description=description,
                callables=callables,
                tags=list(self.config.tags),
            )
        ]

    async def call_tool(self, name: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        if name != self.namespace:
            raise ToolNotFoundError(name, [self.namespace])
        target = callable_name or name
        known = [t.name for t in self._tools]
        if known and target not in known:
            raise ToolNotFoundError(f"{name}.{target}", [f"{name}.{k}" for k in known])
        await self._ensure_connected()
        try:
            result = await asyncio.wait_for(
                self._client.call_tool(target, args), self.config.timeout
            )
        except TimeoutError:
            raise ToolTimeoutError(f"{name}.{target}", self.config.timeout) from None
        except Exception as exc:
            if _is_connection_error(exc):
                # The server died: drop the link; the next call starts it again (no retry here,
                # so a call is never run twice).
                await self.close()
                raise ToolCallError(
                    name,
                    args,
                    f"the MCP server closed the connection during {target} "
                    "(it is restarted on the next call)",
                ) from exc
            raise ToolCallError(name, args, f"MCP call {target} failed: {_cause(exc)}") from exc
        return _result_value(name, target, args, result)

    async def _ensure_connected(self) -> None:
        async with self._lock:
            if not self.connected:
                await self.close()
                await self.connect()


def _is_connection_error(exc: BaseException) -> bool:
    import anyio

    if isinstance(
        exc,
        (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, ConnectionError),
    ):
        return True
    return "connection closed" in str(exc).lower()


def _cause(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)
    if inner:
        return _cause(inner[0])
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _result_value(name: str, target: str, args: dict[str, Any], result: Any) -> Any:
    texts = [getattr(item, "text", None) for item in (result.content or [])]
    text = "\n".join(t for t in texts if isinstance(t, str))
    if result.is_error:
        lowered = text.lower()
        if "not found" in lowered or "unknown tool" in lowered:
            raise ToolNotFoundError(f"{name}.{target}", [])
        raise ToolCallError(name, args, text or "the MCP server reported an error")
    structured = result.structured_content
    if structured is not None:
        # Servers wrap plain return values as {"result": value}.
        if isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured
    return text
