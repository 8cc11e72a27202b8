"""The host side of the namespaces: the objects a session owns and what the worker may ask of them.

In-process code gets these objects directly. A subprocess worker gets proxies whose calls arrive
here as RPC frames; :meth:`HostNamespaces.dispatch` treats every such call as untrusted input:
only listed methods are callable, arguments are decoded from the wire form, and results are
converted back to plain data.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import CodeModeError
from .worker import decode_data, encode_data

#: The methods a worker may call on each namespace.
RPC_METHODS: dict[str, frozenset[str]] = {
    "artifacts": frozenset({"save", "load", "get", "list", "exists", "delete"}),
}


def to_plain(value: Any) -> Any:
    """Records become dicts (recursively through lists) before they are encoded."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return value.to_dict()
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


class HostNamespaces:
    """The namespace objects of one session, owned by the host process."""

    def __init__(self, artifacts: Any | None = None) -> None:
        self.objects: dict[str, Any] = {}
        if artifacts is not None:
            self.objects["artifacts"] = artifacts

    @property
    def names(self) -> list[str]:
        return list(self.objects)

    async def dispatch(self, namespace: Any, method: Any, args: Any, kwargs: Any) -> dict[str, Any]:
        """Serve one call from the worker; always returns an ``rpc_result`` body, never raises."""
        try:
            if namespace not in self.objects or method not in RPC_METHODS.get(namespace, ()):
                raise AttributeError(f"{namespace!r} has no callable {method!r}")
            args = decode_data(args) if args is not None else []
            kwargs = decode_data(kwargs) if kwargs is not None else {}
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("malformed call arguments")
            if not all(isinstance(k, str) for k in kwargs):
                raise TypeError("keyword names must be strings")
            result = getattr(self.objects[namespace], method)(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return {"ok": True, "value": encode_data(to_plain(result))}
        except CodeModeError as exc:
            return {"ok": False, "error": exc.to_wire()}
        except Exception as exc:  # reported to the worker's code, never fatal to the host
            return {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}}
