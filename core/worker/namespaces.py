"""``tools``, ``skills``, ``artifacts`` and ``deps`` as code sees them, made from the surface.

The same classes serve both executors; only the transport differs. In-process the transport
calls the host's objects directly (from the cell thread); in a worker process it sends ``rpc``
frames over the channel. Either way a method returns what :func:`convert` makes of the host's
plain data, so values *and types* are the same under every executor.

A transport has ``call(namespace, method, args) -> data`` (blocking), ``call_async(...)`` (an
awaitable), ``notify(...)`` (one-way, no reply) and ``host_attribute(namespace, name)`` (extras
that only exist in-process, such as ``artifacts.path``; a worker raises AttributeError).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, Protocol

from . import errors
from .skills import SkillCallable, SkillRunner
from .surface import SURFACE, Method, param_names
from .wire import Record, to_records


class _Missing:
    """The default of ``artifacts.load``: no default given (None is a valid default)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Transport(Protocol):
    """How a namespace reaches the host (see the module docstring)."""

    def call(self, namespace: str, method: str, args: tuple[Any, ...]) -> Any: ...

    def call_async(self, namespace: str, method: str, args: tuple[Any, ...]) -> Any: ...

    def notify(self, namespace: str, method: str, args: tuple[Any, ...]) -> None: ...

    def host_attribute(self, namespace: str, name: str) -> Any: ...


def convert(spec: Method, value: Any) -> Any:
    """What code gets for a method's plain result."""
    kind = spec.result
    if kind == "record":
        return to_records(value) if isinstance(value, dict) else value
    if kind == "records":
        return [to_records(v) for v in value or []]
    if kind == "bool":
        return bool(value)
    if kind == "str":
        return str(value)
    if kind == "list":
        return list(value or [])
    if kind == "none":
        return None
    return value


def _make_method(name: str, spec: Method) -> Callable[..., Any]:
    # Generated from the declaration so that each method has its real signature (help(),
    # argument errors) and no per-call introspection.
    names = param_names(spec.params)
    params = f"self, {spec.params}" if spec.params else "self"
    args = "(" + "".join(f"{n}, " for n in names) + ")"
    scope: dict[str, Any] = {"MISSING": MISSING}
    exec(f"def {name}({params}):\n    return self._call({name!r}, {args})\n", scope)
    fn: Callable[..., Any] = scope[name]
    fn.__doc__ = spec.doc
    return fn


def declared(cls: type[Namespace]) -> type[Namespace]:
    """Give a namespace class the public methods of its surface (unless it defines them)."""
    for name, spec in SURFACE[cls.namespace].items():
        if not spec.internal and name not in cls.__dict__:
            method = _make_method(name, spec)
            method.__qualname__ = f"{cls.__name__}.{name}"
            setattr(cls, name, method)
    return cls


class Namespace:
    """A namespace whose declared methods go through a transport."""

    namespace = ""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._surface = SURFACE[self.namespace]

    def _call(self, method: str, args: tuple[Any, ...]) -> Any:
        spec = self._surface[method]
        while args and args[-1] is MISSING:  # a default the host fills in itself
            args = args[:-1]
        if spec.oneway:
            self._transport.notify(self.namespace, method, args)
            return None
        result = convert(spec, self._transport.call(self.namespace, method, args))
        self._after(method)
        return result

    def _after(self, method: str) -> None:
        """Hook run after a successful call."""

    def __repr__(self) -> str:
        return f"<{self.namespace} namespace>"


@declared
class Artifacts(Namespace):
    """``artifacts``: ``save``, ``load``, ``get``, ``list``, ``exists``, ``delete``."""

    namespace = "artifacts"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._transport.host_attribute(self.namespace, name)


@declared
class Deps(Namespace):
    """``deps``: ``add``, ``list``, ``remove``, ``sync`` (installs run on the host)."""

    namespace = "deps"

    def _after(self, method: str) -> None:
        if method in ("add", "sync"):
            import importlib

            importlib.invalidate_caches()  # the new package is importable without a restart


def _is_coroutine(value: Any) -> bool:
    return type(value).__name__ == "coroutine" and hasattr(value, "close")


class ToolCallableHandle:
    """``tools.<name>.<callable>``: call it, ``.call_sync(...)`` or ``await .call_async(...)``."""

    def __init__(self, owner: Tools, tool: str, info: dict[str, Any]) -> None:
        self._owner = owner
        self._tool = tool
        self._info = info

    def __call__(self, **kwargs: Any) -> Any:
        return self._owner._call_tool(self._tool, self._info["name"], kwargs)

    def call_sync(self, **kwargs: Any) -> Any:
        return self._owner._call_tool_sync(self._tool, self._info["name"], kwargs)

    def call_async(self, **kwargs: Any) -> Any:
        return self._owner._call_tool_async(self._tool, self._info["name"], kwargs)

    def describe(self) -> dict[str, str]:
        return {p["name"]: p.get("description", "") for p in self._info.get("parameters", [])}

    def signature(self) -> str:
        return str(self._info.get("signature", self._info["name"]))

    def __repr__(self) -> str:
        return f"<tools.{self._tool}.{self.signature()}>"


