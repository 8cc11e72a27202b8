"""The host side of the namespaces: the objects a session owns and what the worker may ask of them.

In-process code gets these objects directly. A subprocess worker gets proxies whose calls arrive
here as RPC frames; :meth:`HostNamespaces.dispatch` treats every such call as untrusted input:
only listed methods are callable, arguments are decoded from the wire form, and results are
converted back to plain data.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ..errors import CodeModeError
from .worker import decode_data, encode_data

#: The methods a worker may call on each namespace.
RPC_METHODS: dict[str, frozenset[str]] = {
    "artifacts": frozenset({"save", "load", "get", "list", "exists", "delete"}),
    "tools": frozenset({"list", "search", "describe", "get", "call"}),
    "deps": frozenset({"add", "list", "remove", "sync"}),
    "skills": frozenset(
        {
            "search",
            "list",
            "get",
            "exists",
            "create",
            "delete",
            "describe",
            "history",
            "rollback",
            "source",
            "record",
        }
    ),
}
#: Namespaces whose calls may block (disk scans, index queries): served off the event loop.
BLOCKING = frozenset({"skills", "deps"})


def to_plain(value: Any) -> Any:
    """Records become dicts (recursively through lists) before they are encoded."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return value.to_dict()
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


class HostNamespaces:
    """The namespace objects of one session, owned by the host process.

    ``in_code`` is what in-process code gets as globals; ``rpc`` is what a worker's proxies may
    call (the same objects, or adapters that return plain data).
    """

    def __init__(
        self,
        artifacts: Any | None = None,
        skills: Any | None = None,
        tools: Any | None = None,
        deps: Any | None = None,
    ) -> None:
        self.in_code: dict[str, Any] = {}
        self.rpc: dict[str, Any] = {}
        self.registry = tools
        self.deps = deps
        if tools is not None:
            from ..tools.namespace import ToolsNamespace, ToolsRPC

            loop = asyncio.get_running_loop()
            self.in_code["tools"] = ToolsNamespace(tools, loop)
            self.rpc["tools"] = ToolsRPC(tools)
        if skills is not None:
            from ..skills.namespace import SkillsNamespace, SkillsRPC

            namespace = SkillsNamespace(skills, namespaces=lambda: dict(self.in_code))
            self.in_code["skills"] = namespace
            self.rpc["skills"] = SkillsRPC(namespace)
        if artifacts is not None:
            self.in_code["artifacts"] = artifacts
            self.rpc["artifacts"] = artifacts
        if deps is not None:
            from ..deps.manager import DepsNamespace, DepsRPC

            self.in_code["deps"] = DepsNamespace(deps)
            self.rpc["deps"] = DepsRPC(deps)

    @classmethod
    async def build(
        cls,
        storage: Any,
        *,
        tools_path: Any = None,
        registry: Any = None,
        artifacts: Any = None,
        skills: Any = None,
        deps: Any = None,
    ) -> HostNamespaces:
        """Namespaces over a storage backend; explicit objects win over the storage's.

        Tools come from ``registry`` (if given) plus the YAML files under ``tools_path`` — or,
        when no path is configured, under the FileStorage base's ``tools/`` folder.
        """
        from ..tools.registry import ToolRegistry

        if storage is not None:
            if artifacts is None:
                artifacts = storage.get_artifact_store()
            if skills is None and hasattr(storage, "get_skill_library"):
                skills = storage.get_skill_library()
            if tools_path is None:
                tools_path = getattr(storage, "tools_path", None)
        if registry is None:
            index = getattr(storage, "index_path", None)
            registry = ToolRegistry(index_path=index / "index" if index is not None else None)
        if tools_path is not None:
            await registry.load_dir(tools_path)
        return cls(artifacts=artifacts, skills=skills, tools=registry, deps=deps)

    @property
    def names(self) -> list[str]:
        return list(self.rpc)

    async def dispatch(self, namespace: Any, method: Any, args: Any, kwargs: Any) -> dict[str, Any]:
        """Serve one call from the worker; always returns an ``rpc_result`` body, never raises."""
        try:
            if namespace not in self.rpc or method not in RPC_METHODS.get(namespace, ()):
                raise AttributeError(f"{namespace!r} has no callable {method!r}")
            args = decode_data(args) if args is not None else []
            kwargs = decode_data(kwargs) if kwargs is not None else {}
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("malformed call arguments")
            if not all(isinstance(k, str) for k in kwargs):
                raise TypeError("keyword names must be strings")
            bound = getattr(self.rpc[namespace], method)
            if namespace in BLOCKING:
                result = await asyncio.to_thread(bound, *args, **kwargs)
            else:
                result = bound(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return {"ok": True, "value": encode_data(to_plain(result))}
        except CodeModeError as exc:
            return {"ok": False, "error": exc.to_wire()}
        except Exception as exc:  # reported to the worker's code, never fatal to the host
            return {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}}
