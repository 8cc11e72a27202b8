"""The catalog as an MCP server (the ``mcp`` package), over stdio or streamable HTTP.

Each catalog operation is an MCP tool with its input schema and annotations; each saved skill
is offered as a tool of its own. Skills are readable as ``skill://<name>`` resources and
artifacts as ``artifact://<name>`` with their media type; the server tells a client when the
tools or the artifacts changed since it last heard (``notifications/*/list_changed``).

Sessions: every MCP client gets its own :class:`~py_code_mode.Session`, whose variables last
across that client's calls. Over stdio a server process has one client. Over HTTP a client is
identified by its ``Mcp-Session-Id``: the server mints it at the client's ``initialize``, the
SDK's session manager answers 404 to an id it did not mint, so two clients never share state.
The 2026-07-28 protocol has no sessions (nothing on the wire tells two of its clients apart),
so per-client serving answers its requests with "unsupported protocol version" naming the
handshake versions, and SDK clients fall back to the handshake. A Session ends when its
client ends the MCP session (HTTP ``DELETE``), after ``idle_timeout`` seconds without a call,
or when the server stops; at most ``max_sessions`` exist at once. ``shared_session=True``
serves every client from one Session instead (any protocol version).

Errors in user code come back as tool results with ``isError``; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import ipaddress
import json
import logging
import math
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from mcp.server import MCPServer
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.types import (
    UNSUPPORTED_PROTOCOL_VERSION,
    CallToolResult,
    Resource,
    TextContent,
    Tool,
    ToolAnnotations,
    UnsupportedProtocolVersionErrorData,
)
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from py_code_mode import Session
from py_code_mode.catalog import Operation, OperationResult, as_json, offered_operations
from py_code_mode.errors import ConfigurationError, SessionError

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Write Python instead of calling one tool per step: run_code runs code in a persistent "
    "session where `tools`, `skills`, `artifacts` and `deps` are ready. Search skills first; "
    "when a workflow works, save it with create_skill."
)
#: Seconds without a call after which a client's Session is closed (the SDK's default too).
DEFAULT_IDLE_TIMEOUT = 30 * 60.0
_MEDIA_TYPES = {
    "json": "application/json",
    "text": "text/plain",
    "bytes": "application/octet-stream",
}
# Reference clients expect these results as objects (JSON text) rather than rendered text.
_DATA_RESULTS = {"create_skill", "delete_skill", "add_dep", "remove_dep"}
ARTIFACT_SCHEME = "artifact://"
_LOOPBACK_NAMES = {"localhost"}
# Keys of clients whose Session was closed for idleness, remembered so that their next run
# says so; bounded because a client that never comes back is never heard of again.
_EXPIRED_MEMORY = 1024


class SessionLimitError(SessionError):
    """The server already holds ``max_sessions`` Sessions."""


# --- tool annotations ----------------------------------------------------------------------

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
# What each writing operation does to its environment, beyond "it writes" (Operation.writes).
_WRITE_ANNOTATIONS: dict[str, ToolAnnotations] = {
    # Arbitrary code: it may change or delete anything and call out through tools.
    "run_code": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
    ),
    "invoke_skill": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
    ),
    # A new version of a skill; earlier versions are kept, so nothing is lost.
    "create_skill": ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
    ),
    "delete_skill": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    ),
    # Saving under an existing name replaces that artifact.
    "save_artifact": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    ),
    # Installs from a package index.
    "add_dep": ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    ),
    "remove_dep": ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    ),
}


def annotations_for(op: Operation) -> ToolAnnotations:
    """MCP hints for an operation: read-only from ``Operation.writes``, the rest per operation
    (a saved skill is arbitrary code, like ``invoke_skill``; an unknown writer is assumed
    destructive)."""
    if not op.writes:
        return _READ
    if "skill" in op.tags:
        return _WRITE_ANNOTATIONS["invoke_skill"]
    return _WRITE_ANNOTATIONS.get(
        op.name, ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)
    )


# --- read-only view --------------------------------------------------------------------------


class ReadOnlySessionView:
    """The Session as read-only operations see it: only reading methods exist.

    A read-only server hands this to operations, so nothing they do can write: a long result
    is cut instead of being kept as an artifact, and a future operation that tried to write
    would fail loudly instead of writing."""

    _READS = frozenset(
        {
            "list_skills",
            "search_skills",
            "get_skill",
            "list_tools",
            "search_tools",
            "list_artifacts",
            "load_artifact",
            "list_deps",
        }
    )

    def __init__(self, session: Session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        if name in self._READS:
            return getattr(self._session, name)
        raise SessionError(f"{name} writes, and this MCP server is read-only")


# --- clients -------------------------------------------------------------------------------


@dataclass
class _Client:
    """One MCP client's Session and what the server last told that client."""

    key: str
    session: Session
    starting: asyncio.Future[None]
    in_flight: int = 0
    idle_timer: asyncio.TimerHandle | None = None
    expired_before: bool = False  # an earlier Session of this client was closed for idleness
    tools_seen: Any = None
    artifacts_seen: Any = None


