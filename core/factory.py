"""The one place that turns (where data lives, which executor, options) into a Session.

Every entry point goes through :func:`create_session`: the ``Session.from_base`` /
``inprocess`` / ``subprocess`` classmethods, ``py-code-mode run`` and ``repl``, the MCP server
and the demo. The executor is looked up by name in the executor registry
(:func:`~py_code_mode.execution.get_backend`), so the session runs on exactly the executor
that was asked for, or :func:`create_session` raises a ConfigurationError saying why.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from .errors import ConfigurationError
from .execution.protocol import validate_timeout

if TYPE_CHECKING:
    from .session import Session
    from .storage.protocol import StorageBackend

#: Spellings accepted on the command line and in code, by registry name.
EXECUTOR_ALIASES = {
    "inprocess": "in-process",
    "in-process": "in-process",
    "in_process": "in-process",
    "subprocess": "subprocess",
    "sandbox": "sandbox",
    "container": "container",
}
#: The names offered by the CLI (``--executor``).
EXECUTOR_CHOICES = ("inprocess", "subprocess", "sandbox", "container")


def executor_name(name: str) -> str:
    """The registry name for ``name`` (``inprocess`` → ``in-process``); unknown → error."""
    from .execution import list_backends

    canonical = EXECUTOR_ALIASES.get(name.strip().lower(), name)
    if canonical not in list_backends():
        raise ConfigurationError(
            f"unknown executor {name!r}; choose one of {', '.join(EXECUTOR_CHOICES)}"
        )
    return canonical


def create_storage(
    base: Path | str | None = None, *, redis: str | None = None, prefix: str | None = None
) -> StorageBackend:
    """RedisStorage when ``redis`` is given, else FileStorage over ``base`` (created)."""
    if redis:
        from .storage.redis import RedisStorage

        return RedisStorage(url=redis, prefix=prefix) if prefix else RedisStorage(url=redis)
    if base is None:
        raise ConfigurationError("a base folder (base=...) or a Redis URL (redis=...) is required")
    from .storage.file import FileStorage

    return FileStorage(base_path=base_folder(base))


def base_folder(base: Path | str) -> Path:
    """``base`` expanded and resolved; created when missing, refused when it is a file."""
    root = Path(base).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f"base folder {str(root)!r} is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create base folder {str(root)!r}: {exc}") from exc
    return root


def create_session(
    *,
    base: Path | str | None = None,
    storage: StorageBackend | None = None,
    redis: str | None = None,
    prefix: str | None = None,
    executor: str = "subprocess",
    timeout: float | None = None,
    tools: Path | str | None = None,
    deps: tuple[str, ...] | list[str] | None = None,
    read_requirements: bool = True,
    make_tools_folder: bool = False,
    allow_runtime_deps: bool = True,
    sync_deps_on_start: bool = False,
    **options: Any,
) -> Session:
    """A Session over a base folder, a Redis URL or a given storage, on the named executor.

    ``tools`` is a folder of tool YAML files; without it, ``{base}/tools`` is used when it
    exists (``make_tools_folder=True`` creates it first, as the Session classmethods do). With
    ``read_requirements``, ``{base}/requirements.txt`` seeds the recorded deps when present.
    Other ``options`` are fields of the executor's config class (``SubprocessConfig``,
    ``SandboxConfig``, ``ContainerConfig``, ...); an unknown one is an error naming it.
    """
    from .execution import get_backend
    from .session import Session

    kind = executor_name(executor)
    timeout = validate_timeout(timeout)
    root = base_folder(base) if base is not None else None
    if storage is None:
        storage = create_storage(root, redis=redis, prefix=prefix)
    tools_path = Path(tools).expanduser() if tools is not None else None
    if tools_path is None and root is not None:
        if make_tools_folder:
            (root / "tools").mkdir(exist_ok=True)
        if (root / "tools").is_dir():
            tools_path = root / "tools"
    requirements = root / "requirements.txt" if root is not None and read_requirements else None
    settings: dict[str, Any] = {
        "default_timeout": timeout,
        "allow_runtime_deps": allow_runtime_deps,
        "tools_path": tools_path,
        "deps": tuple(deps) if deps else None,
        "deps_file": requirements if requirements is not None and requirements.exists() else None,
        **options,
    }
    cls = get_backend(kind)
    config_cls = getattr(cls, "config_class", None)
    if config_cls is None:
        raise ConfigurationError(f"executor {kind!r} does not declare its config_class")
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigurationError(
            f"{config_cls.__name__} has no option(s) {', '.join(unknown)} (executor {kind!r})"
        )
    config = config_cls(**settings)
    return Session(
        storage=storage, executor=cls(config=config), sync_deps_on_start=sync_deps_on_start
    )


class SessionSpec(BaseModel):
    """A Session described as data (where data lives, which executor, its main settings), so
    that framework components holding a Session can be saved and loaded again
    (AutoGen's ``dump_component``/``load_component``)."""

    model_config = ConfigDict(extra="forbid")

    base: str | None = None
    redis: str | None = None
    prefix: str | None = None
    executor: str = "subprocess"
    timeout: float | None = None
    tools: str | None = None
    allow_runtime_deps: bool = True

    def create(self) -> Session:
        """A new Session as described (not started)."""
        return create_session(**self.model_dump())


def describe_session(session: Session) -> SessionSpec:
    """The SessionSpec that builds a Session like ``session``; ConfigurationError when its
    storage or executor cannot be described as data (e.g. a storage object given by hand)."""
    from .execution import get_backend, list_backends

    to_config = getattr(session.storage, "to_bootstrap_config", None)
    where = to_config() if callable(to_config) else {}
    if where.get("type") == "file":
        location: dict[str, Any] = {"base": where["base_path"]}
    elif where.get("type") == "redis" and where.get("url"):
        location = {"redis": where["url"], "prefix": where.get("prefix")}
    else:
        raise ConfigurationError(
            f"cannot describe {session.storage!r} as data: use FileStorage or RedisStorage(url=...)"
        )
    executor = session.executor
    kind = "in-process"  # Session(executor=None) runs in-process
    if executor is not None:
        names = [n for n in list_backends() if get_backend(n) is type(executor)]
        if not names:
            raise ConfigurationError(
                f"cannot describe {type(executor).__name__} as data: register it with "
                "register_backend(name, cls)"
            )
        kind = names[0]
    config = getattr(executor, "config", None)
    tools = getattr(config, "tools_path", None)
    return SessionSpec(
        **location,
        executor=kind,
        timeout=getattr(config, "default_timeout", None),
        tools=str(tools) if tools is not None else None,
        allow_runtime_deps=getattr(config, "allow_runtime_deps", True),
    )
