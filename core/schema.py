"""The one place that turns a Python function into a JSON schema.

Two front ends feed one result type, :class:`FunctionSchema`:

* :func:`schema_from_source` reads a skill's source **statically** (AST only: skill code is
  untrusted and is never executed on the host to build its schema). Annotations are mapped to
  JSON schema: builtins, ``list[str]``, ``dict[str, int]``, ``Optional``/``X | None``,
  ``Literal[...]``, ``typing`` aliases, and pydantic models or TypedDicts defined in the module.
* :func:`schema_from_callable` inspects a live callable (Python tools), using pydantic for the
  annotation → schema step.

Both read per-parameter descriptions from Google, NumPy or Sphinx docstrings.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import SkillSyntaxError, SkillValidationError

JSON_TYPE_NAMES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
}


@dataclass
class ParameterInfo:
    """One parameter of a function, as shown to a model."""

    name: str
    schema: dict[str, Any]
    required: bool
    default: Any = None
    description: str = ""
    annotation: str = ""

    @property
    def type(self) -> str:
        """The reference project's short type name ("string", "integer", ...)."""
        t = self.schema.get("type")
        if isinstance(t, str):
            return t
        if "enum" in self.schema:
            return "string"
        for option in self.schema.get("anyOf", []):
            if isinstance(option.get("type"), str) and option["type"] != "null":
                return str(option["type"])
        return "object" if "properties" in self.schema else "string"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "required": self.required,
            "default": self.default,
        }


@dataclass
class FunctionSchema:
    """A function's parameters, their JSON schema, and its description."""

    name: str
    description: str
    parameters: list[ParameterInfo] = field(default_factory=list)
    is_async: bool = False
    accepts_extra: bool = False
    returns: str = ""
    defs: dict[str, Any] = field(default_factory=dict)

    def json_schema(self) -> dict[str, Any]:
        """An ``object`` schema of the arguments, as frameworks' tool definitions expect."""
        properties = {}
        for p in self.parameters:
            prop = dict(p.schema)
            if p.description:
                prop["description"] = p.description
            if not p.required and _json_literal(p.default):
                prop["default"] = p.default
            properties[p.name] = prop
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        required = [p.name for p in self.parameters if p.required]
        if required:
            schema["required"] = required
        schema["additionalProperties"] = self.accepts_extra
        if self.defs:
            schema["$defs"] = self.defs
        return schema

    def signature(self, name: str | None = None) -> str:
        """A Python signature line: ``name(a: int, b: str = 'x') -> dict``."""
        parts = []
        for p in self.parameters:
            text = f"{p.name}: {p.annotation}" if p.annotation else p.name
            if not p.required:
                text += f" = {p.default!r}"
            parts.append(text)
        if self.accepts_extra:
            parts.append("**kwargs")
        ret = f" -> {self.returns}" if self.returns else ""
        return f"{name or self.name}({', '.join(parts)}){ret}"

    def stub(self, name: str | None = None) -> str:
        """A Python stub (signature plus docstring) a model can read."""
        # Always "def": from code, skills and tools are called synchronously.
        lines = [f"def {self.signature(name)}:"]
        lines += docstring_lines(
            self.description, [(p.name, p.description) for p in self.parameters], "    "
        )
        lines.append("    ...")
        return "\n".join(lines)


def docstring_lines(description: str, params: list[tuple[str, str]], indent: str) -> list[str]:
    """A Google-style docstring (summary, then ``Args:``) as indented lines; [] when empty."""
    doc = [description] if description else []
    documented = [(n, d) for n, d in params if d]
    if documented:
        doc += ["", "Args:"] + [f"    {n}: {d}" for n, d in documented]
    if not doc:
        return []
    body = "\n".join(f"{indent}{line}" if line else "" for line in doc)
    return [f'{indent}"""' + body.lstrip() + '"""']


def _json_literal(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


# --------------------------------------------------------------------------------------------
# Docstrings
# --------------------------------------------------------------------------------------------

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters"
    r"|Returns?|Raises|Yields|Examples?|Notes?|See Also|Attributes)\s*:?\s*$"
)
_PARAM_SECTIONS = {
    "args",
    "arguments",
    "parameters",
    "params",
    "keyword args",
    "keyword arguments",
    "other parameters",
}
_NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\*{0,2}\w+)\s*:\s*(.*)$")
_PARAM_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a docstring into its summary and per-parameter descriptions.

    Understands Google (``Args:``), NumPy (``Parameters`` underlined with dashes) and Sphinx
    (``:param x:``) styles.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section = ""  # "", "params", "sphinx", "other"
    numpy = False
    base_indent: int | None = None
    current: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        sphinx = _SPHINX_PARAM.match(stripped)
        underlined = i + 1 < len(lines) and bool(_NUMPY_RULE.match(lines[i + 1])) and bool(stripped)
        header = _SECTION.match(stripped) if indent == 0 else None
        if sphinx:
            section, current = "sphinx", sphinx.group(1).lstrip("*")
            params[current] = sphinx.group(2).strip()
        elif stripped.startswith(":") and indent == 0:
            section, current = "other", None
        elif header or underlined:
            title = (header.group(1) if header else stripped).lower()
            section = "params" if title in _PARAM_SECTIONS else "other"
            numpy, base_indent, current = underlined, None, None
            if underlined:
                i += 1  # skip the dashes
        elif section == "":
            summary.append(line)
        elif section == "params" and stripped:
            if base_indent is None:
                base_indent = indent
            match = _PARAM_LINE.match(stripped) if indent <= base_indent else None
            if match:
                current = match.group(1)
                params[current] = "" if numpy else match.group(2).strip()
            elif current is not None:
                params[current] = (params[current] + " " + stripped).strip()
        elif section == "sphinx" and current and indent > 0:
            params[current] = (params[current] + " " + stripped).strip()
        i += 1
    return "\n".join(summary).strip(), params