@dataclass(frozen=True)
class _Schema:
    """An operation's input schema, built once: as listed, as compared, as checked."""

    listed: dict[str, Any]
    text: str
    validator: Any


def _schema_key(op: Operation) -> tuple[Any, ...]:
    """What an operation's schema is made from: a skill's own schema (as JSON text: a skill
    saved again with another signature gets a new key; its arguments model is made afresh at
    each re-read, so it cannot be the key), else its arguments model."""
    if op.schema is not None:
        return (op.name, json.dumps(op.schema, sort_keys=True, default=str))
    return (op.name, op.args_model)


T = TypeVar("T")


class _Latest(Generic[T]):
    """Re-reads shared by concurrent callers: each caller gets the result of a read that began
    after it asked, but callers arriving while one read runs share the single next one, so
    any number of clients cost at most one read running and one waiting (not one each)."""

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._running: asyncio.Task[T] | None = None
        self._next: asyncio.Task[T] | None = None

    async def get(self) -> T:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_task(self._after(self._running))
            # Its callers may all be cancelled: never leave its failure unread.
            self._next.add_done_callback(_read_outcome)
        # Shielded: one caller's cancellation must not cancel the read the others share.
        return await asyncio.shield(self._next)

    async def _after(self, before: asyncio.Task[T] | None) -> T:
        if before is not None:
            await asyncio.wait([before])
        self._running, self._next = self._next, None
        return await self._read()


def _fingerprint_artifacts(listed: Iterable[dict[str, Any]]) -> tuple[Any, ...]:
    return tuple(sorted((str(a.get("name")), str(a.get("created_at"))) for a in listed))


def _validator(schema: dict[str, Any]) -> Any:
    """A JSON Schema validator for the schema's dialect (2020-12 unless it names another)."""
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema)


