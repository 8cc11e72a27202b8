"""The skill model: a validated Python source with a ``run`` function, a name and a description.

Validation is static (AST only): a skill's source is never executed on the host to check it.
"""

from __future__ import annotations

import ast
import keyword
import re
from datetime import datetime
from typing import Any

from pydantic import Field

from ..errors import SkillValidationError
from ..schema import FunctionSchema, first_paragraph, parse_docstring, schema_from_source
from ..search.index import content_hash
from ..types import Record

MAX_NAME_LENGTH = 64
MAX_SOURCE_BYTES = 512 * 1024
RESERVED_NAMES = frozenset(
    {
        "list", "search", "get", "invoke", "create", "delete", "describe", "history",
        "rollback", "refresh", "library", "call_async", "invoke_async",
    }
)  # fmt: skip
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def validate_skill_name(name: object) -> str:
    """Return ``name`` if it can name a skill (and a file, and a native tool), else raise."""
    if not isinstance(name, str):
        raise SkillValidationError(f"Skill name must be a string, not {type(name).__name__}")
    if not name:
        raise SkillValidationError("Skill name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise SkillValidationError(
            f"Skill name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters",
            skill_name=name[:MAX_NAME_LENGTH],
        )
    if not _NAME_RE.match(name):
        raise SkillValidationError(
            f"Skill name {name!r} must be a Python identifier of ASCII letters, digits and "
            "underscores, starting with a letter (no paths, dots or dashes)",
            skill_name=name,
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise SkillValidationError(f"Skill name {name!r} is a Python keyword", skill_name=name)
    if name in RESERVED_NAMES:
        raise SkillValidationError(
            f"Skill name {name!r} is reserved (it is a method of the skills namespace)",
            skill_name=name,
        )
    return name


class SkillStats(Record):
    """How a skill has been used."""

    calls: int = 0
    failures: int = 0
    last_used: datetime | None = None
    total_duration_ms: float = 0.0

    @property
    def mean_duration_ms(self) -> float:
        return self.total_duration_ms / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "failures": self.failures,
            "last_used": self.last_used.isoformat() if self.last_used else None,
            "mean_duration_ms": round(self.mean_duration_ms, 3),
        }


class Skill(Record):
    """A saved skill. Reads as attributes and as a mapping (``skill.name``, ``skill["name"]``)."""

    name: str
    description: str
    source: str
    parameters: list[dict[str, Any]] = Field(default_factory=list)
    input_schema: dict[str, Any] = Field(default_factory=dict)
    signature: str = ""
    is_async: bool = False
    content_hash: str = ""
    version: int = 1
    explicit_description: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def params(self) -> dict[str, str]:
        """``{parameter: description or type}`` — the reference project's short form."""
        return {p["name"]: p.get("description") or p["type"] for p in self.parameters}

    @property
    def tags(self) -> list[str]:
        return []

    @property
    def metadata(self) -> dict[str, Any]:
        return {"version": self.version, "content_hash": self.content_hash}

    def docstring_detail(self) -> str:
        """What the docstring of ``run`` (or of the module) says after its first paragraph,
        without the parameter sections: the skill's purpose in more words."""
        try:
            tree = ast.parse(self.source)
        except SyntaxError:
            return ""
        run = next(
            (
                n
                for n in tree.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "run"
            ),
            None,
        )
        docs = [ast.get_docstring(tree), ast.get_docstring(run) if run is not None else None]
        parts = []
        for doc in docs:
            summary = parse_docstring(doc)[0]
            rest = summary.split("\n\n", 1)[1] if "\n\n" in summary.strip() else ""
            if first_paragraph(summary) != self.description.strip():
                rest = summary  # an explicit description: the whole docstring is detail
            parts.append(" ".join(rest.split()))
        return " ".join(p for p in parts if p)

    def search_document(self) -> Any:
        """The :class:`~py_code_mode.search.SearchDocument` this skill is indexed as: name,
        description, docstring, parameter names and types (see ``search.index.document``)."""
        from ..search.index import document

        return document(
            self.name,
            self.content_hash,
            description=self.description,
            detail=self.docstring_detail(),
            fields=self.parameter_words(),
        )

    def parameter_words(self) -> tuple[str, ...]:
        """Each parameter as words: its name, its type, its description."""
        return tuple(
            " ".join(
                x for x in (p["name"].replace("_", " "), p.get("type"), p.get("description")) if x
            )
            for p in self.parameters
        )

    def search_text(self) -> str:
        """What full-text search indexes (field-weighted: name, description, docstring, params)."""
        return str(self.search_document().text)

    def embedding_text(self) -> str:
        """What the embedder sees: name words, description and the docstring's detail."""
        return str(self.search_document().embed_text)

    def summary(self) -> dict[str, Any]:
        """``{name, description, parameters}`` — the reference facade's listing shape."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": [dict(p) for p in self.parameters],
        }

    def code_view(self) -> dict[str, Any]:
        """What code sees in listings: the summary plus ``params``, signature and version."""
        return {
            **self.summary(),
            "params": self.params,
            "signature": self.signature,
            "is_async": self.is_async,
            "version": self.version,
        }

    def to_dict(self) -> dict[str, Any]:
        """The listing shape plus ``source``, ``params``, schema and version."""
        return {
            **self.summary(),
            "source": self.source,
            "params": self.params,
            "input_schema": self.input_schema,
            "signature": self.signature,
            "is_async": self.is_async,
            "version": self.version,
        }


def parse_skill(
    name: str, source: str, description: str | None = None, *, version: int = 1
) -> tuple[Skill, FunctionSchema]:
    """Validate a skill (name, size, syntax, a ``run`` function, describable parameters).

    Raises :class:`SkillValidationError` (a ``ValueError``; for syntax errors also a
    ``SyntaxError``) naming the problem and its line. Nothing is executed.
    """
    validate_skill_name(name)
    if not isinstance(source, str):
        raise SkillValidationError(
            f"Skill {name!r}: source must be a string, not {type(source).__name__}", skill_name=name
        )
    if not source.strip():
        raise SkillValidationError(f"Skill {name!r}: source is empty", skill_name=name)
    if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise SkillValidationError(
            f"Skill {name!r}: source is larger than {MAX_SOURCE_BYTES // 1024} KiB", skill_name=name
        )
    if "\x00" in source:
        raise SkillValidationError(f"Skill {name!r}: source contains a NUL byte", skill_name=name)
    if description is not None and not isinstance(description, str):
        raise SkillValidationError(f"Skill {name!r}: description must be a string", skill_name=name)
    schema, tree = schema_from_source(source, "run", owner=name)
    explicit = bool(description and description.strip())
    if explicit:
        text = description.strip()  # type: ignore[union-attr]
    else:
        module_doc = first_paragraph(parse_docstring(ast.get_docstring(tree))[0])
        text = module_doc or schema.description
    schema.description = text
    skill = Skill(
        name=name,
        description=text,
        source=source,
        parameters=[p.to_dict() for p in schema.parameters],
        input_schema=schema.json_schema(),
        signature=schema.signature(name),
        is_async=schema.is_async,
        content_hash=content_hash(name, text, source),
        version=version,
        explicit_description=explicit,
    )
    return skill, schema


def stub(skill: Skill) -> str:
    """A Python stub for a saved skill (signature plus docstring), for prompts."""
    _, schema = parse_skill(skill.name, skill.source, skill.description)
    return schema.stub(skill.name)
