"""Session: storage plus an executor, with REPL semantics and facade methods.

A Session assembles: it owns its storage, the executor that runs its code and the event loop
it started on. ``Session.run`` hands code to the executor (``execution/``); the facade methods
(``list_artifacts``, ...) serve operators and the framework adapters without going through code.

Loop ownership: a Session binds to one event loop when it starts (one start, behind a lock,
whatever the concurrency). Its worker pipes, MCP connections and waiter futures live on that
loop. An ``await`` from another loop hops onto it; a blocking call from a thread uses
:meth:`Session.blocking` (or :class:`SyncSession`), and a Session first used from sync code
starts on a private loop of its own, running on its own thread.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from . import _portal
from .artifacts.protocol import MISSING
from .errors import SessionError
from .execution.protocol import Executor
from .storage.protocol import StorageBackend
from .types import ExecutionResult

log = logging.getLogger(__name__)

T = TypeVar("T")
_Method = TypeVar("_Method", bound=Callable[..., Coroutine[Any, Any, Any]])


def on_session_loop(method: _Method) -> _Method:
    """Run an async Session method on the loop the Session is bound to (hop when elsewhere)."""

    @functools.wraps(method)
    async def wrapper(self: Session, *args: Any, **kwargs: Any) -> Any:
        loop = self._loop
        if loop is not None and _portal.running_loop() is not loop:
            return await _portal.hop(loop, method(self, *args, **kwargs))
        return await method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _base_argument(base_path: Path | str | None, base: Path | str | None) -> Path | str:
    chosen = base_path if base_path is not None else base
    if chosen is None:
        raise TypeError("a base folder is required (base_path)")
    return chosen


class Session:
    """A stateful place to run agent code with ``tools``, ``skills``, ``artifacts`` and ``deps``.

    Use it as an async context manager::

        async with Session(storage=FileStorage(base_path=Path("./data"))) as session:
            result = await session.run("x = 1\\nx + 1")
            assert result.value == 2

    From sync code, use :class:`SyncSession` (the same Session behind blocking methods).
    """

    def __init__(
        self,
        storage: StorageBackend,
        executor: Executor | None = None,
        sync_deps_on_start: bool = False,
    ) -> None:
        if storage is None:
            raise TypeError("Session requires a storage backend, e.g. FileStorage(base_path=...)")
        if isinstance(executor, str):
            raise TypeError(
                f"executor={executor!r}: selecting an executor by string is no longer "
                "supported; pass an instance such as SubprocessExecutor() or InProcessExecutor(), "
                "or build the session with py_code_mode.create_session(executor=...)"
            )
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(f"executor must be an Executor instance, not {type(executor).__name__}")
        self._storage = storage
        self._executor: Executor | None = executor
        self._sync_deps_on_start = sync_deps_on_start
        self._pending_tools: list[tuple[Any, dict[str, Any]]] = []
        self._pending_framework_tools: list[tuple[Any, dict[str, Any]]] = []
        # Loop ownership: bound once, under _bind_lock, by the first start().
        self._bind_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._own_loop: _portal.LoopThread | None = None
        self._starting: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    # --- constructors ------------------------------------------------------------------------

    @classmethod
    def from_base(
        cls,
        base_path: Path | str | None = None,
        *,
        base: Path | str | None = None,
        timeout: float | None = 30.0,
        extra_deps: tuple[str, ...] | None = None,
        allow_runtime_deps: bool = True,
        sync_deps_on_start: bool = False,
    ) -> Session:
        """A session over one folder (``tools/``, ``skills/``, ``artifacts/``,
        ``requirements.txt``) with the in-process executor."""
        return cls.inprocess(
            base_path,
            base=base,
            timeout=timeout,
            extra_deps=extra_deps,
            allow_runtime_deps=allow_runtime_deps,
            sync_deps_on_start=sync_deps_on_start,
        )

    @classmethod
    def inprocess(
        cls,
        base_path: Path | str | None = None,
        *,
        base: Path | str | None = None,
        timeout: float | None = 30.0,
        extra_deps: tuple[str, ...] | None = None,
        allow_runtime_deps: bool = True,
        sync_deps_on_start: bool = False,
    ) -> Session:
        """Like :meth:`from_base`: the in-process executor over one folder."""
        from .factory import create_session

        return create_session(
            base=_base_argument(base_path, base),
            executor="inprocess",
            timeout=timeout,
            deps=extra_deps,
            make_tools_folder=True,
            allow_runtime_deps=allow_runtime_deps,
            sync_deps_on_start=sync_deps_on_start,
        )

    in_process = inprocess

    @classmethod
    def subprocess(
        cls,
        base_path: Path | str | None = None,
        *,
        base: Path | str | None = None,
        timeout: float | None = 60.0,
        extra_deps: tuple[str, ...] | None = None,
        allow_runtime_deps: bool = True,
        sync_deps_on_start: bool = False,
        python_version: str | None = None,
        cache_venv: bool = True,
    ) -> Session:
        """A session over one folder whose code runs in a worker process."""
        from .factory import create_session

        return create_session(
            base=_base_argument(base_path, base),
            executor="subprocess",
            timeout=timeout,
            deps=extra_deps,
            make_tools_folder=True,
            allow_runtime_deps=allow_runtime_deps,
            sync_deps_on_start=sync_deps_on_start,
            python_version=python_version,
            cache_venv=cache_venv,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def storage(self) -> StorageBackend:
        return self._storage

    @property
    def executor(self) -> Executor | None:
        return self._executor

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the session is bound to (None before its first start)."""
        return self._loop

    @property
    def started(self) -> bool:
        return self._started

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        """Start the executor (idempotent). The first call binds the session to the running
        loop; concurrent calls share that one start; calls from another loop hop onto it."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        with self._bind_lock:
            if self._loop is None:
                self._loop = loop
                self._loop_thread_id = threading.get_ident()
            if self._loop is loop and self._starting is None:
                self._starting = loop.create_task(self._start_once())
            owner, starting = self._loop, self._starting
        if owner is not loop:
            return await _portal.hop(owner, self.start())
        assert starting is not None
        try:
            await asyncio.shield(starting)
        except BaseException:
            if starting.done() and not starting.cancelled() and starting.exception() is not None:
                with self._bind_lock:  # a failed start may be retried (e.g. after a fix)
                    if self._starting is starting:
                        self._starting = None
            raise

    async def _start_once(self) -> None:
        if self._executor is None:
            from .execution.in_process import InProcessExecutor

            self._executor = InProcessExecutor()
        if hasattr(self._executor, "provide_namespaces"):
            # The Session assembles; the executor only runs cells against what it is given.
            from .execution.host import build_namespaces

            executor: Any = self._executor
            options = executor.namespace_options()
            executor.provide_namespaces(await build_namespaces(self._storage, options))
        await self._executor.start(self._storage)
        self._started = True
        pending, self._pending_tools = self._pending_tools, []
        for fn, options in pending:
            self._registry().register_callable(fn, **options)
        framework, self._pending_framework_tools = self._pending_framework_tools, []
        for tool, options in framework:
            self._registry().register_framework_tool(tool, **options)
        deps = getattr(self._executor, "deps", None)
        if self._sync_deps_on_start and deps is not None:
            await asyncio.to_thread(deps.sync)
        self._warm_search()

    def _warm_search(self) -> None:
        """Ready skill search in the background (LanceDB, the embedder, the index), so that the
        agent's first search pays nothing; returns at once (see SkillLibrary.warm)."""
        if hasattr(self._storage, "get_skill_library"):
            self.skill_library().warm()

    async def close(self) -> None:
        """Stop the executor; the session cannot be used afterwards."""
        loop = self._loop
        if loop is not None and _portal.running_loop() is not loop and loop.is_running():
            await _portal.hop(loop, self._close_here())
        else:
            await self._close_here()
        self._release_own_loop()

    async def _close_here(self) -> None:
        if self._closed:
            return
        self._closed = True
        starting = self._starting
        if starting is not None and not starting.done():
            # Let a start in flight finish so that what it started is closed too.
            await asyncio.wait([starting])
        if self._executor is not None and self._started:
            await self._executor.close()
        self._started = False

    def _release_own_loop(self) -> None:
        own = self._own_loop
        if own is None:
            return
        if threading.current_thread() is own.thread:
            own.loop.call_later(0.05, own.loop.stop)  # after this call's result is delivered
        else:
            own.stop()

    async def __aenter__(self) -> Session:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @on_session_loop
    async def reset(self) -> None:
        """Clear user variables; the namespaces stay. No-op before start."""
        if not self._started or self._executor is None:
            return
        await self._executor.reset()

    # --- sync callers ------------------------------------------------------------------------

    def blocking(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` (an async call on this session) from sync code and return its result.

        Works from any thread that is not the session's own loop thread: a session not started
        yet starts on a private loop running on its own thread. Fails fast with
        SessionLoopError where waiting could never end (see ``_portal.wait_sync``)."""
        if self._closed:
            raise SessionError("Session is closed")
        loop = self._loop
        if loop is None:
            loop = self._bind_own_loop()
        return _portal.wait_sync(loop, self._loop_thread_id, make)

    def _bind_own_loop(self) -> asyncio.AbstractEventLoop:
        with self._bind_lock:
            if self._loop is None:
                own = _portal.LoopThread(f"py-code-mode-session-{id(self):x}")
                self._own_loop = own
                self._loop = own.loop
                self._loop_thread_id = own.thread.ident
            loop = self._loop
        _portal.wait_sync(loop, self._loop_thread_id, self.start)
        return loop

    # --- running -----------------------------------------------------------------------------

    @on_session_loop
    async def run(
        self,
        code: str,
        timeout: float | None = None,
        *,
        on_output: Callable[[str, str], Any] | None = None,
    ) -> ExecutionResult:
        """Run ``code``; return its result (errors and timeouts are results, never raised).

        ``on_output(stream, text)``, when given, is called as the code prints (``stream`` is
        ``"stdout"`` or ``"stderr"``): line by line, coalesced into a few calls a second, on
        the session's event loop, up to the output cap. The result's ``stdout`` and ``stderr``
        still hold everything (capped), streamed or not.

        Cancelling the awaiting task interrupts the code, as a timeout does."""
        if self._closed:
            return ExecutionResult(error="Session is closed")
        if not self._started:
            await self.start()
            if self._closed:
                return ExecutionResult(error="Session is closed")
        assert self._executor is not None
        if on_output is None:  # executors of other projects may not know on_output
            return await self._executor.run(code, timeout=timeout)
        executor: Any = self._executor  # the built-in executors stream; the protocol does not
        return await executor.run(code, timeout=timeout, on_output=on_output)

    def interrupt(self) -> bool:
        """Interrupt the running cell with KeyboardInterrupt, as Ctrl-C does in a REPL: its run
        returns that error with the output so far, and the session keeps its state. Safe to
        call from a signal handler on the session's loop. False when nothing was running."""
        interrupt = getattr(self._executor, "interrupt", None)
        return bool(self._started and interrupt is not None and interrupt())

    def supports(self, capability: str) -> bool:
        """Whether the started executor has a capability (False before start)."""
        return self._started and self._executor is not None and self._executor.supports(capability)

    def supported_capabilities(self) -> set[str]:
        if not self._started or self._executor is None:
            return set()
        return set(self._executor.supported_capabilities())

    # --- tools -------------------------------------------------------------------------------

    def _registry(self) -> Any:
        registry = getattr(self._executor, "registry", None)
        if registry is None:
            raise TypeError(f"{type(self._executor).__name__} has no tool registry")
        return registry

    def register_tool(
        self,
        fn: Any,
        name: str | None = None,
        description: str | None = None,
        tags: tuple[str, ...] | list[str] = (),
    ) -> None:
        """Expose a Python callable as ``tools.<name>`` (schema from its signature and
        docstring). It runs on the host, also under a subprocess executor."""
        options = {"name": name, "description": description, "tags": tuple(tags)}
        if self._started:
            self._registry().register_callable(fn, **options)
        else:
            self._pending_tools.append((fn, options))

    def register_framework_tool(
        self, tool: Any, name: str | None = None, tags: tuple[str, ...] = ()
    ) -> None:
        """Expose an existing LangChain, LlamaIndex or AutoGen tool as ``tools.<name>``."""
        if self._started:
            self._registry().register_framework_tool(tool, name=name, tags=tags)
        else:
            self._pending_framework_tools.append((tool, {"name": name, "tags": tuple(tags)}))

    @on_session_loop
    async def list_tools(self) -> list[dict[str, Any]]:
        """Every tool as ``{name, description, tags, callables: [...]}``."""
        await self.start()
        return [t.to_dict() for t in self._registry().list_tools()]

    @on_session_loop
    async def search_tools(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        """Tools ranked for ``query`` (names, descriptions, tags, callables)."""
        await self.start()
        found = await asyncio.to_thread(self._registry().search, query, limit)
        return [t.to_dict() for t in found]

    # --- deps facade -------------------------------------------------------------------------

    @on_session_loop
    async def _deps(self) -> Any:
        await self.start()
        manager = getattr(self._executor, "deps", None)
        if manager is None:
            raise TypeError(f"{type(self._executor).__name__} does not manage deps")
        return manager

    async def list_deps(self) -> list[str]:
        """The recorded packages."""
        return list((await self._deps()).list())

    async def add_dep(self, package: str) -> dict[str, Any]:
        """Install a package into the overlay and record it: ``{installed, already_present,
        failed}``. An invalid spec raises InvalidSpecError (a ValueError); a refused one
        RuntimeDepsDisabledError; a failed install DependencyError (nothing recorded)."""
        manager = await self._deps()
        return (await asyncio.to_thread(manager.add, package)).to_dict()

    async def remove_dep(self, package: str) -> dict[str, Any]:
        """Remove a package from the record: ``{removed, not_found, failed, removed_from_config}``."""
        manager = await self._deps()
        return await asyncio.to_thread(manager.remove_report, package)

    async def sync_deps(self) -> dict[str, Any]:
        """Install everything recorded (always allowed)."""
        manager = await self._deps()
        return (await asyncio.to_thread(manager.sync)).to_dict()

    # --- skills facade -----------------------------------------------------------------------

    def skill_library(self) -> Any:
        """The skill library over this session's storage (sync: storage work, no loop needed)."""
        library = getattr(self._storage, "get_skill_library", None)
        if library is None:
            raise TypeError(f"{type(self._storage).__name__} does not keep skills")
        return library()

    async def list_skills(self) -> list[dict[str, Any]]:
        """Every skill as ``{name, description, parameters}`` (no source)."""
        return [s.summary() for s in await asyncio.to_thread(self.skill_library().list)]

    async def search_skills(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        """The best matches for ``query`` (hybrid full-text + semantic search)."""
        found = await asyncio.to_thread(self.skill_library().search, query, limit)
        return [s.summary() for s in found]

    async def get_skill(self, name: str) -> dict[str, Any] | None:
        """``{name, description, parameters, source}``, or None."""
        skill = await asyncio.to_thread(self.skill_library().get, name)
        return None if skill is None else {**skill.summary(), "source": skill.source}

    async def add_skill(self, name: str, source: str, description: str) -> dict[str, Any]:
        """Validate and save a skill; a bad one raises SkillValidationError (a ValueError)."""
        skill = await asyncio.to_thread(self.skill_library().create, name, source, description)
        return {**skill.summary(), "source": skill.source}

    create_skill = add_skill

    async def remove_skill(self, name: str) -> bool:
        return bool(await asyncio.to_thread(self.skill_library().delete, name))

    delete_skill = remove_skill

    @on_session_loop
    async def invoke_skill(self, name: str, **kwargs: Any) -> ExecutionResult:
        """Run a skill where code runs (its executor) and return the result of the call."""
        from .skills.skill import validate_skill_name

        validate_skill_name(name)
        payload = json.dumps(kwargs)
        code = f"skills.invoke({name!r}, **__import__('json').loads({payload!r}))"
        return await self.run(code)

    async def skill_history(self, name: str) -> list[dict[str, Any]]:
        """Every version of a skill, oldest first (the last is current)."""
        return [dict(v) for v in await asyncio.to_thread(self.skill_library().history, name)]

    async def rollback_skill(self, name: str, version: int) -> dict[str, Any]:
        """Make an earlier version current again (saved as a new version)."""
        skill = await asyncio.to_thread(self.skill_library().rollback, name, version)
        return {**skill.summary(), "source": skill.source, "version": skill.version}

    # --- artifacts facade --------------------------------------------------------------------

    async def list_artifacts(self) -> list[dict[str, Any]]:
        """Every artifact as ``{name, path, description, metadata, created_at}``."""
        return [a.to_dict() for a in self._storage.get_artifact_store().list()]

    async def save_artifact(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        artifact = self._storage.get_artifact_store().save(name, data, description, metadata)
        return artifact.to_dict()

    async def load_artifact(self, name: str, default: Any = MISSING) -> Any:
        """The stored data; raises ArtifactNotFoundError when missing and no default is given."""
        return self._storage.get_artifact_store().load(name, default)

    async def delete_artifact(self, name: str) -> None:
        self._storage.get_artifact_store().delete(name)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "started" if self._started else "new"
        return (
            f"<Session {state} storage={self._storage!r} executor={type(self._executor).__name__}>"
        )


class SyncSession:
    """A Session for sync code: the same methods, blocking, on a loop of its own.

    The wrapped Session starts on a private event loop running on its own thread (the way
    httpx ships ``Client`` beside ``AsyncClient``), so sync code — scripts, framework worker
    threads, a notebook — never shares a loop with it by accident::

        with SyncSession(storage=FileStorage("./data")) as session:
            print(session.run("6 * 7").value)

    ``SyncSession(session=existing)`` wraps a Session that is already bound to a loop; its
    calls then hop onto that loop (from a thread other than the loop's own).
    """

    def __init__(
        self,
        storage: StorageBackend | None = None,
        executor: Executor | None = None,
        sync_deps_on_start: bool = False,
        *,
        session: Session | None = None,
    ) -> None:
        if session is None:
            if storage is None:
                raise TypeError("SyncSession needs storage=... or session=...")
            session = Session(storage, executor, sync_deps_on_start)
        self.session = session

    def __getattr__(self, name: str) -> Any:
        # Every async facade method of Session, blocking (list_skills, add_dep, ...).
        attr = getattr(self.session, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.session.blocking(lambda: attr(*args, **kwargs))

        return call

    def start(self) -> SyncSession:
        self.session.blocking(self.session.start)
        return self

    def run(
        self,
        code: str,
        timeout: float | None = None,
        *,
        on_output: Callable[[str, str], Any] | None = None,
    ) -> ExecutionResult:
        """Run ``code`` and return its result (see :meth:`Session.run`; ``on_output`` is
        called on the session's own loop thread)."""
        return self.session.blocking(
            lambda: self.session.run(code, timeout=timeout, on_output=on_output)
        )

    def reset(self) -> None:
        self.session.blocking(self.session.reset)

    def close(self) -> None:
        if self.session.closed:
            return
        if self.session.loop is None:  # never started: nothing runs yet
            self.session._closed = True
            return
        self.session.blocking(self.session._close_here)
        self.session._release_own_loop()

    def __enter__(self) -> SyncSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncSession {self.session!r}>"