def artifact_uri(name: str) -> str:
    """``artifact://`` plus the name, percent-encoded (slashes kept)."""
    return ARTIFACT_SCHEME + quote(name, safe="/")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _SDKServer(MCPServer):
    """The SDK's server with our tool table and live artifact resources.

    ``list_tools``/``call_tool``/``list_resources``/``read_resource`` are the SDK's public
    hooks for what its request handlers serve; overriding them keeps the tool list and the
    artifact list read from the storage at each request rather than registered once."""

    def __init__(self, owner: CodeModeMCPServer, name: str) -> None:
        from py_code_mode._version import package_version

        super().__init__(
            name,
            version=package_version(),  # clients see which py-code-mode serves them
            instructions=INSTRUCTIONS,
            middleware=[_ProtocolMiddleware(owner)],
        )
        self._owner = owner

    async def list_tools(self) -> list[Tool]:
        return [
            Tool(
                name=op.name,
                description=op.description,
                input_schema=self._owner.schema_of(op).listed,
                annotations=annotations_for(op),
            )
            for op in self._owner.offered.values()
        ]

    async def call_tool(  # type: ignore[override]
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> Any:
        op = self._owner.offered.get(name)
        if op is None:
            return _error_result(f"Error: unknown tool {name!r}")
        return await self._owner.call(op, arguments, context)

    async def list_resources(self) -> list[Resource]:
        listed = await self._owner.browser.list_artifacts()
        artifacts = [
            Resource(
                uri=artifact_uri(item["name"]),
                name=item["name"],
                description=item.get("description") or None,
                mime_type=_MEDIA_TYPES.get(
                    (item.get("metadata") or {}).get("_data_type", "text"), "text/plain"
                ),
            )
            for item in listed
        ]
        return [*await super().list_resources(), *artifacts]

    async def read_resource(self, uri: Any, context: Context | None = None) -> Any:  # type: ignore[override]
        text = str(uri)
        if not text.startswith(ARTIFACT_SCHEME):
            return await super().read_resource(uri, context)
        name = unquote(text[len(ARTIFACT_SCHEME) :])
        try:
            data = await self._owner.browser.load_artifact(name)
        except (LookupError, ValueError) as exc:  # missing, or an invalid name
            raise ResourceNotFoundError(f"no artifact {name!r}: {exc}") from None
        if isinstance(data, bytes):
            return [ReadResourceContents(content=data, mime_type=_MEDIA_TYPES["bytes"])]
        if isinstance(data, str):
            return [ReadResourceContents(content=data, mime_type=_MEDIA_TYPES["text"])]
        return [ReadResourceContents(content=as_json(data), mime_type=_MEDIA_TYPES["json"])]


class _ProtocolMiddleware:
    """SDK middleware: advertise ``listChanged`` for tools and resources (this server sends
    both), and, when clients are served one Session each over HTTP, refuse the sessionless
    2026-07-28 protocol so the client falls back to the handshake."""

    def __init__(self, owner: CodeModeMCPServer) -> None:
        self._owner = owner

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        version = ctx.protocol_version
        if self._owner.needs_client_identity and version in MODERN_PROTOCOL_VERSIONS:
            data = UnsupportedProtocolVersionErrorData(
                supported=list(HANDSHAKE_PROTOCOL_VERSIONS), requested=version
            )
            raise MCPError(
                code=UNSUPPORTED_PROTOCOL_VERSION,
                message=(
                    f"protocol {version} has no sessions, and this server keeps one Python "
                    "session per client: connect with the initialize handshake "
                    f"({HANDSHAKE_PROTOCOL_VERSIONS[-1]}), or start the server with "
                    "--shared-session"
                ),
                data=data.model_dump(mode="json", by_alias=True),
            )
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict):
            capabilities = result.get("capabilities") or {}
            for kind in ("tools", "resources"):
                if isinstance(capabilities.get(kind), dict):
                    capabilities[kind]["listChanged"] = True
        return result


def _read_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a session failed to start: %s", future.exception())


def _error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