class ToolHandle:
    """``tools.<name>``: call it (the raw tool), or pick a callable: ``tools.<name>.<recipe>``."""

    def __init__(self, owner: Tools, info: dict[str, Any]) -> None:
        self._owner = owner
        self._info = info

    def __call__(self, **kwargs: Any) -> Any:
        return self._owner._call_tool(self._info["name"], None, kwargs)

    def call_sync(self, **kwargs: Any) -> Any:
        return self._owner._call_tool_sync(self._info["name"], None, kwargs)

    def call_async(self, **kwargs: Any) -> Any:
        return self._owner._call_tool_async(self._info["name"], None, kwargs)

    def list(self) -> builtins.list[Record]:
        return [to_records(c) for c in self._info.get("callables", [])]

    def describe(self) -> str:
        return str(self._owner._call("describe", (self._info["name"],)))

    def __getattr__(self, name: str) -> ToolCallableHandle:
        if name.startswith("_"):
            raise AttributeError(name)
        tool = self._info["name"]
        callables = self._info.get("callables", [])
        if not callables:  # not listed yet (an unreachable MCP server): let the host decide
            return ToolCallableHandle(self._owner, tool, {"name": name})
        for c in callables:
            if c["name"] == name:
                return ToolCallableHandle(self._owner, tool, c)
        known = [f"{tool}.{c['name']}" for c in callables]
        raise _tool_not_found(f"{tool}.{name}", known)

    def __dir__(self) -> builtins.list[str]:
        return sorted({*super().__dir__(), *(c["name"] for c in self._info.get("callables", []))})

    def __repr__(self) -> str:
        return f"<tool {self._info['name']}: {self._info.get('description', '')}>"


def _tool_not_found(name: str, known: builtins.list[str]) -> BaseException:
    shown = ", ".join(known[:20])
    more = f" (and {len(known) - 20} more)" if len(known) > 20 else ""
    return errors.make(
        "ToolNotFoundError",
        f"Tool '{name}' not found. Available: {shown or '(none)'}{more}",
        ("AttributeError",),
        tool_name=name,
        available_tools=known,
        operation="get",
    )


@declared
class Tools(Namespace):
    """``tools``: ``list``, ``search``, ``describe``, and ``tools.<name>...`` calls, which always
    run on the host (credentials, MCP connections and HTTP clients never enter a worker)."""

    namespace = "tools"

    def _call_tool(self, tool: str, callable_name: str | None, kwargs: dict[str, Any]) -> Any:
        return self._call("call", (tool, callable_name, kwargs))

    def _call_tool_sync(self, tool: str, callable_name: str | None, kwargs: dict[str, Any]) -> Any:
        result = self._call_tool(tool, callable_name, kwargs)
        if _is_coroutine(result):
            result.close()
            raise RuntimeError(
                "call_sync() cannot block the event loop it runs on; use call_async()"
            )
        return result

    def _call_tool_async(self, tool: str, callable_name: str | None, kwargs: dict[str, Any]) -> Any:
        """An awaitable: the caller's event loop keeps running while the tool does."""
        return self._transport.call_async(self.namespace, "call", (tool, callable_name, kwargs))

    _cell_views: dict[str, Any] | None = None  # see new_cell

    def new_cell(self) -> None:
        """A cell starts (in a worker): from now on ``tools.<name>`` looks a tool up once per
        cell, so that a call in a loop is one round trip, not two. A tool changed on the host
        is seen from the next cell on."""
        self._cell_views = {}

    def __getattr__(self, name: str) -> ToolHandle:
        if name.startswith("_"):
            raise AttributeError(name)
        views = self._cell_views
        if views is None:
            return ToolHandle(self, self._call("get", (name,)))
        view = views.get(name)
        if view is None:
            view = views[name] = self._call("get", (name,))
        return ToolHandle(self, view)

    def __dir__(self) -> builtins.list[str]:
        return sorted({*super().__dir__(), *(t["name"] for t in self.list())})  # type: ignore[attr-defined]


@declared
class Skills(Namespace):
    """``skills``: search, create and invoke skills: ``skills.search(q)``, ``skills.<name>(...)``.

    The library lives on the host; a skill's code runs here, with these namespaces as globals.
    """

    namespace = "skills"

    def __init__(
        self,
        transport: Transport,
        namespaces: Callable[[], dict[str, Any]] | None = None,
        *,
        max_depth: int = 16,
    ) -> None:
        super().__init__(transport)
        self._runner = SkillRunner(
            fetch=lambda name: self._call("source", (name,)),  # type: ignore[no-any-return]
            namespaces=namespaces or (lambda: {"skills": self}),
            record=lambda name, ok, ms: self._call("record", (name, ok, ms)),
            max_depth=max_depth,
        )

    def bind_namespaces(self, namespaces: Callable[[], dict[str, Any]]) -> None:
        """Give skill code these namespaces as globals."""
        self._runner._namespaces = namespaces

    def invoke(self, skill_name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Run a skill by name and return what its ``run`` returns."""
        return self._invoke(skill_name, args, kwargs)

    def _invoke(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        info: dict[str, Any] | None = None,
    ) -> Any:
        return self._runner.invoke(name, args, kwargs, info)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "library":  # the reference's in-process extra
            return self._transport.host_attribute(self.namespace, name)
        # One round trip: the lookup fetches what the first call needs.
        return SkillCallable(self, name, self._call("source", (name,)))

    def __dir__(self) -> builtins.list[str]:
        return sorted({*super().__dir__(), *(s["name"] for s in self.list())})  # type: ignore[attr-defined]


CLASSES: dict[str, type[Namespace]] = {
    "artifacts": Artifacts,
    "tools": Tools,
    "skills": Skills,
    "deps": Deps,
}


def build(
    transport: Transport, names: builtins.list[str] | tuple[str, ...]
) -> dict[str, Namespace]:
    """The namespaces code gets as globals; skill code sees the same ones."""
    built: dict[str, Namespace] = {n: CLASSES[n](transport) for n in names if n in CLASSES}
    skills = built.get("skills")
    if isinstance(skills, Skills):
        skills.bind_namespaces(lambda: dict(built))
    return built
