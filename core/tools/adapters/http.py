"""HTTP APIs as tools, on httpx (one async client per adapter, connections reused).

From YAML (``type: http``) an API is one tool whose callables are its endpoints:
``tools.github.get_repo(owner=..., repo=...)``. From Python, ``HTTPAdapter(base_url)`` without a
``name`` makes each endpoint its own top-level tool, as the reference project did.
``{param}`` placeholders in a path are filled from the arguments, each percent-encoded as one
path segment (a value never adds segments or a query; empty, ``.`` and ``..`` are refused); listed ``query``/``body``
names go where they say, the rest go to the query string (GET, DELETE, HEAD) or the JSON body
(POST, PUT, PATCH). Header values may name environment variables (``${TOKEN}``), expanded at call
time and never logged. A non-2xx answer is an error with its status and a capped body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...errors import ToolCallError, ToolNotFoundError, ToolTimeoutError
from ..models import Tool, ToolCallable, ToolName, ToolParameter
from .mcp import expand_env

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_SEPARATORS = re.compile(r"[/\\]")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
ERROR_BODY_LIMIT = 2000


def encode_path_segment(value: Any) -> str:
    """``value`` as exactly one URL path segment: every character outside RFC 3986's unreserved
    set is percent-encoded (``/``, ``?``, ``#`` and ``%`` included), so a value can neither add
    segments, start a query or fragment, nor smuggle pre-encoded dots."""
    from urllib.parse import quote

    return quote(str(value), safe="")


def fill_path(template: str, values: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders, each with one encoded segment.

    Raises ValueError for a value holding a ``.`` or ``..`` segment (split at ``/`` or ``\\``:
    some servers and proxies decode ``%2F`` before routing, and then ``../admin`` would climb)
    and for a placeholder whose segment would be empty, ``.`` or ``..``.
    """
    for name, value in values.items():
        if any(part in (".", "..") for part in _SEPARATORS.split(str(value))):
            raise ValueError(
                f"path parameter '{name}'={value!r} holds a '.' or '..' segment (refused)"
            )

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return encode_path_segment(values[name]) if name in values else match.group(0)

    segments = []
    for segment in template.split("/"):
        filled = _PLACEHOLDER.sub(fill, segment)
        if filled in ("", ".", "..") and _PLACEHOLDER.search(segment):
            names = ", ".join(f"'{n}'" for n in _PLACEHOLDER.findall(segment))
            raise ValueError(f"path parameter {names} makes the path segment {filled!r} (refused)")
        segments.append(filled)
    return "/".join(segments)


@dataclass
class Endpoint:
    """One operation of an HTTP API (the reference project's shape)."""

    name: str
    method: str = "GET"
    path: str = "/"
    description: str = ""
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    query: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    timeout: float | None = None

    def path_params(self) -> list[str]:
        return _PLACEHOLDER.findall(self.path)

    def callable(self) -> ToolCallable:
        names = dict.fromkeys([*self.path_params(), *self.parameters, *self.query, *self.body])
        params = []
        for n in names:
            spec = self.parameters.get(n, {})
            params.append(
                ToolParameter(
                    name=n,
                    type=str(spec.get("type", "string")),
                    required=n in self.path_params() or bool(spec.get("required")),
                    default=spec.get("default"),
                    description=str(spec.get("description", "")),
                )
            )
        return ToolCallable(name=self.name, description=self.description, parameters=params)


class EndpointConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str = "/"
    description: str = ""
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    query: list[str] = Field(default_factory=list)
    body: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class HTTPToolConfig(BaseModel):
    """A ``type: http`` tool file."""

    model_config = ConfigDict(extra="ignore")

    name: ToolName
    type: Literal["http"] = "http"
    description: str = ""
    base_url: str | None = None
    openapi: str | None = None  # an OpenAPI 3 document: a file path or an http(s) URL
    operations: list[str] | None = None  # operationIds to take from it (default: all)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0)
    tags: list[str] = Field(default_factory=list)
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)

    @field_validator("endpoints")
    @classmethod
    def _endpoint_names(cls, value: dict[str, EndpointConfig]) -> dict[str, EndpointConfig]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"endpoint name {name!r} must be a Python identifier")
        return value


