"""Session: storage plus an executor, with REPL semantics and facade methods.

``Session.run`` hands code to the executor (``execution/``), which runs it with the namespaces
built from the storage; the facade methods (``list_artifacts``, ...) serve operators and the
framework adapters without going through code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

from .artifacts.protocol import MISSING
from .execution.in_process import InProcessConfig, InProcessExecutor
from .execution.protocol import Executor
from .execution.subprocess_executor import SubprocessConfig, SubprocessExecutor
from .storage.file import FileStorage
from .storage.protocol import StorageBackend
from .types import ExecutionResult

log = logging.getLogger(__name__)


def _prepare_base(base_path: Path | str | None, base: Path | str | None) -> Path:
    chosen = base_path if base_path is not None else base
    if chosen is None:
        raise TypeError("a base folder is required (base_path)")
    root = Path(chosen).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "tools").mkdir(exist_ok=True)
    return root


def _folder_options(
    base_path: Path | str | None,
    base: Path | str | None,
    timeout: float | None,
    extra_deps: tuple[str, ...] | None,
    allow_runtime_deps: bool,
) -> tuple[Path, dict[str, Any]]:
    """The base folder, and executor settings that discover ``tools/`` and ``requirements.txt``."""
    root = _prepare_base(base_path, base)
    requirements = root / "requirements.txt"
    return root, {
        "default_timeout": timeout,
        "allow_runtime_deps": allow_runtime_deps,
        "tools_path": root / "tools",
        "deps": tuple(extra_deps) if extra_deps else None,
        "deps_file": requirements if requirements.exists() else None,
    }


class Session:
    """A stateful place to run agent code with ``tools``, ``skills``, ``artifacts`` and ``deps``.

    Use it as an async context manager::

        async with Session(storage=FileStorage(base_path=Path("./data"))) as session:
            result = await session.run("x = 1\\nx + 1")
            assert result.value == 2
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
                "supported; pass an instance such as SubprocessExecutor() or InProcessExecutor()"
            )
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(f"executor must be an Executor instance, not {type(executor).__name__}")
        self._storage = storage
        self._executor: Executor | None = executor
        self._sync_deps_on_start = sync_deps_on_start
        self._pending_tools: list[tuple[Any, dict[str, Any]]] = []
        self._pending_framework_tools: list[tuple[Any, dict[str, Any]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
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
        root, options = _folder_options(base_path, base, timeout, extra_deps, allow_runtime_deps)
        return cls(
            storage=FileStorage(base_path=root),
            executor=InProcessExecutor(config=InProcessConfig(**options)),
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
        root, options = _folder_options(base_path, base, timeout, extra_deps, allow_runtime_deps)
        config = SubprocessConfig(python_version=python_version, cache_venv=cache_venv, **options)
        return cls(
            storage=FileStorage(base_path=root),
            executor=SubprocessExecutor(config=config),
            sync_deps_on_start=sync_deps_on_start,
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
        """The event loop the session started on (its pipes and connections live there)."""
        return self._loop

    async def start(self) -> None:
        """Start the executor (idempotent)."""
        if self._started or self._closed:
            return
        if self._executor is None:
            self._executor = InProcessExecutor()
        self._loop = asyncio.get_running_loop()
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
        """Import LanceDB and the embedder and sync the skill index in the background (about a
        second) when there are skills, so the first search does not pay for it."""
        skills_path = getattr(self._storage, "skills_path", None)
        if skills_path is None or not any(Path(skills_path).glob("*.py")):
            return

        def warm() -> None:
            try:
                self._skills().refresh()
            except Exception as exc:  # only a warm-up: the next search reports real errors
                log.debug("search warm-up failed: %r", exc)

        threading.Thread(target=warm, name="py-code-mode-warm-search", daemon=True).start()

    async def close(self) -> None:
        """Stop the executor; the session cannot be used afterwards."""
        if self._executor is not None and self._started:
            await self._executor.close()
        self._started = False
        self._closed = True

    async def __aenter__(self) -> Session:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def reset(self) -> None:
        """Clear user variables; the namespaces stay. No-op before start."""
        if not self._started or self._executor is None:
            return
        await self._executor.reset()

    # --- running -----------------------------------------------------------------------------

    async def run(self, code: str, timeout: float | None = None) -> ExecutionResult:
        """Run ``code``; return its result (errors and timeouts are results, never raised)."""
        if self._closed:
            return ExecutionResult(error="Session is closed")
        if not self._started:
            await self.start()
        assert self._executor is not None
        return await self._executor.run(code, timeout=timeout)

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

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every tool as ``{name, description, tags, callables: [...]}``."""
        await self.start()
        return [t.to_dict() for t in self._registry().list_tools()]

    async def search_tools(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        """Tools ranked for ``query`` (names, descriptions, tags, callables)."""
        await self.start()
        found = await asyncio.to_thread(self._registry().search, query, limit)
        return [t.to_dict() for t in found]

    # --- deps facade -------------------------------------------------------------------------

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

    def _skills(self) -> Any:
        library = getattr(self._storage, "get_skill_library", None)
        if library is None:
            raise TypeError(f"{type(self._storage).__name__} does not keep skills")
        return library()

    async def list_skills(self) -> list[dict[str, Any]]:
        """Every skill as ``{name, description, parameters}`` (no source)."""
        return [s.summary() for s in await asyncio.to_thread(self._skills().list)]

    async def search_skills(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        """The best matches for ``query`` (hybrid full-text + semantic search)."""
        found = await asyncio.to_thread(self._skills().search, query, limit)
        return [s.summary() for s in found]

    async def get_skill(self, name: str) -> dict[str, Any] | None:
        """``{name, description, parameters, source}``, or None."""
        skill = await asyncio.to_thread(self._skills().get, name)
        return None if skill is None else {**skill.summary(), "source": skill.source}

    async def add_skill(self, name: str, source: str, description: str) -> dict[str, Any]:
        """Validate and save a skill; a bad one raises SkillValidationError (a ValueError)."""
        skill = await asyncio.to_thread(self._skills().create, name, source, description)
        return {**skill.summary(), "source": skill.source}

    create_skill = add_skill

    async def remove_skill(self, name: str) -> bool:
        return bool(await asyncio.to_thread(self._skills().delete, name))

    delete_skill = remove_skill

    async def invoke_skill(self, name: str, **kwargs: Any) -> ExecutionResult:
        """Run a skill where code runs (its executor) and return the result of the call."""
        from .skills.skill import validate_skill_name

        validate_skill_name(name)
        payload = json.dumps(kwargs)
        code = f"skills.invoke({name!r}, **__import__('json').loads({payload!r}))"
        return await self.run(code)

    async def skill_history(self, name: str) -> list[dict[str, Any]]:
        """Every version of a skill, oldest first (the last is current)."""
        return [dict(v) for v in await asyncio.to_thread(self._skills().history, name)]

    async def rollback_skill(self, name: str, version: int) -> dict[str, Any]:
        """Make an earlier version current again (saved as a new version)."""
        skill = await asyncio.to_thread(self._skills().rollback, name, version)
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
