"""The host side of ``skills``: what the declared surface's methods do with the library.

Code gets ``skills`` as :class:`py_code_mode.worker.namespaces.Skills` (in-process and in a
worker alike); its calls arrive at :class:`SkillsHost`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from ..worker.local import LocalTransport
from ..worker.namespaces import Skills
from .library import SkillLibrary
from .skill import Skill
from .store import SkillVersion


class SkillsHost:
    """Serves the ``skills`` surface from a :class:`SkillLibrary` (arguments may come from a
    worker: they are coerced to the declared types)."""

    def __init__(self, library: SkillLibrary) -> None:
        self.library = library
        # What a skill call needs is served on the event loop when the store is local (a
        # cached file checked by one stat, or memory): a thread hop costs more than that.
        # Other stores (Redis) are served off the loop, as the surface declares.
        local = type(library.store).__name__ in ("FileSkillStore", "MemorySkillStore")
        self.inline: frozenset[str] = frozenset({"source"} if local else ())

    def search(self, query: str, limit: int = 5) -> builtins.list[Skill]:
        return self.library.search(str(query), int(limit))

    def list(self) -> builtins.list[Skill]:
        return self.library.list()

    def get(self, name: str) -> Skill | None:
        return self.library.get(name)

    def create(self, name: str, source: str, description: str = "") -> Skill:
        return self.library.create(name, source, description or None)

    def delete(self, name: str) -> bool:
        return self.library.delete(name)

    def describe(self, name: str | None = None) -> str:
        return self.library.describe(name)

    def history(self, name: str) -> builtins.list[SkillVersion]:
        return self.library.history(name)

    def rollback(self, name: str, version: int) -> Skill:
        return self.library.rollback(name, int(version))

    def source(self, name: str) -> dict[str, Any]:
        """Everything a call needs in one reply: the code runs where the caller runs."""
        skill = self.library.require(name)
        return {"name": skill.name, "source": skill.source, "hash": skill.content_hash}

    def record(self, name: str, ok: bool, duration_ms: float) -> None:
        if self.library.get(name) is not None:
            self.library.record_usage(name, bool(ok), float(duration_ms))


class SkillsNamespace(Skills):
    """``skills`` over a library, for code that builds one itself (the reference's
    ``SkillsNamespace(library)``); sessions assemble theirs in ``execution.host``."""

    def __init__(
        self,
        library: SkillLibrary,
        namespaces: Callable[[], dict[str, Any]] | None = None,
        *,
        max_depth: int = 16,
    ) -> None:
        transport = LocalTransport({"skills": SkillsHost(library)}, {"skills": self})
        super().__init__(transport, namespaces, max_depth=max_depth)
        self.library = library
