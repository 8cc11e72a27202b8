"""Settings kept only so that code written for the reference project keeps running.

Each entry is a config field the reference documented that has no effect here, with the reason.
The fields stay on the configs (so constructors accept them); setting one to anything but its
default warns once, saying why it does nothing, instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

_NO_VENV = (
    "the worker is a stdlib-only package run by the chosen interpreter, so no venv is built "
    "for it (choose the interpreter with python_version, venv_path or python_executable)"
)
_NO_HTTP = (
    "a local ContainerExecutor speaks to its worker over `docker run -i`, not over HTTP "
    "(these apply to a session server reached with remote_url)"
)

#: (config class name, field) -> why setting it does nothing.
UNUSED_FIELDS: dict[tuple[str, str], str] = {
    ("SubprocessConfig", "base_deps"): _NO_VENV,
    ("SubprocessConfig", "cache_venv"): _NO_VENV,
    ("SubprocessConfig", "cleanup_venv_on_close"): _NO_VENV,
    ("InProcessConfig", "ipc_timeout"): "in-process code calls its namespaces directly, no IPC",
    ("ContainerConfig", "port"): _NO_HTTP,
    ("ContainerConfig", "host"): _NO_HTTP,
    ("ContainerConfig", "health_check_interval"): _NO_HTTP,
}


#: Exception classes the reference exported that py-code-mode never raises, and why. They stay
#: in ``py_code_mode.errors`` so that ``except`` clauses written for the reference still import.
NEVER_RAISED: dict[str, str] = {
    "SkillExecutionError": "a skill's own exception reaches the caller unchanged",
    "RPCError": "host-side failures reach worker code as ToolError, SkillError, ArtifactError "
    "or DepsError",
    "RPCTransportError": "a broken worker channel ends the run with a WorkerError result",
}


class CompatibilityWarning(UserWarning):
    """A setting from the reference project that has no effect here."""


def warn_unused(config: Any) -> None:
    """Warn about each field of ``config`` listed in UNUSED_FIELDS that is not at its default
    (checked by class name up the MRO, so SandboxConfig inherits SubprocessConfig's list)."""
    names = [cls.__name__ for cls in type(config).__mro__]
    for field in dataclasses.fields(config):
        reason = next((UNUSED_FIELDS[(n, field.name)] for n in names
                       if (n, field.name) in UNUSED_FIELDS), None)  # fmt: skip
        if reason is None:
            continue
        default = (
            field.default_factory()  # type: ignore[misc]
            if field.default_factory is not dataclasses.MISSING
            else field.default
        )
        if getattr(config, field.name) != default:
            warnings.warn(
                f"{type(config).__name__}.{field.name} has no effect in py-code-mode: {reason}",
                CompatibilityWarning,
                stacklevel=4,
            )
