"""HTTP client of the session server (the reference's ``SessionClient``), on httpx.

``SessionClient`` is async and keeps one session id (made here when not given, as the
reference did), so variables persist across its ``execute`` calls. ``SyncSessionClient`` is
the blocking twin the sync helpers use (AutoGen's remote ``run_code``, the facade's deps calls
that run in threads). Server refusals become :class:`~py_code_mode.errors.RemoteSessionError`
(or the error class the server named, e.g. ``SessionExpiredError``, ``SkillValidationError``).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from ...errors import CodeModeError, RemoteSessionError, error_from_wire
from ...types import ExecutionResult
from ...worker.wire import decode_data

#: Seconds added to a run's timeout for the HTTP round trip.
HTTP_MARGIN = 10.0


@dataclass
class ExecuteResult:
    """What ``POST /execute`` answered (the reference's shape)."""

    value: Any
    stdout: str
    error: str | None
    execution_time_ms: float
    session_id: str
    stderr: str = ""
    traceback: str | None = None
    repr: str | None = None

    @property
    def is_ok(self) -> bool:
        return self.error is None

    def to_execution_result(self) -> ExecutionResult:
        return ExecutionResult(
            value=self.value,
            stdout=self.stdout,
            error=self.error,
            execution_time_ms=self.execution_time_ms,
            stderr=self.stderr,
            traceback=self.traceback,
            repr=self.repr,
        )


@dataclass
class HealthResult:
    status: str
    uptime_seconds: float


@dataclass
class InfoResult:
    tools: list[dict[str, str]]
    skills: list[dict[str, str]]
    artifacts_path: str


@dataclass
class ResetResult:
    status: str
    session_id: str


def execute_result(data: dict[str, Any]) -> ExecuteResult:
    """An ``/execute`` answer, with the exact value when the server sent its wire form."""
    value = data.get("value")
    if "value_wire" in data:
        wire = data["value_wire"]
        value = None if wire is None else decode_data(wire)
    return ExecuteResult(
        value=value,
        stdout=data.get("stdout") or "",
        error=data.get("error"),
        execution_time_ms=float(data.get("execution_time_ms") or 0.0),
        session_id=str(data.get("session_id") or ""),
        stderr=data.get("stderr") or "",
        traceback=data.get("traceback"),
        repr=data.get("repr"),
    )


def error_for(response: httpx.Response) -> CodeModeError:
    """The error a refused request stands for (the server's own error class when it sent one)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    wire = body.get("error") if isinstance(body, dict) else None
    if isinstance(wire, dict) and wire.get("type"):
        err = error_from_wire(wire)
        if isinstance(err, CodeModeError):
            if isinstance(err, RemoteSessionError):
                err.status_code = response.status_code
            return err
    if not isinstance(detail, str):
        detail = (
            str(detail) if detail is not None else response.text[:500] or response.reason_phrase
        )
    return RemoteSessionError(
        f"the session server answered {response.status_code}: {detail}", response.status_code
    )


def unreachable(url: str, exc: httpx.HTTPError) -> RemoteSessionError:
    kind = type(exc).__name__
    return RemoteSessionError(f"the session server at {url} did not answer ({kind}: {exc})")


def run_timeout_for(http_timeout: float, run_timeout: float | None) -> httpx.Timeout:
    """HTTP timeouts for a run: long enough for the run itself plus the round trip."""
    read = None if run_timeout is None else max(http_timeout, run_timeout + HTTP_MARGIN)
    return httpx.Timeout(http_timeout, read=read)


class _Base:
    def __init__(
        self,
        base_url: str = "http://localhost:8080",
        timeout: float = 30.0,
        session_id: str | None = None,
        auth_token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session_id = session_id or str(uuid.uuid4())
        self.auth_token = auth_token

    def _headers(self) -> dict[str, str]:
        headers = {"X-Session-ID": self.session_id}
        if self.auth_token:
            headers["Authorization"] = f"Bearer {self.auth_token}"
        return headers

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise error_for(response)
        if response.headers.get("content-type", "").startswith("application/octet-stream"):
            return response.content
        return response.json() if response.content else None

    @staticmethod
    def _artifact_body(
        name: str, data: Any, description: str, metadata: dict[str, Any] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "description": description, "metadata": metadata}
        if isinstance(data, (bytes, bytearray, memoryview)):
            body["data"] = base64.b64encode(bytes(data)).decode("ascii")
            body["encoding"] = "base64"
        else:
            body["data"] = data
        return body


class SessionClient(_Base):
    """Async client of one session on a session server.

    ``async with SessionClient(url, auth_token=...) as client: await client.execute("x = 1")``
    """

    def __init__(
        self,
        base_url: str = "http://localhost:8080",
        timeout: float = 30.0,
        session_id: str | None = None,
        auth_token: str | None = None,
    ) -> None:
        super().__init__(base_url, timeout, session_id, auth_token)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)
        return self._client

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http().request(method, path, headers=self._headers(), **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(self.base_url, exc) from exc
        return self._answer(response)

    async def execute(self, code: str, timeout: float | None = None) -> ExecuteResult:
        """Run ``code`` in this client's session (variables persist between calls)."""
        body: dict[str, Any] = {"code": code}
        if timeout is not None:
            body["timeout"] = timeout
        data = await self._call(
            "POST", "/execute", json=body, timeout=run_timeout_for(self.timeout, timeout)
        )
        result = execute_result(data)
        if result.session_id:
            self.session_id = result.session_id
        return result

    async def health(self) -> HealthResult:
        data = await self._call("GET", "/health")
        return HealthResult(status=data["status"], uptime_seconds=data["uptime_seconds"])

    async def info(self) -> InfoResult:
        data = await self._call("GET", "/info")
        return InfoResult(
            tools=data["tools"], skills=data["skills"], artifacts_path=data["artifacts_path"]
        )

    async def info_raw(self) -> dict[str, Any]:
        """``/info`` as sent (with ``executor`` and ``capabilities``)."""
        return dict(await self._call("GET", "/info"))

    async def reset(self) -> ResetResult:
        """Clear this session's variables (artifacts and skills stay)."""
        data = await self._call("POST", "/reset")
        return ResetResult(status=data["status"], session_id=data.get("session_id") or "")

    async def close_session(self) -> None:
        """Close this session on the server now (frees its worker)."""
        await self._call("DELETE", "/session")

    async def install_deps(self, packages: list[str]) -> dict[str, Any]:
        return dict(
            await self._call("POST", "/install_deps", json={"packages": packages}, timeout=300)
        )

    async def uninstall_deps(self, packages: list[str]) -> dict[str, Any]:
        return dict(
            await self._call("POST", "/uninstall_deps", json={"packages": packages}, timeout=120)
        )

    async def list_tools(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "/api/tools"))

    async def search_tools(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        return list(
            await self._call("GET", "/api/tools/search", params={"query": query, "limit": limit})
        )

    async def list_skills(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "/api/skills"))

    async def search_skills(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        return list(
            await self._call("GET", "/api/skills/search", params={"query": query, "limit": limit})
        )

    async def get_skill(self, name: str) -> dict[str, Any] | None:
        return await self._call("GET", f"/api/skills/{name}")  # type: ignore[no-any-return]

    async def create_skill(self, name: str, source: str, description: str) -> dict[str, Any]:
        body = {"name": name, "source": source, "description": description}
        return dict(await self._call("POST", "/api/skills", json=body))

    async def delete_skill(self, name: str) -> bool:
        return bool(await self._call("DELETE", f"/api/skills/{name}"))

    async def invoke_skill(self, name: str, **kwargs: Any) -> ExecuteResult:
        """Run a skill in this client's session."""
        data = await self._call("POST", f"/api/skills/{name}/invoke", json={"args": kwargs})
        return execute_result(data)

    async def list_artifacts(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "/api/artifacts"))

    async def load_artifact(self, name: str) -> Any:
        return await self._call("GET", f"/api/artifacts/{name}")

    async def save_artifact(
        self,
        name: str,
        data: Any,
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = self._artifact_body(name, data, description, metadata)
        return dict(await self._call("POST", "/api/artifacts", json=body))

    async def delete_artifact(self, name: str) -> None:
        await self._call("DELETE", f"/api/artifacts/{name}")

    async def api_list_deps(self) -> list[str]:
        return list(await self._call("GET", "/api/deps"))

    async def api_add_dep(self, package: str) -> dict[str, Any]:
        return dict(
            await self._call("POST", "/api/deps/add", json={"package": package}, timeout=300)
        )

    async def api_remove_dep(self, package: str) -> dict[str, Any]:
        return dict(await self._call("POST", "/api/deps/remove", json={"package": package}))

    async def api_sync_deps(self) -> dict[str, Any]:
        return dict(await self._call("POST", "/api/deps/sync", timeout=600))

    async def close(self) -> None:
        """Close the HTTP connections (the server keeps the session until it is idle)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> SessionClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class SyncSessionClient(_Base):
    """The blocking twin of :class:`SessionClient` (the subset sync callers need)."""

    def __init__(
        self,
        base_url: str = "http://localhost:8080",
        timeout: float = 30.0,
        session_id: str | None = None,
        auth_token: str | None = None,
    ) -> None:
        super().__init__(base_url, timeout, session_id, auth_token)
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, headers=self._headers(), **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(self.base_url, exc) from exc
        return self._answer(response)

    def execute(self, code: str, timeout: float | None = None) -> ExecuteResult:
        body: dict[str, Any] = {"code": code}
        if timeout is not None:
            body["timeout"] = timeout
        data = self.call(
            "POST", "/execute", json=body, timeout=run_timeout_for(self.timeout, timeout)
        )
        result = execute_result(data)
        if result.session_id:
            self.session_id = result.session_id
        return result

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SyncSessionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
