"""The session server: Sessions over HTTP (FastAPI), one per ``X-Session-ID``.

Routes keep the reference project's shapes: ``POST /execute``, ``GET /health`` (no auth),
``GET /info``, ``POST /reset``, ``/install_deps``, ``/uninstall_deps`` and the ``/api/tools``,
``/api/skills``, ``/api/artifacts``, ``/api/deps`` mirrors of the Session facade. Every Session is
made by :func:`py_code_mode.factory.create_session`; all of them share the server's storage
(a base folder or Redis), and each has its own worker process.

Errors are JSON ``{"detail": message, "error": {type, message, attrs}}`` with a status that
says what went wrong (400 bad input, 401 auth, 403 refused, 404 missing, 410 session expired,
413 too large, 503 session limit); a run's own errors and timeouts are ``/execute`` results.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ..errors import (
    ArtifactNotFoundError,
    CodeModeError,
    ConfigurationError,
    RuntimeDepsDisabledError,
    SessionCapacityError,
    SessionExpiredError,
    SkillNotFoundError,
)
from ..worker.wire import Unencodable, encode_data
from .asgi import PUBLIC_PATHS, GuardSettings, RequestGuard
from .pool import SessionPool, valid_session_id
from .settings import ServerSettings

# uvicorn configures its own loggers only: log under its name so that startup lines show.
log = logging.getLogger("uvicorn.error")

SESSION_HEADER = "X-Session-ID"
#: The base folder of a server configured only by environment (the reference's container layout).
CONTAINER_BASE = Path("/workspace")


# --- request and response models (also the OpenAPI document) --------------------------------


class ExecuteRequest(BaseModel):
    code: str = Field(description="Python code to run in the session")
    # int first: a whole number of seconds reads back as given ("after 1 seconds").
    timeout: int | float | None = Field(
        default=None, gt=0, description="seconds (capped by the server's maximum)"
    )


class ExecuteResponse(BaseModel):
    value: Any = Field(description="the last expression's value as JSON (text when it has none)")
    stdout: str
    error: str | None
    execution_time_ms: float
    session_id: str
    stderr: str = ""
    traceback: str | None = None
    repr: str | None = None
    value_wire: Any = Field(
        default=None, description="the exact value (tuples, sets, bytes) when JSON loses it"
    )


class HealthResponse(BaseModel):
    status: str
    uptime_seconds: float


class InfoResponse(BaseModel):
    tools: list[dict[str, str]]
    skills: list[dict[str, str]]
    artifacts_path: str
    executor: str
    capabilities: list[str]


class ResetResponse(BaseModel):
    status: str
    session_id: str


class PackagesRequest(BaseModel):
    packages: list[str]


class PackageRequest(BaseModel):
    package: str


class DepsResponse(BaseModel):
    installed: list[str] = []
    already_present: list[str] = []
    removed: list[str] = []
    not_found: list[str] = []
    failed: list[str] = []


class CreateSkillRequest(BaseModel):
    name: str
    source: str
    description: str = ""


class InvokeSkillRequest(BaseModel):
    args: dict[str, Any] = Field(default_factory=dict)
    timeout: int | float | None = Field(default=None, gt=0)


class SaveArtifactRequest(BaseModel):
    name: str
    data: Any = None
    description: str = ""
    metadata: dict[str, Any] | None = None
    encoding: str | None = Field(
        default=None, description="'base64': data is the base64 text of bytes"
    )


# --- result encoding ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON form of ``value`` that readers of the reference's ``value`` field expect."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return str(value)


def execute_payload(result: Any, session_id: str, elapsed_ms: float) -> bytes:
    """The ``/execute`` response body for an ExecutionResult."""
    payload: dict[str, Any] = {
        "value": None,
        "stdout": result.stdout,
        "error": result.error,
        "execution_time_ms": round(elapsed_ms, 3),
        "session_id": session_id,
        "stderr": result.stderr,
        "traceback": result.traceback,
        "repr": result.repr,
    }
    value = result.value
    if value is None and result.repr not in (None, "None"):
        payload["value"] = result.repr  # no data form: its text, as the reference did
        payload["value_wire"] = None
    elif value is not None:
        try:
            wire = encode_data(value)
        except Unencodable:
            payload["value"], payload["value_wire"] = result.repr, None
        else:
            plain = _plain(value)
            payload["value"] = plain
            if wire != plain:
                payload["value_wire"] = wire
    try:
        return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:  # NaN or infinity inside the value: keep the text only
        payload["value"], payload["value_wire"] = result.repr, None
        return json.dumps(payload, separators=(",", ":")).encode()


def _json(body: bytes, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type="application/json")


# --- the application ---------------------------------------------------------------------------


class ServerState:
    """What the running server holds: settings, the shared storage, the sessions."""

    def __init__(self, settings: ServerSettings) -> None:
        from ..factory import create_session, create_storage

        self.settings = settings
        self.started = time.monotonic()
        root = None if settings.redis else settings.base
        self.storage = create_storage(root, redis=settings.redis, prefix=settings.prefix)

        def make() -> Any:
            return create_session(
                base=root,
                storage=self.storage,
                executor=settings.executor,
                timeout=settings.timeout,
                tools=settings.tools,
                deps=settings.deps or None,
                allow_runtime_deps=settings.allow_runtime_deps,
                **settings.executor_options,
            )

        self.make_session = make
        self.guard = GuardSettings(settings.token, settings.auth_disabled, settings.max_body_bytes)
        self.pool = SessionPool(
            make, max_sessions=settings.max_sessions, idle_timeout=settings.idle_timeout
        )
        # Serves the facade routes (/info, /api/...): skills and artifacts need only the shared
        # storage; tools and deps start its worker on first use.
        self.admin = make()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self.pool.sweep())
        if self.settings.deps:
            await self.admin.sync_deps()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.pool.close()
        with contextlib.suppress(Exception):
            await self.admin.close()

    async def deps_manager(self) -> Any:
        """The deps manager of the admin session's executor (installer and record)."""
        await self.admin.start()
        manager = getattr(self.admin.executor, "deps", None)
        if manager is None:
            raise ConfigurationError(f"executor {self.settings.executor!r} does not manage deps")
        return manager

    def run_timeout(self, asked: float | None) -> float:
        wanted = asked if asked is not None else self.settings.timeout
        cap = self.settings.max_timeout
        return cap if wanted is None else min(wanted, cap)

    def check_code(self, code: str) -> None:
        limit = self.settings.max_code_bytes
        if len(code) > limit or len(code.encode("utf-8", "surrogatepass")) > limit:
            raise HTTPException(
                413, f"code too large: the limit is {limit} bytes (--max-code-bytes)"
            )