def first_paragraph(text: str) -> str:
    return text.strip().split("\n\n", 1)[0].replace("\n", " ").strip()


# --------------------------------------------------------------------------------------------
# Static annotations (skills)
# --------------------------------------------------------------------------------------------

_TYPING_PREFIXES = ("typing.", "t.", "typing_extensions.")
_SIMPLE: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "bytes": {"type": "string"},
    "list": {"type": "array"},
    "List": {"type": "array"},
    "tuple": {"type": "array"},
    "Tuple": {"type": "array"},
    "set": {"type": "array", "uniqueItems": True},
    "Set": {"type": "array", "uniqueItems": True},
    "frozenset": {"type": "array", "uniqueItems": True},
    "Sequence": {"type": "array"},
    "Iterable": {"type": "array"},
    "dict": {"type": "object"},
    "Dict": {"type": "object"},
    "Mapping": {"type": "object"},
    "Any": {},
    "object": {},
    "None": {"type": "null"},
    "NoneType": {"type": "null"},
}


class _Unsupported(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _strip_prefix(name: str) -> str:
    for prefix in _TYPING_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


class _StaticTypes:
    """Maps annotation AST nodes to JSON schema, given the models a module defines."""

    def __init__(self, tree: ast.Module) -> None:
        self.classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
        self.defs: dict[str, Any] = {}

    def schema(self, node: ast.expr | None) -> dict[str, Any]:
        if node is None:
            return {}
        if isinstance(node, ast.Constant):
            if node.value is None:
                return {"type": "null"}
            if isinstance(node.value, str):  # a string annotation: parse it
                try:
                    return self.schema(ast.parse(node.value, mode="eval").body)
                except SyntaxError:
                    raise _Unsupported(repr(node.value)) from None
            raise _Unsupported(repr(node.value))
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _strip_prefix(ast.unparse(node))
            if name in _SIMPLE:
                return dict(_SIMPLE[name])
            if name in self.classes:
                return self.model(name)
            raise _Unsupported(ast.unparse(node))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.union([node.left, node.right])
        if isinstance(node, ast.Subscript):
            base = _strip_prefix(ast.unparse(node.value))
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if base in ("list", "List", "Sequence", "Iterable", "set", "Set", "frozenset"):
                schema: dict[str, Any] = {"type": "array", "items": self.schema(args[0])}
                if base in ("set", "Set", "frozenset"):
                    schema["uniqueItems"] = True
                return schema
            if base in ("tuple", "Tuple"):
                if (
                    len(args) == 2
                    and isinstance(args[1], ast.Constant)
                    and args[1].value is Ellipsis
                ):
                    return {"type": "array", "items": self.schema(args[0])}
                items = [self.schema(a) for a in args]
                return {
                    "type": "array",
                    "prefixItems": items,
                    "minItems": len(items),
                    "maxItems": len(items),
                }
            if base in ("dict", "Dict", "Mapping"):
                value = self.schema(args[1]) if len(args) > 1 else {}
                return (
                    {"type": "object", "additionalProperties": value}
                    if value
                    else {"type": "object"}
                )
            if base == "Optional":
                return self.union([args[0], ast.Constant(None)])
            if base == "Union":
                return self.union(args)
            if base == "Literal":
                values = []
                for a in args:
                    if not isinstance(a, ast.Constant):
                        raise _Unsupported(ast.unparse(node))
                    values.append(a.value)
                return {"enum": values}
            if base == "Annotated":
                schema = self.schema(args[0])
                for extra in args[1:]:
                    if isinstance(extra, ast.Constant) and isinstance(extra.value, str):
                        schema["description"] = extra.value
                return schema
            raise _Unsupported(ast.unparse(node))
        raise _Unsupported(ast.unparse(node))

    def union(self, nodes: list[ast.expr]) -> dict[str, Any]:
        options = [self.schema(n) for n in nodes]
        return {"anyOf": options}

    def model(self, name: str) -> dict[str, Any]:
        """A class defined in the module: a pydantic model, TypedDict or dataclass-like body."""
        if name not in self.defs:
            node = self.classes[name]
            self.defs[name] = {}  # guards against recursion
            properties: dict[str, Any] = {}
            required: list[str] = []
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    prop = self.schema(stmt.annotation)
                    if stmt.value is None:
                        required.append(stmt.target.id)
                    elif isinstance(stmt.value, ast.Constant):
                        prop["default"] = stmt.value.value
                    properties[stmt.target.id] = prop
            schema: dict[str, Any] = {"type": "object", "title": name, "properties": properties}
            if required:
                schema["required"] = required
            doc = ast.get_docstring(node)
            if doc:
                schema["description"] = first_paragraph(doc)
            self.defs[name] = schema
        return {"$ref": f"#/$defs/{name}"}


def _literal_default(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return ast.unparse(node)


def find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            found = node  # the last definition wins, as at run time
    return found


def schema_from_source(
    source: str, function: str = "run", *, owner: str | None = None
) -> tuple[FunctionSchema, ast.Module]:
    """Build the schema of ``function`` in ``source`` without executing anything.

    Raises :class:`SkillValidationError` naming the problem and its line.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise SkillSyntaxError(
            f"Syntax error in skill{f' {owner!r}' if owner else ''} at line {exc.lineno}: {exc.msg}",
            skill_name=owner,
            line=exc.lineno,
        ) from None
    node = find_function(tree, function)
    if node is None:
        assigned = any(
            isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == function for t in n.targets)
            for n in tree.body
        )
        hint = f" ('{function}' is assigned, not defined with def)" if assigned else ""
        raise SkillValidationError(
            f"Skill{f' {owner!r}' if owner else ''} must define a top-level function "
            f"'def {function}(...)' or 'async def {function}(...)'{hint}",
            skill_name=owner,
        )
    types = _StaticTypes(tree)
    summary, param_docs = parse_docstring(ast.get_docstring(node))
    args = node.args
    if args.vararg is not None:
        raise SkillValidationError(
            f"{function}(*{args.vararg.arg}) at line {node.lineno}: positional varargs cannot be "
            "described to a model; use named parameters",
            skill_name=owner,
            line=node.lineno,
        )
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(
        args.defaults
    )
    pairs = list(zip(positional, defaults, strict=True)) + list(
        zip(args.kwonlyargs, args.kw_defaults, strict=True)
    )
    parameters = []
    for arg, default in pairs:
        if arg.arg in ("tools", "skills", "artifacts", "deps", "self"):
            continue  # injected, not the model's to pass
        try:
            schema = types.schema(arg.annotation)
        except _Unsupported as exc:
            raise SkillValidationError(
                f"Parameter '{arg.arg}' of {function}() at line {arg.lineno}: annotation "
                f"'{exc.what}' cannot be described in JSON schema (use str, int, float, bool, "
                "list[...], dict[str, ...], Optional, Literal or a model defined in the skill)",
                skill_name=owner,
                line=arg.lineno,
            ) from None
        parameters.append(
            ParameterInfo(
                name=arg.arg,
                schema=schema,
                required=default is None,
                default=_literal_default(default) if default is not None else None,
                description=param_docs.get(arg.arg, ""),
                annotation=ast.unparse(arg.annotation) if arg.annotation is not None else "",
            )
        )
    return (
        FunctionSchema(
            name=owner or function,
            description=first_paragraph(summary),
            parameters=parameters,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            accepts_extra=args.kwarg is not None,
            returns=ast.unparse(node.returns) if node.returns is not None else "",
            defs=types.defs,
        ),
        tree,
    )


# --------------------------------------------------------------------------------------------
# Live callables (Python tools)
# --------------------------------------------------------------------------------------------


def schema_from_callable(
    fn: Any, name: str | None = None, description: str | None = None
) -> FunctionSchema:
    """Build the schema of a live callable from its signature, annotations and docstring."""
    from pydantic import TypeAdapter

    signature = inspect.signature(fn)
    try:
        import typing

        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = {}
    summary, param_docs = parse_docstring(inspect.getdoc(fn))
    parameters = []
    accepts_extra = False
    defs: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_extra = True
            continue
        annotation = hints.get(param.name, param.annotation)
        if annotation is inspect.Parameter.empty:
            schema: dict[str, Any] = {}
        else:
            schema = TypeAdapter(annotation).json_schema(ref_template="#/$defs/{model}")
            defs.update(schema.pop("$defs", {}))
            schema.pop("title", None)
        required = param.default is inspect.Parameter.empty
        parameters.append(
            ParameterInfo(
                name=param.name,
                schema=schema,
                required=required,
                default=None if required else param.default,
                description=param_docs.get(param.name, ""),
                annotation=_annotation_text(annotation),
            )
        )
    return FunctionSchema(
        name=str(name or getattr(fn, "__name__", "tool")),
        description=description if description is not None else first_paragraph(summary),
        parameters=parameters,
        is_async=inspect.iscoroutinefunction(fn),
        accepts_extra=accepts_extra,
        defs=defs,
    )


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
