"""The contract every executor fulfils, and the capability names sessions can ask about."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..storage.protocol import StorageBackend
    from ..types import ExecutionResult


class Capability:
    """Names of optional executor features (``session.supports(Capability.TIMEOUT)``)."""

    TIMEOUT = "timeout"
    PROCESS_ISOLATION = "process_isolation"
    NETWORK_ISOLATION = "network_isolation"
    NETWORK_FILTERING = "network_filtering"
    FILESYSTEM_ISOLATION = "filesystem_isolation"
    CONTAINER_ISOLATION = "container_isolation"
    MEMORY_LIMIT = "memory_limit"
    CPU_LIMIT = "cpu_limit"
    RESET = "reset"
    DEPS_INSTALL = "deps_install"
    DEPS_UNINSTALL = "deps_uninstall"

    @classmethod
    def all(cls) -> set[str]:
        return {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}


@runtime_checkable
class Executor(Protocol):
    """Runs code for a Session. Implementations: in-process, subprocess (and sandboxed)."""

    async def start(self, storage: StorageBackend | None = None) -> None: ...

    async def run(self, code: str, timeout: float | None = None) -> ExecutionResult:
        """Run code. The built-in executors also take ``on_output=`` (see Session.run)."""
        ...

    async def reset(self) -> None: ...

    async def close(self) -> None: ...

    def supports(self, capability: str) -> bool: ...

    def supported_capabilities(self) -> set[str]: ...


def validate_timeout(timeout: float | None, what: str = "timeout") -> float | None:
    """``None`` (unlimited) or a finite number of seconds above zero; else ConfigurationError
    (a ValueError). The one check for every timeout: configs, ``run()``, the command line."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ConfigurationError(f"{what} must be a number of seconds, not {timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigurationError(f"{what} must be a finite number of seconds > 0, not {timeout!r}")
    return float(timeout)


def _refused(error: str) -> ExecutionResult:
    from ..types import ExecutionResult  # pydantic: only once a run is refused

    return ExecutionResult(error=error)


#: ``on_output(stream, text)``: what a run prints, as it prints (``stream``: "stdout", "stderr").
OutputListener = Callable[[str, str], Any]


def hand_on(on_output: OutputListener, stream: str, text: str) -> None:
    """Call an output listener; one that fails is logged, never fails the run."""
    try:
        on_output(stream, text)
    except Exception:
        import logging

        logging.getLogger("py_code_mode.execution").warning("on_output failed", exc_info=True)


class ExecutorBase:
    """What every built-in executor shares: ``async with``, ``supports``, and taking the
    namespaces the Session assembled (``provide_namespaces``) instead of building its own."""

    _provided: Any = None

    async def start(self, storage: Any = None) -> None:
        raise NotImplementedError

    def namespace_options(self) -> Any:
        """What this executor's settings say about the namespaces (a ``NamespaceOptions``)."""
        raise NotImplementedError

    def provide_namespaces(self, namespaces: Any) -> None:
        """Run cells against these (assembled by the Session) when :meth:`start` comes."""
        self._provided = namespaces

    async def _namespaces(self, storage: Any) -> Any:
        """The namespaces to run against: the provided ones, else assembled here by the same
        function the Session uses (an executor started on its own)."""
        provided, self._provided = self._provided, None
        if provided is not None:
            return provided
        from .host import build_namespaces

        return await build_namespaces(storage, self.namespace_options())

    async def close(self) -> None:
        raise NotImplementedError

    def supported_capabilities(self) -> set[str]:
        raise NotImplementedError

    def supports(self, capability: str) -> bool:
        return capability in self.supported_capabilities()

    async def _prepare_run(self, code: object, timeout: object = None) -> ExecutionResult | None:
        """Start if needed; an error result when the code cannot run at all (the same checks,
        and the same messages, under every executor)."""
        if getattr(self, "_closed", False):
            return _refused("Session is closed")
        if type(code) is not str and not isinstance(code, str):
            return _refused(f"TypeError: code must be a string, not {type(code).__name__}")
        if timeout is not None:
            try:
                validate_timeout(timeout)  # type: ignore[arg-type]
            except ConfigurationError as exc:
                return _refused(f"ValueError: {exc}")
        if not getattr(self, "_started", False):
            await self.start()
        return None

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


_BACKENDS: dict[str, type[Any]] = {}


def register_backend(name: str, cls: type[Any]) -> None:
    """Make an executor class available under ``name``."""
    _BACKENDS[name] = cls


def get_backend(name: str) -> type[Any]:
    if name not in _BACKENDS:
        raise KeyError(f"Unknown executor backend {name!r}. Known: {', '.join(sorted(_BACKENDS))}")
    return _BACKENDS[name]


def list_backends() -> list[str]:
    return sorted(_BACKENDS)
