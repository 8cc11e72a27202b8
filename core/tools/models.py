"""What tools look like to code and to models: Tool, ToolCallable, ToolParameter.

The shapes follow the reference project (``Tool.to_dict()`` is what listings return) and are
hybrid records: ``tool.name`` and ``tool["name"]`` both work.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ..schema import docstring_lines
from ..types import Record


def _tool_name(value: str) -> str:
    if not value.isidentifier():
        raise ValueError(f"tool name {value!r} must be a Python identifier (tools.<name>)")
    return value


#: The ``name`` of a tool file: it becomes ``tools.<name>``.
ToolName = Annotated[str, AfterValidator(_tool_name)]


class ToolParameter(Record):
    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "description": self.description,
        }


class ToolCallable(Record):
    """One callable of a tool: a CLI recipe, an MCP server tool, an HTTP endpoint, a function."""

    name: str
    description: str = ""
    parameters: list[ToolParameter] = Field(default_factory=list)
    input_schema: dict[str, Any] = Field(default_factory=dict)

    @property
    def params(self) -> dict[str, str]:
        """``{parameter: description or type}`` (the reference's recipe listing form)."""
        return {p.name: p.description or p.type for p in self.parameters}

    def signature(self) -> str:
        parts = []
        for p in self.parameters:
            text = f"{p.name}: {_py_type(p.type)}"
            if not p.required:
                text += f" = {p.default!r}"
            parts.append(text)
        return f"{self.name}({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": [p.to_dict() for p in self.parameters],
        }

    def code_view(self) -> dict[str, Any]:
        return {**self.to_dict(), "params": self.params, "signature": self.signature()}


class Tool(Record):
    """A tool and its callables."""

    name: str
    description: str = ""
    callables: list[ToolCallable] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    def signatures(self) -> list[str]:
        return [c.signature() for c in self.callables]

    def get_callable(self, name: str) -> ToolCallable | None:
        return next((c for c in self.callables if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": sorted(self.tags),
            "callables": [c.to_dict() for c in self.callables],
        }

    def search_document(self, content_hash: str = "") -> Any:
        """The :class:`~py_code_mode.search.SearchDocument` this tool is indexed as, by the
        same recipe as skills: name and description weighted, then tags and each callable's
        name, description and parameter names."""
        from ..search.index import document

        detail = " ".join(
            f"{c.name.replace('_', ' ')}: {c.description}".strip(": ") for c in self.callables
        )
        fields = (
            " ".join(self.tags),
            *(
                " ".join(p.name.replace("_", " ") + " " + p.type for p in c.parameters)
                for c in self.callables
            ),
        )
        description = " ".join(x for x in (self.description, " ".join(self.tags)) if x)
        return document(
            self.name, content_hash, description=description, detail=detail, fields=fields
        )

    def search_text(self) -> str:
        return str(self.search_document().text)

    def embedding_text(self) -> str:
        return str(self.search_document().embed_text)

    def stub(self) -> str:
        """Python stubs of the callables, as a class named after the tool: code calls them as
        ``tools.<name>.<callable>(...)``."""
        lines = [
            f"class {self.name}:",
            f'    """{self.description or self.name} (tools.{self.name})"""',
        ]
        for c in self.callables:
            lines.append(f"    def {c.signature()}:")
            lines += docstring_lines(
                c.description, [(p.name, p.description) for p in c.parameters], "        "
            )
            lines.append("        ...")
        return "\n".join(lines)

    def __str__(self) -> str:
        head = f"{self.name}: {self.description}" if self.description else self.name
        return "\n".join([head, *(f"  {c.signature()}: {c.description}" for c in self.callables)])


_PY_TYPES = {
    "string": "str", "str": "str", "integer": "int", "int": "int", "number": "float",
    "float": "float", "boolean": "bool", "bool": "bool", "array": "list", "object": "dict",
}  # fmt: skip


def _py_type(json_type: str) -> str:
    return _PY_TYPES.get(json_type, "Any")


def parameters_from_schema(schema: dict[str, Any]) -> list[ToolParameter]:
    """ToolParameters from an ``object`` JSON schema (MCP tools, Python callables)."""
    required = set(schema.get("required") or [])
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        kind = prop.get("type")
        if not isinstance(kind, str):
            options = [o.get("type") for o in prop.get("anyOf", []) if isinstance(o, dict)]
            kind = next((o for o in options if isinstance(o, str) and o != "null"), "string")
        out.append(
            ToolParameter(
                name=name,
                type=kind,
                required=name in required,
                default=prop.get("default"),
                description=str(prop.get("description") or ""),
            )
        )
    return out