class CodeModeMCPServer:
    """Builds the MCP server and owns the Sessions of its clients.

    ``session_factory`` makes a new, unstarted Session (``py_code_mode.factory.create_session``
    behind it). ``read_only`` offers only operations that write nothing (no saved skills, no
    run_code) and hands them a :class:`ReadOnlySessionView`. ``shared_session`` serves every
    client from one Session; otherwise each client gets its own, at most ``max_sessions`` at
    once, each closed after ``idle_timeout`` seconds without a call (``None``: never)."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        operations: Iterable[str] | None = None,
        read_only: bool = False,
        skills_as_tools: bool = True,
        max_skill_tools: int = 20,
        max_sessions: int = 16,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        shared_session: bool = False,
        name: str = "py-code-mode",
    ) -> None:
        if max_sessions < 1:
            raise ConfigurationError(f"max_sessions must be at least 1, not {max_sessions}")
        if idle_timeout is not None and not (math.isfinite(idle_timeout) and idle_timeout > 0):
            raise ConfigurationError(
                f"idle_timeout must be a finite number of seconds > 0 (or None), not {idle_timeout}"
            )
        self._factory = session_factory
        self._operations = list(operations) if operations is not None else None
        self._read_only = read_only
        self._skills_as_tools = skills_as_tools
        self._max_skill_tools = max_skill_tools
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.shared_session = shared_session
        # Set while serving HTTP with one Session per client: requests must name their client.
        self.needs_client_identity = False
        self._clients: dict[str, _Client] = {}
        self._expired: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        # After every call the skills and the artifacts are re-read (to tell clients what
        # changed); concurrent calls share those reads, and schemas are built once per tool.
        self._skills_read: _Latest[None] = _Latest(self._reread_skills)
        self._artifacts_read: _Latest[Hashable] = _Latest(self._reread_artifacts)
        self._schemas: dict[tuple[Any, ...], _Schema] = {}
        # A never-started Session serves listings that only need the storage.
        self.browser = session_factory()
        self.offered: dict[str, Operation] = {}
        self._offered_print: tuple[Any, ...] = ()
        self._set_offered(
            offered_operations(
                self.browser,
                self._operations,
                read_only=read_only,
                skills_as_tools=skills_as_tools,
                max_skill_tools=max_skill_tools,
            )
        )
        self.server = _SDKServer(self, name)
        self._add_resource_templates()

    # --- sessions ----------------------------------------------------------------------------

    def client_key(self, ctx: Context | None) -> str:
        """Which client is calling. ``shared`` when one Session serves all; ``local`` on stdio
        (one client per process); over HTTP ``http:<Mcp-Session-Id>``, an id the SDK minted
        at this client's ``initialize`` and checks on every request (404 for any other)."""
        if self.shared_session:
            return "shared"
        headers = _headers(ctx)
        if headers is None:
            return "local"
        session_id = headers.get("mcp-session-id")
        if not session_id:
            raise SessionError(
                "this request carries no Mcp-Session-Id: connect with the initialize handshake "
                "(protocol 2025-11-25 or earlier) to get a session of your own"
            )
        return f"http:{session_id}"

    async def _checkout(self, key: str) -> _Client:
        """The client's Session, started (made on its first call); counts the call in flight."""
        client = self._clients.get(key)
        if client is None:
            if len(self._clients) >= self.max_sessions:
                raise SessionLimitError(
                    f"too many sessions: {len(self._clients)} of --max-sessions "
                    f"{self.max_sessions} are in use; try again when a client disconnects"
                    + (
                        f" or its session is idle for {self.idle_timeout:g} s"
                        if self.idle_timeout is not None and key != "local"
                        else ""
                    )
                )
            session = self._factory()
            client = _Client(key, session, asyncio.ensure_future(session.start()))
            # Its callers may all be cancelled before it ends: never leave a failure unread.
            client.starting.add_done_callback(_read_outcome)
            client.expired_before = key in self._expired
            self._expired.pop(key, None)
            self._clients[key] = client
            # What this client is assumed to know: the lists as they are now.
            client.tools_seen = self._offered_print
            try:
                client.artifacts_seen = await self._artifacts_state()
            except Exception:  # a storage error shows up in the call itself
                log.debug("could not list artifacts for %s", key, exc_info=True)
        client.in_flight += 1
        if client.idle_timer is not None:
            client.idle_timer.cancel()
            client.idle_timer = None
        try:
            # Shielded: a cancelled first call must not cancel the start a second call shares.
            await asyncio.shield(client.starting)
        except BaseException:
            self._checkin(client)
            start = client.starting
            failed = start.done() and not start.cancelled() and start.exception() is not None
            if failed and self._clients.get(key) is client:
                self._discard(key, "its start failed")
            raise
        return client

    def _checkin(self, client: _Client) -> None:
        client.in_flight -= 1
        if (
            client.in_flight == 0
            and self.idle_timeout is not None
            and client.key.startswith("http:")
            and self._clients.get(client.key) is client
        ):
            loop = asyncio.get_running_loop()
            client.idle_timer = loop.call_later(self.idle_timeout, self._expire, client)

    def _expire(self, client: _Client) -> None:
        if client.in_flight or self._clients.get(client.key) is not client:
            return
        self._expired[client.key] = None
        while len(self._expired) > _EXPIRED_MEMORY:
            self._expired.popitem(last=False)
        self._discard(client.key, f"idle for {self.idle_timeout:g} s")

    def end_client(self, key: str) -> None:
        """Close the Session of a client whose MCP session ended (HTTP ``DELETE``)."""
        self._expired.pop(key, None)
        self._discard(key, "its MCP session ended")

    def _discard(self, key: str, reason: str) -> None:
        """Forget a client now (its id answers with a fresh Session from here on) and close
        its Session in the background."""
        client = self._clients.pop(key, None)
        if client is None:
            return
        if client.idle_timer is not None:
            client.idle_timer.cancel()
        log.info("closing the session of %s: %s", key, reason)
        task = asyncio.get_running_loop().create_task(self._close_client(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_client(client: _Client) -> None:
        try:
            await client.session.close()
        except Exception:
            log.exception("closing the session of %s failed", client.key)

    async def close(self) -> None:
        """Close every Session (at server shutdown)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            if client.idle_timer is not None:
                client.idle_timer.cancel()
        await asyncio.gather(*(self._close_client(c) for c in clients), *self._closing)

    # --- tools -------------------------------------------------------------------------------

    def schema_of(self, op: Operation) -> _Schema:
        """``op``'s input schema, built on first use (pydantic's JSON schema generation is
        far too slow to repeat after every call, which the server once did)."""
        key = _schema_key(op)
        schema = self._schemas.get(key)
        if schema is None:
            listed = op.input_schema()
            text = json.dumps(listed, sort_keys=True, default=str)
            schema = self._schemas[key] = _Schema(listed, text, _validator(listed))
        return schema

    def _set_offered(self, ops: list[Operation]) -> None:
        schemas = {_schema_key(op): self.schema_of(op) for op in ops}
        self._schemas = schemas  # forget the schemas of tools no longer offered
        self.offered = {op.name: op for op in ops}
        self._offered_print = tuple(
            (op.name, op.description, schemas[_schema_key(op)].text) for op in ops
        )

    def schema_problem(self, op: Operation, arguments: dict[str, Any]) -> str | None:
        """Why ``arguments`` do not match the input schema the tool declares (None if they
        do): clients are held to what ``tools/list`` promised, skills' schemas included."""
        error = best_match(self.schema_of(op).validator.iter_errors(arguments))
        if error is None:
            return None
        where = ".".join(str(p) for p in error.absolute_path) or "arguments"
        return f"invalid arguments for {op.name}: {where}: {error.message}"

    async def refresh_tools(self) -> None:
        """Re-read the saved skills into the offered tools (storage work, in a thread)."""
        if not self._skills_as_tools or self._read_only:
            return
        await self._skills_read.get()

    async def _reread_skills(self) -> None:
        ops = await asyncio.to_thread(
            offered_operations,
            self.browser,
            self._operations,
            read_only=self._read_only,
            skills_as_tools=self._skills_as_tools,
            max_skill_tools=self._max_skill_tools,
        )
        self._set_offered(ops)

    async def _artifacts_state(self) -> Hashable:
        """What the artifacts look like now, as cheaply as the store can say: its change stamp
        (read right here when the store names it ``inline``, as the file store does: a stat and
        an 8-byte read), else a re-read in a thread shared by concurrent callers. Listing and
        fingerprinting every artifact after every call made each call cost O(artifacts)."""
        store = self.browser.storage.get_artifact_store()
        if "change_stamp" in getattr(store, "inline", ()):
            return ("stamp", store.change_stamp())
        return await self._artifacts_read.get()

    async def _reread_artifacts(self) -> Hashable:
        """The store's change stamp, or (a store without one) the fingerprint of its listing,
        read in a thread (the storage may be remote, slow or large)."""
        store = self.browser.storage.get_artifact_store()
        if callable(getattr(store, "change_stamp", None)):
            return ("stamp", await asyncio.to_thread(store.change_stamp))
        return await asyncio.to_thread(
            lambda: _fingerprint_artifacts(a.to_dict() for a in store.list())
        )

    async def call(
        self, op: Operation, arguments: dict[str, Any] | None, ctx: Context | None
    ) -> CallToolResult:
        """Run one operation for the calling client and render the result as MCP content."""
        arguments = arguments or {}
        problem = self.schema_problem(op, arguments)
        if problem is not None:
            return _error_result(f"Error: {problem}")
        try:
            key = self.client_key(ctx)
            client = await self._checkout(key)
        except SessionError as exc:
            return _error_result(f"Error: {exc}")
        except Exception as exc:
            log.warning("could not start a session: %s", exc, exc_info=True)
            return _error_result(f"Error: could not start a session: {type(exc).__name__}: {exc}")
        try:
            target: Any = ReadOnlySessionView(client.session) if self._read_only else client.session
            result: OperationResult = await op.call(target, arguments)
        except Exception as exc:  # the server boundary: report it, keep serving
            log.exception("operation %s failed", op.name)
            result = OperationResult(f"Error: {type(exc).__name__}: {exc}", is_error=True)
        finally:
            self._checkin(client)
        text = result.text
        if op.name in _DATA_RESULTS and not result.is_error:
            text = json.dumps(result.data, indent=2, default=str, ensure_ascii=False)
        if client.expired_before and op.name == "run_code":
            client.expired_before = False
            text = (
                f"(note: this client's previous session ended after {self.idle_timeout:g} s "
                "without a call; its variables are gone)\n" + text
            )
        await self._announce_changes(client, ctx)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], is_error=result.is_error
        )

    async def _announce_changes(self, client: _Client, ctx: Context | None) -> None:
        """Tell the client when the tools or the artifacts differ from what it last heard (any
        call may change them: code saves artifacts and skills, a long result is spilled)."""
        try:
            await self.refresh_tools()
            artifacts = await self._artifacts_state()
        except Exception:
            log.warning("could not re-read skills and artifacts", exc_info=True)
            return
        if ctx is None:
            return
        if client.tools_seen != self._offered_print:
            client.tools_seen = self._offered_print
            await _notify(ctx, "tools")
        if client.artifacts_seen != artifacts:
            client.artifacts_seen = artifacts
            await _notify(ctx, "resources")

    # --- resources ---------------------------------------------------------------------------

    def _add_resource_templates(self) -> None:
        @self.server.resource(
            "skill://{name}", mime_type="text/x-python", description="A saved skill's source"
        )
        async def skill_source(name: str) -> str:
            try:
                skill = await self.browser.get_skill(name)
            except ValueError as exc:  # not a valid skill name
                raise ResourceNotFoundError(f"no skill {name!r}: {exc}") from None
            if skill is None:
                raise ResourceNotFoundError(f"no skill named {name!r}")
            return str(skill["source"])

        @self.server.resource(
            "artifact://{name}",
            description="A stored artifact, served with its media type (JSON, text or bytes)",
        )
        async def artifact(name: str) -> str:  # read_resource serves artifact:// itself
            raise ResourceNotFoundError(f"no artifact {name!r}")

    # --- running -----------------------------------------------------------------------------

    async def run_stdio(self) -> None:
        try:
            await self.server.run_stdio_async()
        finally:
            await self.close()

    def http_app(self, host: str = "127.0.0.1", token: str | None = None) -> Any:
        """The ASGI app serving streamable HTTP at ``/mcp`` (bearer token checked first)."""
        self.needs_client_identity = not self.shared_session
        app = self.server.streamable_http_app(
            host=host,
            transport_security=transport_security(host),
            # MCP sessions without a Python one yet (a client that only listed tools) are
            # cheap; the SDK caps them at a multiple of the Session limit.
            max_sessions=4 * self.max_sessions,
            session_idle_timeout=self.idle_timeout,
        )
        app = _SessionEndMiddleware(app, self)
        if token is not None:
            app = BearerTokenMiddleware(app, token)
        return app

    async def run_http(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        token: str | None = None,
        *,
        allow_no_token: bool = False,
    ) -> None:
        """Serve streamable HTTP at ``/mcp``; every request must carry ``token`` unless
        ``allow_no_token`` (loopback hosts only)."""
        import uvicorn

        check_http_settings(host, token, allow_no_token)
        config = uvicorn.Config(
            self.http_app(host, token), host=host, port=port, log_level="warning", lifespan="on"
        )
        try:
            await uvicorn.Server(config).serve()
        finally:
            await self.close()


