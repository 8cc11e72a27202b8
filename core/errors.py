"""One exception hierarchy for py-code-mode.

Every error the library raises on purpose is a :class:`CodeModeError` and carries the name of
what failed. Several also subclass the built-in the reference project raised in the same place
(``ValueError``, ``AttributeError``, ``RuntimeError``), so existing ``except`` clauses keep working.

This module is stdlib-only on purpose: the subprocess worker loads it by file path, so code in
the worker raises and catches the very same classes as code on the host.
"""

from __future__ import annotations

from typing import Any


class CodeModeError(Exception):
    """Base class of every py-code-mode error."""

    def to_wire(self) -> dict[str, Any]:
        """The JSON-able description used to re-raise this error across the worker channel."""
        return {"type": type(self).__name__, "message": str(self), "attrs": self._wire_attrs()}

    def _wire_attrs(self) -> dict[str, Any]:
        return {}


class ConfigurationError(CodeModeError, ValueError):
    """A configuration value is invalid."""


class MissingPackageError(CodeModeError, ImportError):
    """A package a feature needs cannot be imported; the message says how to install it."""

    def __init__(self, package: str, feature: str, install: str) -> None:
        super().__init__(
            f"{feature} needs the {package!r} package, which cannot be imported: {install}"
        )
        self.package = package

    def _wire_attrs(self) -> dict[str, Any]:
        return {"package": self.package}


# --- execution ----------------------------------------------------------------------------


class ExecutionError(CodeModeError):
    """Running code failed for a reason outside the user's code (the worker, the channel)."""


class WorkerError(ExecutionError):
    """The subprocess worker could not be started or stopped answering."""


class RPCError(CodeModeError):
    """A call from the worker to the host failed.

    Kept so that the reference's ``except RPCError`` clauses still import: host-side failures
    reach worker code as the NamespaceError family (ToolError, SkillError, ...), and a broken
    channel ends the run with a WorkerError result instead (see compat.NEVER_RAISED)."""


class RPCTransportError(RPCError):
    """The channel between worker and host broke or carried a malformed frame (kept for the
    reference's except clauses; not raised, see compat.NEVER_RAISED)."""


class SessionError(CodeModeError, RuntimeError):
    """A Session cannot do what was asked in its current state."""


class SessionLoopError(SessionError):
    """A call cannot reach the event loop its Session is bound to (blocked, stopped, or the
    caller is that loop's own thread and would block it)."""


class RemoteSessionError(SessionError):
    """A session server refused a request or could not be reached (``status_code`` is the
    HTTP status, 0 when no answer came)."""

    def __init__(self, message: str, status_code: int = 0) -> None:
        super().__init__(message)
        self.status_code = status_code

    def _wire_attrs(self) -> dict[str, Any]:
        return {"status_code": self.status_code}


class SessionExpiredError(RemoteSessionError):
    """The session server evicted this session (idle too long, or it restarted): its variables
    are gone. The next request with the same id starts a fresh session."""


class SessionCapacityError(RemoteSessionError):
    """The session server holds as many sessions as it may (HTTP 503); retry later."""


# --- storage ------------------------------------------------------------------------------


class StorageError(CodeModeError):
    """A storage backend could not read or write."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    def _wire_attrs(self) -> dict[str, Any]:
        return {"path": self.path}


class StorageReadError(StorageError):
    """Stored data could not be read (missing permissions, corrupt record)."""


class StorageWriteError(StorageError):
    """Data could not be written; nothing was changed."""


# --- search -------------------------------------------------------------------------------


class SearchError(CodeModeError):
    """Searching skills or tools failed (the embedder, or reading or writing the index).

    The index is left as it was: a failure that passes (an embedding endpoint that is briefly
    unreachable, a full disk) never costs the index."""

    def __init__(self, message: str, index_path: str | None = None) -> None:
        super().__init__(message)
        self.index_path = index_path

    def _wire_attrs(self) -> dict[str, Any]:
        return {"index_path": self.index_path}


class SearchIndexCorruptError(SearchError):
    """The index's files are damaged; the next sync rebuilds the index from the store."""


# --- namespaces ---------------------------------------------------------------------------


