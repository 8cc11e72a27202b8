"""``skills`` inside code (in-process), and the host side of the worker's ``skills`` proxy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import SkillNotFoundError
from ..execution.worker import SkillCallable, SkillRunner
from .library import SkillLibrary
from .skill import Skill
from .store import SkillVersion


class SkillsNamespace:
    """Search, create and invoke skills from code: ``skills.search(q)``, ``skills.<name>(...)``."""

    def __init__(
        self,
        library: SkillLibrary,
        namespaces: Callable[[], dict[str, Any]] | None = None,
        *,
        max_depth: int = 16,
    ) -> None:
        self.library = library
        self._runner = SkillRunner(
            fetch=self._fetch,
            namespaces=namespaces or (lambda: {"skills": self}),
            record=library.record_usage,
            max_depth=max_depth,
        )

    def bind_namespaces(self, namespaces: Callable[[], dict[str, Any]]) -> None:
        """Give skill code the session's namespaces as globals."""
        self._runner._namespaces = namespaces

    def _fetch(self, name: str) -> dict[str, Any]:
        skill = self.library.require(name)
        return {"name": skill.name, "source": skill.source, "hash": skill.content_hash}

    def search(self, query: str, limit: int = 5) -> list[Skill]:
        return self.library.search(query, limit)

    def list(self) -> list[Skill]:
        return self.library.list()

    def get(self, name: str) -> Skill | None:
        return self.library.get(name)

    def create(self, name: str, source: str, description: str = "") -> Skill:
        return self.library.create(name, source, description or None)

    def delete(self, name: str) -> bool:
        return self.library.delete(name)

    def describe(self, name: str | None = None) -> str:
        return self.library.describe(name)

    def history(self, name: str) -> list[SkillVersion]:
        return self.library.history(name)

    def rollback(self, name: str, version: int) -> Skill:
        return self.library.rollback(name, version)

    def invoke(self, skill_name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Run a skill by name and return what its ``run`` returns."""
        return self._invoke(skill_name, args, kwargs)

    def _invoke(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._runner.invoke(name, args, kwargs)

    def __getattr__(self, name: str) -> SkillCallable:
        if name.startswith("_"):
            raise AttributeError(name)
        if self.library.get(name) is None:
            raise SkillNotFoundError(name)
        return SkillCallable(self, name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.library.names()})

    def __repr__(self) -> str:
        return f"<skills namespace: {len(self.library.names())} skill(s)>"


class SkillsRPC:
    """What the worker's ``skills`` proxy may call on the host; every result is plain data."""

    def __init__(self, namespace: SkillsNamespace) -> None:
        self.namespace = namespace
        self.library = namespace.library

    def search(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        return [s.code_view() for s in self.library.search(str(query), int(limit))]

    def list(self) -> list[dict[str, Any]]:
        return [s.code_view() for s in self.library.list()]

    def get(self, name: str) -> dict[str, Any] | None:
        skill = self.library.get(name)
        return skill.to_dict() if skill is not None else None

    def exists(self, name: str) -> bool:
        return self.library.get(name) is not None

    def create(self, name: str, source: str, description: str = "") -> dict[str, Any]:
        return self.library.create(name, source, description or None).to_dict()

    def delete(self, name: str) -> bool:
        return self.library.delete(name)

    def describe(self, name: str | None = None) -> str:
        return self.library.describe(name)

    def history(self, name: str) -> list[dict[str, Any]]:
        return [dict(v) for v in self.library.history(name)]

    def rollback(self, name: str, version: int) -> dict[str, Any]:
        return self.library.rollback(name, int(version)).to_dict()

    def source(self, name: str) -> dict[str, Any]:
        return self.namespace._fetch(name)

    def record(self, name: str, ok: bool, duration_ms: float) -> None:
        if self.library.get(name) is not None:
            self.library.record_usage(name, bool(ok), float(duration_ms))