class HTTPAdapter:
    """An HTTP API: a namespaced tool (``name`` given) or one tool per endpoint."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        *,
        name: str | None = None,
        description: str = "",
        timeout: float = 30.0,
        tags: list[str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.name = name
        self.description = description
        self.timeout = timeout
        self.tags = list(tags or [])
        self._endpoints: dict[str, Endpoint] = {}
        self._client: Any = None

    @classmethod
    def from_config(cls, data: dict[str, Any], *, relative_to: Any = None) -> HTTPAdapter:
        config = HTTPToolConfig.model_validate(data)
        document = load_openapi(config.openapi, relative_to) if config.openapi else None
        base_url = config.base_url or _openapi_server(document)
        if not base_url:
            raise ValueError("an http tool needs base_url (or an OpenAPI document with servers)")
        adapter = cls(
            base_url,
            config.headers,
            name=config.name,
            description=config.description,
            timeout=config.timeout,
            tags=config.tags,
        )
        if document is not None:
            for endpoint in endpoints_from_openapi(document, config.operations):
                adapter.add_endpoint(endpoint)
        for ename, e in config.endpoints.items():
            adapter.add_endpoint(Endpoint(name=ename, **e.model_dump()))
        return adapter

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self._endpoints[endpoint.name] = endpoint

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return dict(self._endpoints)

    def list_tools(self) -> list[Tool]:
        if self.name:
            callables = [e.callable() for e in self._endpoints.values()]
            description = self.description or "; ".join(
                f"{e.name}: {e.description}" for e in self._endpoints.values()
            )
            return [
                Tool(name=self.name, description=description, callables=callables, tags=self.tags)
            ]
        return [
            Tool(name=e.name, description=e.description, callables=[e.callable()], tags=self.tags)
            for e in self._endpoints.values()
        ]

    def _endpoint(self, name: str, callable_name: str | None) -> Endpoint:
        if self.name:
            if name != self.name:
                raise ToolNotFoundError(name, [self.name])
            key = callable_name or name
            if key not in self._endpoints:
                raise ToolNotFoundError(f"{name}.{key}", [f"{name}.{e}" for e in self._endpoints])
            return self._endpoints[key]
        if name not in self._endpoints or callable_name not in (None, name):
            raise ToolNotFoundError(
                name if callable_name in (None, name) else f"{name}.{callable_name}",
                list(self._endpoints),
            )
        return self._endpoints[name]

    async def call_tool(self, name: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        import httpx

        endpoint = self._endpoint(name, callable_name)
        tool = self.name or name
        args = dict(args)
        extra_query = args.pop("query_params", None) or {}
        for param in endpoint.path_params():
            if args.get(param) is None:
                raise ToolCallError(
                    tool, args, f"missing path parameter '{param}' for {endpoint.name}"
                )
        try:
            path = fill_path(endpoint.path, {p: args.pop(p) for p in endpoint.path_params()})
        except ValueError as exc:
            raise ToolCallError(tool, args, f"{endpoint.name}: {exc}") from None
        query = {k: args.pop(k) for k in list(args) if k in endpoint.query}
        body = {k: args.pop(k) for k in list(args) if k in endpoint.body}
        if endpoint.method in _BODY_METHODS:
            body.update(args)
        else:
            query.update(args)
        query.update(extra_query)
        headers = {k: expand_env(v, what=tool) for k, v in self.headers.items()}
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        try:
            response = await self._client.request(
                endpoint.method,
                self.base_url + path,
                params={k: v for k, v in query.items() if v is not None},
                json=body if body or endpoint.method in _BODY_METHODS else None,
                headers=headers,
                timeout=endpoint.timeout or self.timeout,
            )
        except httpx.TimeoutException:
            raise ToolTimeoutError(
                f"{tool}.{endpoint.name}", endpoint.timeout or self.timeout
            ) from None
        except httpx.HTTPError as exc:
            raise ToolCallError(
                tool, args, f"{endpoint.method} {path}: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code >= 400:
            text = response.text
            if len(text) > ERROR_BODY_LIMIT:
                text = (
                    text[:ERROR_BODY_LIMIT]
                    + f"... [{len(text) - ERROR_BODY_LIMIT} more characters]"
                )
            raise ToolCallError(
                tool, args, f"HTTP {response.status_code} from {endpoint.method} {path}: {text}"
            )
        if "json" in response.headers.get("content-type", ""):
            try:
                return response.json()
            except ValueError:
                pass
        return response.text

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


# --- OpenAPI 3 -------------------------------------------------------------------------------

_HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")


def load_openapi(source: str, relative_to: Any = None) -> dict[str, Any]:
    """Read an OpenAPI 3 document (JSON or YAML) from a file or an http(s) URL."""
    from pathlib import Path

    import yaml

    if source.startswith(("http://", "https://")):
        import httpx

        text = httpx.get(source, timeout=30).raise_for_status().text
    else:
        path = Path(source)
        if not path.is_absolute() and relative_to is not None:
            path = Path(relative_to) / path
        text = path.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3"):
        raise ValueError(f"{source} is not an OpenAPI 3 document")
    return document


def _openapi_server(document: dict[str, Any] | None) -> str | None:
    servers = (document or {}).get("servers") or []
    return str(servers[0].get("url")) if servers and isinstance(servers[0], dict) else None


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow a local ``$ref`` (``#/components/...``)."""
    while (
        isinstance(node, dict)
        and isinstance(node.get("$ref"), str)
        and node["$ref"].startswith("#/")
    ):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node