def transport_security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection for a loopback host (any of 127.0.0.0/8, ``::1``,
    ``localhost``; the SDK itself only knows three spellings): ``Host`` must name the
    loopback with a port, ``Origin`` (when sent) must be ``http://`` on the loopback. A
    public bind cannot know the names clients use, so it gets no such check."""
    if not is_loopback(host):
        return None
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{n}:*" for n in sorted(names)],
        allowed_origins=[f"http://{n}:*" for n in sorted(names)],
    )


def check_http_settings(host: str, token: str | None, allow_no_token: bool) -> None:
    """Refuse settings that would serve code execution to anyone who can reach the port."""
    if token is not None and not token.strip():
        raise ConfigurationError(
            "the MCP token is empty: give a real one (--token or PY_CODE_MODE_MCP_TOKEN), or "
            "leave both unset to have one generated"
        )
    if token is not None and allow_no_token:
        raise ConfigurationError(
            "--no-token and a token (--token or PY_CODE_MODE_MCP_TOKEN) conflict"
        )
    if token is None and not allow_no_token:
        raise ConfigurationError(
            "serving run_code over HTTP needs a token (--token or PY_CODE_MODE_MCP_TOKEN); "
            "--no-token serves without one, on a loopback host only"
        )
    if token is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve on {host} without a token: --no-token is for loopback hosts "
            "(127.0.0.1, ::1, localhost) only"
        )


async def _notify(ctx: Context, kind: str) -> None:
    """A list_changed notification: to this connection for handshake-era clients, to the
    ``subscriptions/listen`` streams for 2026-era ones."""
    try:
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            await (
                ctx.notify_tools_changed() if kind == "tools" else ctx.notify_resources_changed()
            )
        elif kind == "tools":
            await ctx.session.send_tool_list_changed()
        else:
            await ctx.session.send_resource_list_changed()
    except Exception:  # a client that went away misses a hint, nothing more
        log.debug("could not send %s/list_changed", kind, exc_info=True)


def _headers(ctx: Context | None) -> Any:
    if ctx is None:
        return None
    try:
        return ctx.headers
    except (LookupError, ValueError):  # no request context: an in-process call
        return None


class _SessionEndMiddleware:
    """ASGI: when a client ends its MCP session (``DELETE`` answered 2xx), close its Session.

    Stale ids never get here with a 2xx: the SDK answers 404 to ids it does not hold."""

    def __init__(self, app: Any, owner: CodeModeMCPServer) -> None:
        self.app = app
        self._owner = owner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "DELETE":
            await self.app(scope, receive, send)
            return
        session_id = dict(scope.get("headers") or []).get(b"mcp-session-id", b"").decode("latin-1")

        async def watch(message: dict[str, Any]) -> None:
            ended = message["type"] == "http.response.start" and 200 <= message["status"] < 300
            if ended and session_id and not self._owner.shared_session:
                self._owner.end_client(f"http:{session_id}")
            await send(message)

        await self.app(scope, receive, watch)


class BearerTokenMiddleware:
    """ASGI: refuses HTTP requests without ``Authorization: Bearer <token>`` (401).

    The scheme is case-insensitive (RFC 7235); the token is compared in constant time. Tokens
    are accepted in that header only, never in the URL, where logs and history keep them."""

    def __init__(self, app: Any, token: str) -> None:
        if not token:
            raise ConfigurationError("the bearer token is empty")
        self.app = app
        self._token = token.encode()

    def _authorized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        values = [v for k, v in headers if k.lower() == b"authorization"]
        if len(values) != 1:
            return False
        scheme, _, supplied = values[0].partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(supplied, self._token)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._authorized(list(scope.get("headers") or [])):
            body = b'{"error": "unauthorized: send Authorization: Bearer <token>"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