class NamespaceError(CodeModeError):
    """A call on one of the injected namespaces (tools, skills, artifacts, deps) failed."""

    namespace_name = ""

    def __init__(
        self,
        message: str,
        *,
        namespace: str | None = None,
        operation: str = "",
        original_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.namespace = namespace or self.namespace_name
        self.operation = operation
        self.original_type = original_type or type(self).__name__


class ToolError(NamespaceError):
    namespace_name = "tools"


class SkillError(NamespaceError):
    namespace_name = "skills"


class ArtifactError(NamespaceError):
    namespace_name = "artifacts"


class DepsError(NamespaceError):
    namespace_name = "deps"


class ToolNotFoundError(ToolError, AttributeError):
    """No tool (or recipe) of that name is registered."""

    def __init__(self, tool_name: str, available_tools: list[str] | None = None) -> None:
        available = list(available_tools or [])
        shown = ", ".join(available[:20])
        more = f" (and {len(available) - 20} more)" if len(available) > 20 else ""
        msg = f"Tool '{tool_name}' not found. Available: {shown or '(none)'}{more}"
        super().__init__(msg, operation="get")
        self.tool_name = tool_name
        self.available_tools = available

    def _wire_attrs(self) -> dict[str, Any]:
        return {"tool_name": self.tool_name, "available_tools": self.available_tools}


class ToolCallError(ToolError):
    """A tool ran and failed (non-zero exit, HTTP error, MCP error, bad arguments)."""

    def __init__(
        self,
        tool_name: str,
        tool_args: dict[str, Any] | None = None,
        cause: BaseException | str | None = None,
    ) -> None:
        super().__init__(f"Tool '{tool_name}' failed: {cause}", operation="call")
        self.tool_name = tool_name
        self.tool_args = dict(tool_args or {})
        self.cause = cause

    def _wire_attrs(self) -> dict[str, Any]:
        return {"tool_name": self.tool_name, "cause": str(self.cause)}


class ToolTimeoutError(ToolError, TimeoutError):
    """A tool did not finish within its timeout; its process group was killed."""

    def __init__(self, tool_name: str, timeout_seconds: float) -> None:
        super().__init__(f"Tool '{tool_name}' timed out after {timeout_seconds}s", operation="call")
        self.tool_name = tool_name
        self.timeout_seconds = timeout_seconds

    def _wire_attrs(self) -> dict[str, Any]:
        return {"tool_name": self.tool_name, "timeout_seconds": self.timeout_seconds}


class SkillNotFoundError(SkillError, AttributeError, ValueError):
    """No skill of that name exists (an ``AttributeError`` and a ``ValueError`` for compatibility)."""

    def __init__(self, skill_name: str) -> None:
        super().__init__(f"Skill not found: {skill_name}", operation="get")
        self.skill_name = skill_name

    def _wire_attrs(self) -> dict[str, Any]:
        return {"skill_name": self.skill_name}


class SkillValidationError(SkillError, ValueError):
    """A skill's name, source or arguments are invalid; nothing was written."""

    def __init__(self, message: str, skill_name: str | None = None, line: int | None = None):
        super().__init__(message, operation="validate")
        self.skill_name = skill_name
        self.line = line

    def _wire_attrs(self) -> dict[str, Any]:
        return {"skill_name": self.skill_name, "line": self.line}


class SkillSyntaxError(SkillValidationError, SyntaxError):
    """A skill's source does not parse (a ``SyntaxError`` and a ``ValueError``)."""

    def __init__(self, message: str, skill_name: str | None = None, line: int | None = None):
        SkillValidationError.__init__(self, message, skill_name=skill_name, line=line)
        self.lineno = line

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SkillExecutionError(SkillError):
    """A skill raised while running (kept for the reference's except clauses; not raised: the
    skill's own exception reaches the caller unchanged, see compat.NEVER_RAISED)."""


class ArtifactNotFoundError(ArtifactError, KeyError):
    """No artifact of that name is stored."""

    def __init__(self, artifact_name: str) -> None:
        super().__init__(f"Artifact not found: {artifact_name}", operation="load")
        self.artifact_name = artifact_name

    def __str__(self) -> str:  # KeyError would quote the message
        return f"Artifact not found: {self.artifact_name}"

    def _wire_attrs(self) -> dict[str, Any]:
        return {"artifact_name": self.artifact_name}


class ArtifactNameError(ArtifactError, ValueError):
    """An artifact name is empty, too long, or would leave the artifacts folder."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"Invalid artifact name {name!r}: {reason}", operation="validate")
        self.artifact_name = name

    def _wire_attrs(self) -> dict[str, Any]:
        return {"artifact_name": self.artifact_name}


class ArtifactWriteError(ArtifactError):
    """An artifact could not be written; the previous version is intact."""


class DependencyError(DepsError):
    """A package spec is invalid or its install failed."""


class InvalidSpecError(DependencyError, ValueError):
    """A package spec was refused (also a ``ValueError``, as in the reference)."""


class RuntimeDepsDisabledError(DepsError, RuntimeError):
    """Adding or removing packages from code is disabled (``allow_runtime_deps=False``)."""


#: Every error class by name, so the worker channel can re-raise the same type on the other side.
ERRORS_BY_NAME: dict[str, type[CodeModeError]] = {
    cls.__name__: cls
    for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, CodeModeError)
}


def error_from_wire(payload: dict[str, Any]) -> Exception:
    """Rebuild an error sent as :meth:`CodeModeError.to_wire` (or a built-in by name)."""
    name = str(payload.get("type", "CodeModeError"))
    message = str(payload.get("message", ""))
    cls = ERRORS_BY_NAME.get(name)
    if cls is None:
        builtin = {
            "ValueError": ValueError,
            "TypeError": TypeError,
            "KeyError": KeyError,
            "AttributeError": AttributeError,
            "TimeoutError": TimeoutError,
            "RuntimeError": RuntimeError,
            "FileNotFoundError": FileNotFoundError,
            "PermissionError": PermissionError,
            "NotImplementedError": NotImplementedError,
        }.get(name)
        if builtin is not None:
            return builtin(message)
        return NamespaceError(message, original_type=name)
    # Bypass each class's own __init__ signature: restore the message and attributes as sent.
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    for key, value in (payload.get("attrs") or {}).items():
        setattr(err, key, value)
    if isinstance(err, NamespaceError):
        err.namespace = getattr(err, "namespace", None) or type(err).namespace_name
        err.operation = getattr(err, "operation", "")
        err.original_type = name
    return err