def endpoints_from_openapi(
    document: dict[str, Any], operations: list[str] | None = None
) -> list[Endpoint]:
    """One Endpoint per operation (named by ``operationId``), with its parameters' schemas."""
    wanted = set(operations) if operations is not None else None
    out = []
    for path, item in (document.get("paths") or {}).items():
        item = _resolve(document, item) or {}
        shared = item.get("parameters") or []
        for method in _HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op_id = op.get("operationId") or re.sub(r"\W+", "_", f"{method}_{path}").strip("_")
            if not op_id.isidentifier() or (wanted is not None and op_id not in wanted):
                continue
            parameters: dict[str, dict[str, Any]] = {}
            query: list[str] = []
            body: list[str] = []
            for raw in [*shared, *(op.get("parameters") or [])]:
                param = _resolve(document, raw) or {}
                name = param.get("name")
                if not isinstance(name, str):
                    continue
                schema = dict(_resolve(document, param.get("schema")) or {})
                schema["description"] = param.get("description", schema.get("description", ""))
                schema["required"] = bool(param.get("required"))
                parameters[name] = schema
                if param.get("in") == "query":
                    query.append(name)
            content = (_resolve(document, op.get("requestBody")) or {}).get("content") or {}
            json_body = (
                _resolve(document, (content.get("application/json") or {}).get("schema")) or {}
            )
            required_body = set(json_body.get("required") or [])
            for name, prop in (json_body.get("properties") or {}).items():
                prop = dict(_resolve(document, prop) or {})
                prop["required"] = name in required_body
                parameters[name] = prop
                body.append(name)
            out.append(
                Endpoint(
                    name=op_id,
                    method=method.upper(),
                    path=path,
                    description=str(op.get("summary") or op.get("description") or ""),
                    parameters=parameters,
                    query=query,
                    body=body,
                )
            )
    if wanted is not None:
        missing = wanted - {e.name for e in out}
        if missing:
            raise ValueError(
                f"operations not in the OpenAPI document: {', '.join(sorted(missing))}"
            )
    return out
