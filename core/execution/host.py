"""The one place a session's namespaces are assembled, and the host side of the channel.

:func:`build_namespaces` turns a storage backend plus an executor's settings into
:class:`HostNamespaces`: the objects that serve ``tools``, ``skills``, ``artifacts`` and ``deps``.
The Session calls it once when it starts and hands the result to its executor; an executor used
on its own (``await executor.start(storage)``) calls the same function. Executors build nothing.

In-process code gets namespace objects over a :class:`~py_code_mode.worker.local.LocalTransport`
(``in_code``). A worker process gets the same classes over its channel; its calls arrive here as
``rpc`` frames that :meth:`HostNamespaces.dispatch` treats as untrusted input: only methods
declared in :data:`~py_code_mode.worker.surface.SURFACE` are callable, a call larger than its
method's ``max_bytes`` is refused before any work, arguments arrive decoded from the wire form
(:func:`~py_code_mode.worker.wire.loads`), blocking ones run off the event loop, and results
become plain data by the same declaration.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..worker import namespaces as code_namespaces
from ..worker.errors import builtin_bases_of
from ..worker.local import LocalTransport, plain
from ..worker.surface import allowed
from ..worker.wire import encode_data

log = logging.getLogger(__name__)
#: Blocking one-way messages (skill statistics) are served on a helper thread in batches of
#: this many, and all at the end of a run: not one thread hop per skill call.
_NOTES_BATCH = 256


@dataclass
class NamespaceOptions:
    """What an executor's configuration says about the namespaces (everything else comes from
    the storage). Explicit objects win over the ones built from the storage."""

    tools_path: Path | str | None = None
    registry: Any = None
    artifacts: Any = None
    skills: Any = None
    deps: Any = None  # a DepsManager; None: built from the storage and the settings below
    python: str | None = None  # the interpreter that installs packages (where code runs)
    allow_runtime_deps: bool = True
    deps_specs: tuple[str, ...] | None = None
    deps_file: Path | str | None = None
    deps_installer: Any = None
    source_builds: bool = True  # False: wheels only (code runs outside the host process)
    extra: dict[str, Any] = field(default_factory=dict)


def _error_wire(exc: BaseException) -> dict[str, Any]:
    to_wire = getattr(exc, "to_wire", None)
    wire = to_wire() if callable(to_wire) else {"type": type(exc).__name__, "message": str(exc)}
    wire["bases"] = builtin_bases_of(exc)
    return wire


class HostNamespaces:
    """The namespace objects of one session, owned by the host process.

    ``handlers`` serve each namespace's declared methods; ``in_code`` is what in-process code
    gets as globals. ``registry``, ``library`` and ``deps`` are the objects behind them.
    """

    def __init__(
        self,
        artifacts: Any | None = None,
        skills: Any | None = None,
        tools: Any | None = None,
        deps: Any | None = None,
        *,
        owns_registry: bool = False,
    ) -> None:
        self.registry = tools
        self.library = skills
        self.artifacts = artifacts
        self.deps = deps
        self.owns_registry = owns_registry
        self.handlers: dict[str, Any] = {}
        self._notes: deque[tuple[str, str, Any]] = deque()  # blocking notes not yet served
        self._draining: asyncio.Future[None] | None = None
        extras: dict[str, Any] = {}
        if tools is not None:
            from ..tools.namespace import ToolsHost

            self.handlers["tools"] = ToolsHost(tools)
        if skills is not None:
            from ..skills.namespace import SkillsHost

            self.handlers["skills"] = SkillsHost(skills)
            extras["skills"] = _SkillsExtras(skills)
        if artifacts is not None:
            self.handlers["artifacts"] = artifacts
            extras["artifacts"] = artifacts
        if deps is not None:
            from ..deps.manager import DepsHost

            self.handlers["deps"] = DepsHost(deps)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self.transport = LocalTransport(self.handlers, extras, loop)
        self.in_code: dict[str, Any] = code_namespaces.build(self.transport, self.names)

    @property
    def names(self) -> list[str]:
        return list(self.handlers)

    async def aclose(self) -> None:
        """Close what the assembly opened (MCP connections, HTTP clients)."""
        await self.notes_settled()
        if self.owns_registry and self.registry is not None:
            await self.registry.close()

    async def dispatch(
        self, namespace: Any, method: Any, args: Any, kwargs: Any, size: int | None = None
    ) -> dict[str, Any]:
        """Serve one call from the worker; always returns an ``rpc_result`` body, never raises.

        ``args`` and ``kwargs`` come decoded from the frame; ``size`` is the frame's size in
        bytes, checked against the method's ``max_bytes``."""
        try:
            spec = allowed(namespace, method)
            if spec is None or spec.oneway or namespace not in self.handlers:
                raise AttributeError(f"{namespace!r} has no callable {method!r}")
            if size is not None and spec.max_bytes is not None and size > spec.max_bytes:
                raise ValueError(
                    f"{namespace}.{method}: the call is {size:,} bytes, more than its limit of "
                    f"{spec.max_bytes:,} bytes (refused before the host worked on it)"
                )
            args = [] if args is None else args
            kwargs = {} if kwargs is None else kwargs
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("malformed call arguments")
            if not all(isinstance(k, str) for k in kwargs):
                raise TypeError("keyword names must be strings")
            handler = self.handlers[namespace]
            bound = getattr(handler, method)
            if spec.blocking and method not in getattr(handler, "inline", ()):
                result = await asyncio.to_thread(bound, *args, **kwargs)
            else:
                result = bound(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return {"ok": True, "value": encode_data(plain(spec, result))}
        except Exception as exc:  # reported to the worker's code, never fatal to the host
            return {"ok": False, "error": _error_wire(exc)}

    async def note(self, namespace: Any, method: Any, args: Any, size: int | None = None) -> None:
        """Serve a one-way message from the worker (no reply; failures are logged)."""
        self.note_soon(namespace, method, args, size)
        await self.notes_settled()

    def note_soon(self, namespace: Any, method: Any, args: Any, size: int | None = None) -> None:
        """Take a one-way message from the worker; one that must be served off the event loop
        (``blocking``) is queued for a helper thread, so that the run goes on meanwhile and
        many notes share one thread hop. :meth:`notes_settled` waits until all are served."""
        spec = allowed(namespace, method)
        if spec is None or not spec.oneway or namespace not in self.handlers:
            log.warning("ignored a note for %r.%r from the worker", namespace, method)
            return
        if size is not None and spec.max_bytes is not None and size > spec.max_bytes:
            log.warning("ignored a note of %d bytes for %s.%s", size, namespace, method)
            return
        if not spec.blocking:
            self._serve_note(namespace, method, args)
            return
        self._notes.append((namespace, method, args))
        if self._draining is None and len(self._notes) >= _NOTES_BATCH:
            self._start_drain()

    @property
    def notes_waiting(self) -> int:
        return len(self._notes)

    async def notes_settled(self) -> None:
        """Serve the queued notes (the end of a run: its statistics are kept when it ends)."""
        if self._notes and self._draining is None:
            self._start_drain()
        while self._draining is not None:
            await asyncio.shield(self._draining)

    def _start_drain(self) -> None:
        task = asyncio.ensure_future(asyncio.to_thread(self._drain))
        self._draining = task
        task.add_done_callback(self._drained)

    def _drained(self, task: asyncio.Future[None]) -> None:
        self._draining = None
        if len(self._notes) >= _NOTES_BATCH:  # queued after the thread looked for the last time
            self._start_drain()

    def _drain(self) -> None:
        notes = self._notes
        while notes:
            self._serve_note(*notes.popleft())

    def _serve_note(self, namespace: str, method: str, args: Any) -> None:
        try:
            decoded = [] if args is None else args
            if not isinstance(decoded, list):
                raise TypeError("malformed note arguments")
            getattr(self.handlers[namespace], method)(*decoded)
        except Exception:  # statistics only: the run goes on
            log.warning("%s.%s from the worker failed", namespace, method, exc_info=True)


class _SkillsExtras:
    """In-process extras of ``skills`` (the reference's ``skills.library``)."""

    def __init__(self, library: Any) -> None:
        self.library = library


async def build_namespaces(storage: Any, options: NamespaceOptions | None = None) -> HostNamespaces:
    """Assemble a session's namespaces from its storage and its executor's settings.

    Tools come from ``options.registry`` (if given) plus the YAML files under ``tools_path`` —
    or, when no path is configured, under the FileStorage base's ``tools/`` folder. Skills are
    the storage's searchable skill library; deps are recorded in the storage and installed with
    ``options.python`` into the storage's overlay folder.
    """
    from ..tools.registry import ToolRegistry

    options = options or NamespaceOptions()
    artifacts, skills, tools_path = options.artifacts, options.skills, options.tools_path
    if storage is not None:
        if artifacts is None:
            artifacts = storage.get_artifact_store()
        if skills is None and (
            hasattr(storage, "get_skill_store") or hasattr(storage, "get_skill_library")
        ):
            from ..skills.library import library_for

            skills = library_for(storage)
        if tools_path is None:
            tools_path = getattr(storage, "tools_path", None)
    registry, owns_registry = options.registry, False
    if registry is None:
        index = getattr(storage, "index_path", None)
        registry = ToolRegistry(index_path=index / "index" if index is not None else None)
        owns_registry = True
    if tools_path is not None:
        await registry.load_dir(tools_path)
    deps = options.deps
    if deps is None and options.python is not None:
        from ..deps.manager import deps_for

        deps = deps_for(
            storage,
            python=options.python,
            allow_runtime_deps=options.allow_runtime_deps,
            configured=options.deps_specs,
            deps_file=options.deps_file,
            installer=options.deps_installer,
            source_builds=options.source_builds,
        )
    return HostNamespaces(
        artifacts=artifacts, skills=skills, tools=registry, deps=deps, owns_registry=owns_registry
    )
