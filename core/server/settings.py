"""What a session server serves and how: storage, executor, auth and limits.

Settings come from ``py-code-mode serve`` flags or, for ``uvicorn
py_code_mode.execution.container.server:app``, from the reference project's environment
variables (``CONTAINER_AUTH_TOKEN``, ``CONTAINER_AUTH_DISABLED``, ``REDIS_URL``, ``TOOLS_PATH``,
``DEFAULT_TIMEOUT``, ...) plus ``PY_CODE_MODE_*`` ones for what the reference did not have.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

#: Executors a server may run sessions on (both start one worker process per session).
SERVER_EXECUTORS = ("subprocess", "sandbox")
TOKEN_ENV = "CONTAINER_AUTH_TOKEN"
AUTH_DISABLED_ENV = "CONTAINER_AUTH_DISABLED"
_TRUE = {"1", "true", "yes", "on"}


@dataclass
class ServerSettings:
    """Settings of one session server process.

    Exactly one of ``base`` (a FileStorage folder) and ``redis`` (a Redis URL) says where
    skills, artifacts and deps live; every session of the server shares that storage. Auth
    fails closed: :meth:`validate` refuses settings with neither a token nor
    ``auth_disabled=True``.
    """

    base: Path | None = None
    redis: str | None = None
    prefix: str | None = None
    executor: str = "subprocess"
    tools: Path | None = None
    token: str | None = field(default=None, repr=False)
    auth_disabled: bool = False
    #: Seconds per run when the request names none (``None``: unlimited).
    timeout: float | None = 30.0
    #: Upper bound on any run's timeout, whatever the request asks.
    max_timeout: float = 300.0
    max_sessions: int = 64
    #: Seconds a session may stay unused before it is closed (its variables are lost).
    idle_timeout: float = 3600.0
    max_body_bytes: int = 32 * 1024 * 1024
    max_code_bytes: int = 1024 * 1024
    allow_runtime_deps: bool = True
    deps: tuple[str, ...] = ()
    #: Extra fields of the executor's config class (``memory_limit_mb``, ``warm_spare``, ...).
    executor_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, *, default_base: Path | None = None
    ) -> ServerSettings:
        """Settings from the reference's environment variables (and ``PY_CODE_MODE_*``); the
        base folder is ``default_base`` when neither Redis nor a folder is named."""
        env = dict(os.environ if environ is None else environ)
        s = cls()
        s.token = (env.get(TOKEN_ENV) or "").strip() or None
        s.auth_disabled = env.get(AUTH_DISABLED_ENV, "").strip().lower() in _TRUE
        s.redis = env.get("REDIS_URL") or None
        s.prefix = env.get("PY_CODE_MODE_REDIS_PREFIX") or _prefix_from(env)
        s.base = (_base_from(env) or default_base) if s.redis is None else None
        if tools := env.get("TOOLS_PATH"):
            s.tools = Path(tools)
        s.executor = env.get("PY_CODE_MODE_EXECUTOR", s.executor)
        if value := env.get("DEFAULT_TIMEOUT"):
            s.timeout = _number("DEFAULT_TIMEOUT", value)
        if value := env.get("MAX_EXECUTION_TIME"):
            s.max_timeout = _number("MAX_EXECUTION_TIME", value)
        if value := env.get("ALLOW_RUNTIME_DEPS"):
            s.allow_runtime_deps = value.strip().lower() in _TRUE
        if value := env.get("CONTAINER_DEPS"):
            s.deps = tuple(d.strip() for d in value.split(",") if d.strip())
        for name, attr in (
            ("PY_CODE_MODE_MAX_SESSIONS", "max_sessions"),
            ("PY_CODE_MODE_MAX_BODY_BYTES", "max_body_bytes"),
            ("PY_CODE_MODE_MAX_CODE_BYTES", "max_code_bytes"),
        ):
            if value := env.get(name):
                setattr(s, attr, int(_number(name, value)))
        if value := env.get("PY_CODE_MODE_IDLE_TIMEOUT"):
            s.idle_timeout = _number("PY_CODE_MODE_IDLE_TIMEOUT", value)
        return s

    def replace(self, **changes: Any) -> ServerSettings:
        """A copy with ``changes`` applied (``None`` values leave a setting as it is)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def validate(self) -> ServerSettings:
        """Raise ConfigurationError naming what is wrong; auth fails closed."""
        if self.token is None and not self.auth_disabled:
            raise ConfigurationError(
                "refusing to start without authentication: give a token (--token-file FILE, "
                f"--token TOKEN or ${TOKEN_ENV}) or disable auth explicitly (--auth-disabled or "
                f"{AUTH_DISABLED_ENV}=true, for local development only)"
            )
        if self.token is not None and self.auth_disabled:
            raise ConfigurationError("a token and --auth-disabled exclude each other; pick one")
        if self.executor not in SERVER_EXECUTORS:
            raise ConfigurationError(
                f"executor {self.executor!r} cannot serve sessions; choose one of "
                f"{', '.join(SERVER_EXECUTORS)}"
            )
        if self.redis is None and self.base is None:
            raise ConfigurationError("a base folder (--base) or a Redis URL (--redis) is required")
        for name in ("max_sessions", "max_body_bytes", "max_code_bytes"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.idle_timeout <= 0 or self.max_timeout <= 0:
            raise ConfigurationError("idle_timeout and max_timeout must be > 0 seconds")
        return self

    def take_token_from_environment(self) -> None:
        """Drop the token variable from this process's environment, so the workers it starts
        (and their code) do not inherit it."""
        os.environ.pop(TOKEN_ENV, None)


def read_token_file(path: str | Path) -> str:
    """The token in ``path`` (surrounding whitespace removed); a missing or empty file is an
    error that names the file, never its content."""
    try:
        token = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the token file {str(path)!r}: {exc.strerror}"
        ) from None
    if not token:
        raise ConfigurationError(f"the token file {str(path)!r} is empty")
    return token


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {value!r}") from None


def _prefix_from(env: dict[str, str]) -> str | None:
    """The RedisStorage prefix behind the reference's per-store prefixes (``P:skills``)."""
    for name, suffix in (
        ("REDIS_SKILLS_PREFIX", ":skills"),
        ("REDIS_ARTIFACTS_PREFIX", ":artifacts"),
    ):
        value = env.get(name)
        if value:
            return value[: -len(suffix)] if value.endswith(suffix) else value
    return None


def _base_from(env: dict[str, str]) -> Path | None:
    """The FileStorage folder: ``PY_CODE_MODE_BASE``, else the folder holding the reference's
    ``SKILLS_PATH`` / ``ARTIFACTS_PATH`` (which must then agree)."""
    if base := env.get("PY_CODE_MODE_BASE"):
        return Path(base)
    parents = {
        name: Path(env[name]).parent for name in ("SKILLS_PATH", "ARTIFACTS_PATH") if env.get(name)
    }
    if len(set(parents.values())) > 1:
        raise ConfigurationError(
            "SKILLS_PATH and ARTIFACTS_PATH are in different folders "
            f"({', '.join(f'{k}={env[k]}' for k in parents)}); this server keeps skills/ and "
            "artifacts/ under one base folder: set PY_CODE_MODE_BASE instead"
        )
    return next(iter(parents.values()), None)
