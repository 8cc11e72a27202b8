"""ToolRegistry: every tool of a session, from YAML files and from Python, with search.

Loading a folder never fails as a whole: a file that does not validate is reported (file name
and problem, in ``load_errors`` and the log) and the others still load.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ToolCallError, ToolError, ToolNotFoundError
from .adapters.cli import CLIAdapter, parse_cli_tool_dict
from .adapters.python import PythonToolAdapter
from .models import Tool

log = logging.getLogger(__name__)


class _AwaitableList(list):  # type: ignore[type-arg]
    """A list that can also be awaited (``await registry.register_adapter(a)`` in old docs)."""

    def __await__(self) -> Generator[Any, None, _AwaitableList]:
        if False:  # pragma: no cover - makes this a generator
            yield
        return self


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "(file)"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


class ToolRegistry:
    """The tools a session's code can call: ``tools.<name>.<callable>(**kwargs)``."""

    def __init__(self, embedder: Any = None, *, index_path: Path | str | None = None) -> None:
        self._adapters: list[Any] = []
        self._owner: dict[str, Any] = {}
        self._tags: dict[str, set[str]] = {}
        self._cli = CLIAdapter()
        self._python = PythonToolAdapter()
        self._adapters += [self._cli, self._python]
        self.load_errors: list[str] = []
        self._embedder = embedder
        self._index_path = Path(index_path) if index_path is not None else None
        self._index: Any = None

    # --- loading -----------------------------------------------------------------------------

    @classmethod
    async def from_dir(cls, path: Path | str, embedder: Any = None) -> ToolRegistry:
        registry = cls(embedder)
        await registry.load_dir(path)
        return registry

    async def load_dir(self, path: Path | str) -> list[Tool]:
        """Load every ``*.yaml`` (and ``*.yml``) tool file of a folder, in name order."""
        folder = Path(path)
        loaded: list[Tool] = []
        if not folder.is_dir():
            return loaded
        for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                loaded += await self.load_file(file)
            except Exception as exc:  # one bad file never stops the others
                message = f"{file.name}: {exc}"
                self.load_errors.append(message)
                log.warning("tool file not loaded: %s", message)
        return loaded

    async def load_file(self, file: Path) -> list[Tool]:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ToolError(f"not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise ToolError("a tool file must hold a mapping with at least 'name'")
        kind = data.get("type", "cli")
        try:
            if kind == "cli":
                definition = parse_cli_tool_dict(data)
                self._claim(definition.name, self._cli, replace_same_adapter=True)
                self._cli.add(definition)
                self._tags[definition.name] = set(definition.tags)
                return [t for t in self._cli.list_tools() if t.name == definition.name]
            if kind == "mcp":
                from .adapters.mcp import MCPAdapter

                adapter = MCPAdapter.from_config(data)
                try:
                    await adapter.connect()
                except ToolError as exc:
                    # Keep the namespace: a later call reconnects. Report the failure now.
                    self.load_errors.append(f"{file.name}: {exc}")
                    log.warning("MCP server of %s not reachable: %s", file.name, exc)
                return self.register_adapter(adapter)
            if kind == "http":
                from .adapters.http import HTTPAdapter

                http = HTTPAdapter.from_config(data, relative_to=file.parent)
                return self.register_adapter(http)
        except ValidationError as exc:
            raise ToolError(_describe_validation(exc)) from None
        raise ToolError(f"unknown tool type {kind!r} (expected cli, mcp or http)")

    def _claim(self, name: str, adapter: Any, *, replace_same_adapter: bool = False) -> None:
        owner = self._owner.get(name)
        if owner is not None and owner is not adapter:
            raise ValueError(f"a tool named {name!r} is already registered")
        if owner is adapter and not replace_same_adapter:
            raise ValueError(f"a tool named {name!r} is already registered")
        self._owner[name] = adapter

    # --- registering -------------------------------------------------------------------------

    def register_adapter(self, adapter: Any, tags: Iterable[str] | None = None) -> _AwaitableList:
        """Add an adapter and its tools (tags merged in); returns the tools (also awaitable)."""
        tools = adapter.list_tools()
        for tool in tools:
            self._claim(tool.name, adapter)
            self._tags[tool.name] = set(tool.tags) | set(tags or ())
        if adapter not in self._adapters:
            self._adapters.append(adapter)
        return _AwaitableList(self._with_tags(t) for t in tools)

    add_adapter = register_adapter

    def register_callable(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] = (),
        input_schema: dict[str, Any] | None = None,
    ) -> Tool:
        """A Python function as a tool (schema from its signature and docstring, unless
        ``input_schema`` is given)."""
        tool_name = str(name or getattr(fn, "__name__", ""))
        owner = self._owner.get(tool_name)
        if owner is not None and owner is not self._python:
            raise ValueError(f"a tool named {tool_name!r} is already registered")
        tool = self._python.register(
            fn, name=name, description=description, tags=tags, input_schema=input_schema
        )
        self._owner[tool.name] = self._python
        self._tags[tool.name] = set(tags)
        return tool

    register_tool = register_callable

    def register_framework_tool(
        self, tool: Any, name: str | None = None, tags: Iterable[str] = ()
    ) -> Tool:
        """An existing LangChain, LlamaIndex or AutoGen tool, callable as ``tools.<name>(...)``.

        Recognized by shape (the core imports no framework): LangChain ``BaseTool``
        (``ainvoke``), LlamaIndex ``BaseTool`` (``metadata`` + ``acall``), AutoGen ``BaseTool``
        (``schema`` + ``run_json``).
        """
        from .framework import adapt_framework_tool

        fn, tool_name, description, schema = adapt_framework_tool(tool)
        return self.register_callable(
            fn, name=name or tool_name, description=description, tags=tags, input_schema=schema
        )

    def get_adapters(self) -> list[Any]:
        return list(self._adapters)

    # --- reading -----------------------------------------------------------------------------

    def _with_tags(self, tool: Tool) -> Tool:
        tags = sorted(self._tags.get(tool.name, set()) | set(tool.tags))
        return tool if tags == tool.tags else tool.model_copy(update={"tags": tags})

    def get_all_tools(self) -> list[Tool]:
        tools: dict[str, Tool] = {}
        for adapter in self._adapters:
            for tool in adapter.list_tools():
                if self._owner.get(tool.name) is adapter:
                    tools[tool.name] = self._with_tags(tool)
        return [tools[n] for n in sorted(tools)]

    def list_tools(self, scope: Iterable[str] | None = None) -> list[Tool]:
        """Every tool, by name; with ``scope``, only tools carrying one of those tags."""
        tools = self.get_all_tools()
        if scope is not None:
            wanted = set(scope)
            tools = [t for t in tools if wanted & set(t.tags)]
        return tools

    def names(self) -> list[str]:
        return sorted(self._owner)

    def get_tool(self, name: str) -> Tool:
        for tool in self.get_all_tools():
            if tool.name == name:
                return tool
        raise ToolNotFoundError(name, self.names())

    def find_adapter_for_tool(self, name: str) -> Any:
        return self._owner.get(name)

    def scoped_view(self, tags: Iterable[str]) -> ToolRegistry:
        """A registry holding only the tools with one of ``tags`` (sharing the adapters)."""
        view = ToolRegistry(self._embedder, index_path=self._index_path)
        view._adapters = list(self._adapters)
        keep = {t.name for t in self.list_tools(tags)}
        view._owner = {n: a for n, a in self._owner.items() if n in keep}
        view._tags = {n: t for n, t in self._tags.items() if n in keep}
        return view

    # --- calling -----------------------------------------------------------------------------

    async def call_tool(self, name: str, callable_name: str | None, args: dict[str, Any]) -> Any:
        """Run one call. Unknown names raise ToolNotFoundError; failures ToolCallError."""
        adapter = self._owner.get(name)
        if adapter is None:
            raise ToolNotFoundError(name, self.names())
        if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
            raise ToolCallError(name, {}, "arguments must be keyword arguments")
        try:
            return await adapter.call_tool(name, callable_name, args)
        except ToolError:
            raise
        except (OSError, ValueError, RuntimeError) as exc:
            raise ToolCallError(name, args, f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        for adapter in self._adapters:
            try:
                await adapter.close()
            except Exception as exc:  # closing one adapter must not stop the others
                log.debug("closing %r failed: %r", adapter, exc)

    # --- search and description --------------------------------------------------------------

    def search(self, query: str, limit: int = 10) -> list[Tool]:
        """Tools ranked for ``query`` (names, descriptions, tags, callables); hybrid search."""
        tools = {t.name: t for t in self.get_all_tools()}
        if not (query or "").strip():
            return list(tools.values())[: max(0, limit)]
        from ..search.index import HybridIndex, content_hash

        if self._index is None:
            path = self._index_path
            if path is None:
                import tempfile

                path = Path(tempfile.mkdtemp(prefix="py-code-mode-tools-"))
                self._index_path = path
            self._index = HybridIndex(path, "tools", self._embedder)
        docs = {}
        for name, t in tools.items():
            doc = t.search_document()
            docs[name] = t.search_document(content_hash(name, doc.text, doc.embed_text))
        hits = self._index.query(docs, query, limit)
        ranked = [tools[n] for n, _ in hits if n in tools]
        # An exact name or tag always comes first, even when the index ranks it lower.
        q = query.strip().lower()
        exact = [
            t for t in tools.values() if t.name.lower() == q or q in (x.lower() for x in t.tags)
        ]
        seen = {t.name for t in exact}
        return (exact + [t for t in ranked if t.name not in seen])[: max(0, limit)]

    def describe(self, name: str | None = None) -> str:
        """Python stubs of one tool or all, as code calls them."""
        if name is not None:
            return self.get_tool(name).stub()
        return "\n\n".join(t.stub() for t in self.get_all_tools())
