"""Data that crosses a boundary: run results and the records namespaces return (pydantic v2).

Records are *hybrid*: they read as attributes (``artifact.name``) and as mappings
(``artifact["name"]``, ``artifact.get("name")``), because the reference project returned objects
in some places and dicts in others and user code relies on both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JsonSchema = dict[str, Any]


class Record(BaseModel):
    """A pydantic model that also behaves like a read-only mapping of its fields."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def __getitem__(self, key: str) -> Any:
        if (
            key in type(self).model_fields
            or (self.model_extra and key in self.model_extra)
            or isinstance(getattr(type(self), key, None), property)
        ):
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def keys(self) -> list[str]:
        return list(type(self).model_fields) + list(self.model_extra or {})

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ExecutionResult(BaseModel):
    """The outcome of one ``Session.run``.

    ``value`` is the last expression's value (under a subprocess executor: the value as data when
    it has a wire form — JSON types, bytes, tuples, sets — else ``None`` with ``repr`` set).
    ``error`` is ``"Type: message"`` and ``traceback`` the traceback trimmed to the user's code.
    The reference's positional form ``ExecutionResult(value, stdout, error, execution_time_ms,
    backend_info)`` still works.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    value: Any = None
    repr: str | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    traceback: str | None = None
    duration_ms: float | None = None
    backend_info: dict[str, Any] = Field(default_factory=dict)

    def __init__(
        self,
        value: Any = None,
        stdout: str = "",
        error: str | None = None,
        execution_time_ms: float | None = None,
        backend_info: dict[str, Any] | None = None,
        **data: Any,
    ) -> None:
        data.setdefault("duration_ms", execution_time_ms)
        super().__init__(
            value=value, stdout=stdout, error=error, backend_info=backend_info or {}, **data
        )

    @property
    def is_ok(self) -> bool:
        """True when the code ran without an error."""
        return self.error is None

    @property
    def execution_time_ms(self) -> float | None:
        """Alias of ``duration_ms`` (the reference's name)."""
        return self.duration_ms

    def text(self) -> str:
        """A compact, model-readable rendering: stdout, then the value or the error."""
        parts = []
        if self.stdout:
            parts.append(self.stdout.rstrip("\n"))
        if self.error is not None:
            parts.append(self.traceback.rstrip("\n") if self.traceback else self.error)
        elif self.repr is not None:
            parts.append(self.repr)
        if self.stderr:
            parts.append("[stderr]\n" + self.stderr.rstrip("\n"))
        return "\n".join(parts)


class Artifact(Record):
    """A stored artifact's metadata."""

    name: str
    path: str
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "description": self.description,
            "metadata": dict(self.metadata),
            "created_at": self.created_at.isoformat(),
        }