def _status(exc: Exception) -> int:
    if isinstance(exc, SessionExpiredError):
        return 410
    if isinstance(exc, SessionCapacityError):
        return 503
    if isinstance(exc, (ArtifactNotFoundError, SkillNotFoundError)):
        return 404
    if isinstance(exc, RuntimeDepsDisabledError):
        return 403
    if isinstance(exc, ValueError):
        return 400
    return 500


def _error_response(exc: Exception) -> JSONResponse:
    status = _status(exc)
    wire = exc.to_wire() if isinstance(exc, CodeModeError) else {
        "type": type(exc).__name__, "message": str(exc), "attrs": {}
    }  # fmt: skip
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"detail": str(exc), "error": wire}, status_code=status, headers=headers)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The session server as an ASGI app.

    Without ``settings`` they are read from the environment when the app starts (the
    reference's ``uvicorn py_code_mode.execution.container.server:app``). Either way the app
    refuses to start without a token unless auth is disabled explicitly.
    """
    holder: dict[str, ServerState] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chosen = (settings or ServerSettings.from_env(default_base=CONTAINER_BASE)).validate()
        chosen.take_token_from_environment()
        state = ServerState(chosen)
        holder["state"] = state
        app.state.server = state
        if chosen.auth_disabled:
            log.warning("authentication is DISABLED: anyone who reaches this port runs code")
        await state.start()
        log.info(
            "session server ready: executor=%s storage=%s max_sessions=%d idle_timeout=%gs",
            chosen.executor, "redis" if chosen.redis else chosen.base, chosen.max_sessions,
            chosen.idle_timeout,
        )  # fmt: skip
        try:
            yield
        finally:
            await state.stop()

    def server() -> ServerState:
        state = holder.get("state")
        if state is None:
            raise HTTPException(503, "the server is starting")
        return state

    app = FastAPI(
        title="py-code-mode session server",
        description="Stateful Python sessions with tools, skills, artifacts and deps.",
        version=_version(),
        lifespan=lifespan,
    )

    @app.exception_handler(CodeModeError)
    async def code_mode_error(request: Request, exc: CodeModeError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        return _error_response(exc)

    # --- sessions --------------------------------------------------------------------------

    @app.post(
        "/execute",
        response_model=ExecuteResponse,
        openapi_extra=_body_doc(ExecuteRequest, SESSION_HEADER),
    )
    async def execute(request: Request) -> Response:
        """Run code in the session named by X-Session-ID (a new session when absent; its id
        is in the response). Errors and timeouts of the code are results, not HTTP errors."""
        # The hot path: the body is validated by its model directly (no dependency solving).
        state = server()
        body = _parse(ExecuteRequest, await request.body())
        x_session_id = request.headers.get(SESSION_HEADER)
        state.check_code(body.code)
        timeout = state.run_timeout(body.timeout)
        async with state.pool.use(x_session_id) as (sid, session):
            start = time.perf_counter()
            result = await session.run(body.code, timeout=timeout)
            elapsed = (time.perf_counter() - start) * 1000
        return _json(execute_payload(result, sid, elapsed))

    @app.post("/reset", response_model=ResetResponse)
    async def reset(x_session_id: str | None = Header(None, alias=SESSION_HEADER)) -> Any:
        """Clear the session's variables; the session and its id stay."""
        state = server()
        if x_session_id is None:
            return {"status": "reset", "session_id": ""}
        try:
            async with state.pool.use(x_session_id, create=False) as (sid, session):
                if session is not None:
                    await session.reset()
        except SessionExpiredError:
            pass  # a fresh start is what reset asked for
        return {"status": "reset", "session_id": x_session_id}

    @app.delete("/session", response_model=ResetResponse)
    async def close_session(x_session_id: str = Header(alias=SESSION_HEADER)) -> Any:
        """Close the session now (its worker stops; the id may be used again)."""
        closed = server().pool.discard(valid_session_id(x_session_id))
        return {"status": "closed" if closed else "unknown", "session_id": x_session_id}

    @app.get("/health", response_model=HealthResponse)
    async def health() -> Any:
        """Liveness (no auth, for load balancers and orchestrators)."""
        state = holder.get("state")
        uptime = time.monotonic() - state.started if state is not None else 0.0
        return {"status": "healthy", "uptime_seconds": uptime}

    @app.get("/info", response_model=InfoResponse)
    async def info() -> Any:
        """The tools and skills code can use, and what the executor supports."""
        state = server()
        admin = state.admin
        tools = await admin.list_tools()
        skills = await admin.list_skills()
        path = getattr(state.storage, "artifacts_path", None)
        return {
            "tools": [{"name": t["name"], "description": t.get("description", "")} for t in tools],
            "skills": [{"name": s["name"], "description": s["description"]} for s in skills],
            "artifacts_path": str(path)
            if path is not None
            else f"redis:{state.settings.prefix or ''}",
            "executor": state.settings.executor,
            "capabilities": sorted(admin.supported_capabilities()),
        }

    @app.post("/install_deps", response_model=DepsResponse)
    async def install_deps(body: PackagesRequest) -> Any:
        """Install and record packages (operator API: allowed even when code may not add deps)."""
        from ..deps.specs import validate_spec

        manager = await server().deps_manager()
        out = DepsResponse()
        for package in body.packages:
            try:
                spec = validate_spec(package)
                result = await asyncio.to_thread(manager.installer.install, [spec])
                await asyncio.to_thread(manager.store.add, spec)
            except (CodeModeError, ValueError) as exc:
                log.warning("installing %r failed: %s", package, exc)
                out.failed.append(package)
                continue
            out.installed += result.installed
            out.already_present += result.already_present
        return out

    @app.post("/uninstall_deps", response_model=DepsResponse)
    async def uninstall_deps(body: PackagesRequest) -> Any:
        """Remove packages from the record (operator API)."""
        manager = await server().deps_manager()
        out = DepsResponse()
        for package in body.packages:
            if not package.strip() or package.startswith("-"):
                out.failed.append(package)
            elif await asyncio.to_thread(manager.store.remove, package):
                out.removed.append(package)
            else:
                out.not_found.append(package)
        return out

    # --- facade mirrors ----------------------------------------------------------------------

    @app.get("/api/tools")
    async def api_list_tools() -> list[dict[str, Any]]:
        return await server().admin.list_tools()

    @app.get("/api/tools/search")
    async def api_search_tools(
        query: str, limit: int = Query(10, ge=1, le=100)
    ) -> list[dict[str, Any]]:
        return await server().admin.search_tools(query, limit)

    @app.get("/api/skills")
    async def api_list_skills() -> list[dict[str, Any]]:
        return await server().admin.list_skills()

    @app.get("/api/skills/search")
    async def api_search_skills(
        query: str, limit: int = Query(5, ge=1, le=100)
    ) -> list[dict[str, Any]]:
        return await server().admin.search_skills(query, limit)

    @app.get("/api/skills/{name}")
    async def api_get_skill(name: str) -> dict[str, Any] | None:
        """The skill with its source, or null."""
        return await server().admin.get_skill(name)

    @app.post("/api/skills")
    async def api_create_skill(body: CreateSkillRequest) -> dict[str, Any]:
        """Validate and save a skill (400 with the reason when it is refused)."""
        return await server().admin.add_skill(body.name, body.source, body.description)

    @app.delete("/api/skills/{name}")
    async def api_delete_skill(name: str) -> bool:
        return await server().admin.remove_skill(name)

    @app.post("/api/skills/{name}/invoke", response_model=ExecuteResponse)
    async def api_invoke_skill(
        name: str,
        body: InvokeSkillRequest,
        x_session_id: str | None = Header(None, alias=SESSION_HEADER),
    ) -> Response:
        """Invoke a skill in the session named by X-Session-ID, where code runs."""
        from ..skills.skill import validate_skill_name

        state = server()
        validate_skill_name(name)
        code = f"skills.invoke({name!r}, **__import__('json').loads({json.dumps(body.args)!r}))"
        timeout = state.run_timeout(body.timeout)
        async with state.pool.use(x_session_id) as (sid, session):
            start = time.perf_counter()
            result = await session.run(code, timeout=timeout)
            elapsed = (time.perf_counter() - start) * 1000
        return _json(execute_payload(result, sid, elapsed))

    @app.get("/api/artifacts")
    async def api_list_artifacts() -> list[dict[str, Any]]:
        return await server().admin.list_artifacts()

    @app.get("/api/artifacts/{name}")
    async def api_load_artifact(name: str) -> Response:
        """The artifact's data: JSON, or the raw bytes (application/octet-stream)."""
        data = await asyncio.to_thread(server().storage.get_artifact_store().load, name)
        if isinstance(data, (bytes, bytearray)):
            return Response(bytes(data), media_type="application/octet-stream")
        return JSONResponse(data)

    @app.post("/api/artifacts")
    async def api_save_artifact(body: SaveArtifactRequest) -> dict[str, Any]:
        data = body.data
        if body.encoding == "base64":
            if not isinstance(data, str):
                raise ConfigurationError("encoding 'base64' needs data as a base64 string")
            data = base64.b64decode(data, validate=True)
        elif body.encoding is not None:
            raise ConfigurationError(f"unknown encoding {body.encoding!r} (use 'base64' or none)")
        return await server().admin.save_artifact(body.name, data, body.description, body.metadata)

    @app.delete("/api/artifacts/{name}")
    async def api_delete_artifact(name: str) -> None:
        store = server().storage.get_artifact_store()
        if not await asyncio.to_thread(store.exists, name):
            raise ArtifactNotFoundError(name)
        await asyncio.to_thread(store.delete, name)

    @app.get("/api/deps")
    async def api_list_deps() -> list[str]:
        return await server().admin.list_deps()

    @app.post("/api/deps/add")
    async def api_add_dep(body: PackageRequest) -> dict[str, Any]:
        """Install and record a package (403 when runtime deps are disabled)."""
        return await server().admin.add_dep(body.package)

    @app.post("/api/deps/remove")
    async def api_remove_dep(body: PackageRequest) -> dict[str, Any]:
        return await server().admin.remove_dep(body.package)

    @app.post("/api/deps/sync")
    async def api_sync_deps() -> dict[str, Any]:
        return await server().admin.sync_deps()

    return _guarded(app)


def _guarded(app: FastAPI) -> FastAPI:
    """Put the request guard (auth, body limit, cancel on disconnect) in front of the app. It
    reads the running server's settings, so the module-level ``app``, made before its settings
    are known, is guarded too."""

    def settings() -> GuardSettings | None:
        state = getattr(app.state, "server", None)
        return state.guard if state is not None else None

    app.add_middleware(RequestGuard, settings=settings)
    _document_auth(app)
    return app


def _document_auth(app: FastAPI) -> None:
    """Auth lives in the guard (before the body is read), not in route dependencies: declare it
    in the OpenAPI document so clients and the /docs page know every route but the public ones
    needs the bearer token."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = make()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["HTTPBearer"] = {"type": "http", "scheme": "bearer"}
            for path, operations in schema.get("paths", {}).items():
                if path in PUBLIC_PATHS:
                    continue
                for operation in operations.values():
                    operation["security"] = [{"HTTPBearer": []}]
                    operation.setdefault("responses", {})["401"] = {"description": "unauthorized"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    """``raw`` validated by ``model``; a bad body is a 422 naming what was wrong."""
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _body_doc(model: type[BaseModel], header: str) -> dict[str, Any]:
    """The OpenAPI request body and header of a route that reads its body itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        },
        "parameters": [
            {"name": header, "in": "header", "required": False, "schema": {"type": "string"}}
        ],
    }


def _version() -> str:
    from .._version import package_version

    return package_version()


def serve(settings: ServerSettings, *, host: str, port: int, access_log: bool = True) -> None:
    """Run the server in this process until interrupted (what ``py-code-mode serve`` does)."""
    import uvicorn

    settings.validate()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
