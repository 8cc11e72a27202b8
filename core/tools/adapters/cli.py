"""CLI tools from YAML: commands with options, positionals and named recipes.

A call becomes an argv list (never a shell): options in schema declaration order (``-s`` when
``short`` is set, ``flag`` verbatim when given, else ``--name``; booleans emit the flag when
true; arrays repeat it), then positionals, after ``--`` when any of them starts with ``-`` (so a
value can never turn into an option). An ``input`` argument that the schema does not
declare is fed to the command's stdin. Unknown arguments, unknown recipes and missing required
arguments are errors; a timeout kills the command's whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...errors import ToolCallError, ToolNotFoundError, ToolTimeoutError
from ..models import Tool, ToolCallable, ToolName, ToolParameter

OUTPUT_LIMIT = 10 * 1024 * 1024
_JSON_TYPES = {"string", "integer", "number", "boolean", "array"}


class CLIOption(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["string", "integer", "number", "boolean", "array"] = "string"
    short: str | None = None
    flag: str | None = None
    description: str = ""
    default: Any = None
    required: bool = False

    @field_validator("short")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value.lstrip("-")) != 1:
            raise ValueError("short must be a single character")
        return value.lstrip("-") if value else value


class CLIPositional(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: Literal["string", "integer", "number", "boolean", "array"] = "string"
    required: bool = False
    description: str = ""
    default: Any = None


class CLISchema(BaseModel):
    model_config = ConfigDict(extra="ignore")

    options: dict[str, CLIOption] = Field(default_factory=dict)
    positional: list[CLIPositional] = Field(default_factory=list)

    @field_validator("options", mode="before")
    @classmethod
    def _empty_options(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v if v is not None else {}) for k, v in value.items()}
        return value if value is not None else {}


class RecipeParam(BaseModel):
    model_config = ConfigDict(extra="ignore")

    default: Any = None
    description: str = ""
    type: str | None = None
    required: bool = False


class Recipe(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str = ""
    preset: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, RecipeParam] = Field(default_factory=dict)

    @field_validator("params", "preset", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {k: (v if v is not None else {}) for k, v in value.items()}
        return value


class CLIToolDefinition(BaseModel):
    """One CLI tool file (the reference project's YAML format)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: ToolName
    description: str = ""
    command: str | None = None
    type: Literal["cli"] = "cli"
    timeout: float = Field(default=60.0, gt=0)
    tags: list[str] = Field(default_factory=list)
    cli_schema: CLISchema = Field(default_factory=CLISchema, alias="schema")
    recipes: dict[str, Recipe] = Field(default_factory=dict)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("recipes", mode="before")
    @classmethod
    def _empty_recipes(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v if v is not None else {}) for k, v in value.items()}
        return value if value is not None else {}

    @property
    def executable(self) -> str:
        return self.command or self.name

    def declared(self) -> dict[str, Any]:
        """Every argument name the schema declares, with its type."""
        out = {name: opt.type for name, opt in self.cli_schema.options.items()}
        out.update({p.name: p.type for p in self.cli_schema.positional})
        return out


def parse_cli_tool_dict(data: dict[str, Any]) -> CLIToolDefinition:
    """Validate one tool definition (raises pydantic's ValidationError)."""
    return CLIToolDefinition.model_validate(data)


def parse_cli_tool_yaml(text: str) -> CLIToolDefinition:
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a tool file must hold a mapping")
    return parse_cli_tool_dict(data)


class CLICommandBuilder:
    """Turns a call on a tool definition into an argv list and stdin data."""

    def __init__(self, definition: CLIToolDefinition) -> None:
        self.definition = definition

    def arguments(self, recipe: str | None, args: dict[str, Any]) -> dict[str, Any]:
        d = self.definition
        if recipe is None:
            return dict(args)
        spec = d.recipes.get(recipe)
        if spec is None:
            raise ToolNotFoundError(f"{d.name}.{recipe}", [f"{d.name}.{r}" for r in d.recipes])
        merged = dict(spec.preset)
        for name, param in spec.params.items():
            if name not in merged and name not in args and param.default is not None:
                merged[name] = param.default
        merged.update(args)
        for name, param in spec.params.items():
            if param.required and merged.get(name) is None:
                raise ToolCallError(
                    d.name, args, f"missing required argument '{name}' for recipe '{recipe}'"
                )
        return merged

    def build(self, recipe: str | None, args: dict[str, Any]) -> tuple[list[str], str | None]:
        d = self.definition
        merged = self.arguments(recipe, args)
        declared = d.declared()
        stdin = None
        if "input" in merged and "input" not in declared:
            value = merged.pop("input")
            stdin = value if isinstance(value, str) or value is None else _to_text(value)
        unknown = sorted(set(merged) - set(declared))
        if unknown:
            raise ToolCallError(
                d.name,
                args,
                f"unknown argument(s) {', '.join(unknown)}; "
                f"known: {', '.join(declared) or '(none)'}",
            )
        argv = [d.executable]
        for name, opt in d.cli_schema.options.items():
            value = merged.get(name)
            if value is None:
                if opt.required:
                    raise ToolCallError(d.name, args, f"missing required option '{name}'")
                continue
            flag = opt.flag or (f"-{opt.short}" if opt.short else f"--{name}")
            if opt.type == "boolean":
                if value:
                    argv.append(flag)
            elif opt.type == "array":
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    argv += [flag, str(item)]
            else:
                argv += [flag, _to_text(value)]
        positionals: list[str] = []
        for pos in d.cli_schema.positional:
            value = merged.get(pos.name, pos.default)
            if value is None:
                if pos.required:
                    raise ToolCallError(d.name, args, f"missing required argument '{pos.name}'")
                continue
            if pos.type == "array" and isinstance(value, (list, tuple)):
                positionals += [str(v) for v in value]
            else:
                positionals.append(_to_text(value))
        if any(p.startswith("-") for p in positionals):
            # A value such as '-o/some/path' must stay an operand, never become an option:
            # '--' ends option parsing. Only added when needed, so ordinary calls keep the
            # reference argv (and commands that take a subcommand as a positional still work).
            argv.append("--")
        return argv + positionals, stdin


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value)
    return str(value)


async def run_command(
    argv: list[str],
    *,
    tool: str,
    args: dict[str, Any],
    timeout: float,
    stdin: str | None = None,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    output_limit: int = OUTPUT_LIMIT,
) -> str:
    """Run argv without a shell; return stdout. Errors name the tool and carry stderr."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            start_new_session=True,  # a timeout kills the command and everything it started
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise ToolCallError(tool, args, f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc

    async def read(stream: asyncio.StreamReader) -> tuple[bytes, int]:
        kept = bytearray()
        dropped = 0
        while chunk := await stream.read(65536):
            room = output_limit - len(kept)
            kept += chunk[: max(room, 0)]
            dropped += max(len(chunk) - max(room, 0), 0)
        return bytes(kept), dropped

    async def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write((stdin or "").encode())
            await proc.stdin.drain()
        proc.stdin.close()

    assert proc.stdout is not None and proc.stderr is not None
    jobs = [read(proc.stdout), read(proc.stderr), proc.wait()]
    if stdin is not None:
        jobs.append(feed())
    try:
        results: list[Any] = await asyncio.wait_for(asyncio.gather(*jobs), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
        raise ToolTimeoutError(tool, timeout) from None
    (out, out_dropped), (err, _), code = results[0], results[1], results[2]
    text = out.decode("utf-8", "replace")
    if out_dropped:
        text += f"\n... [output truncated: {out_dropped} more bytes]"
    if code != 0:
        detail = err.decode("utf-8", "replace").strip()[-2000:] or text.strip()[-2000:]
        raise ToolCallError(tool, args, f"exit code {code}: {detail or '(no output)'}")
    return text


class CLIAdapter:
    """Every CLI tool of a registry (a later file with the same name replaces an earlier one)."""

    def __init__(self, definitions: list[CLIToolDefinition] | None = None) -> None:
        self.definitions: dict[str, CLIToolDefinition] = {}
        for d in definitions or []:
            self.add(d)

    def add(self, definition: CLIToolDefinition) -> None:
        self.definitions[definition.name] = definition

    def list_tools(self) -> list[Tool]:
        return [self._tool(d) for d in self.definitions.values()]

    def _tool(self, d: CLIToolDefinition) -> Tool:
        callables = [self._recipe_callable(d, name, r) for name, r in d.recipes.items()]
        if not callables:
            callables = [
                ToolCallable(name=d.name, description=d.description, parameters=self._all_params(d))
            ]
        return Tool(name=d.name, description=d.description, callables=callables, tags=list(d.tags))

    @staticmethod
    def _all_params(d: CLIToolDefinition) -> list[ToolParameter]:
        params = [
            ToolParameter(
                name=p.name,
                type=p.type,
                required=p.required,
                default=p.default,
                description=p.description,
            )
            for p in d.cli_schema.positional
        ]
        params += [
            ToolParameter(
                name=n,
                type=o.type,
                required=o.required,
                default=o.default,
                description=o.description,
            )
            for n, o in d.cli_schema.options.items()
        ]
        return params

    def _recipe_callable(self, d: CLIToolDefinition, name: str, recipe: Recipe) -> ToolCallable:
        if not recipe.params:
            params = [p for p in self._all_params(d) if p.name not in recipe.preset]
        else:
            declared = d.declared()
            required = {p.name for p in d.cli_schema.positional if p.required}
            required |= {n for n, o in d.cli_schema.options.items() if o.required}
            params = [
                ToolParameter(
                    name=p,
                    type=spec.type or declared.get(p, "string"),
                    required=spec.required or (p in required and p not in recipe.preset),
                    default=spec.default,
                    description=spec.description or _option_description(d, p),
                )
                for p, spec in recipe.params.items()
            ]
        return ToolCallable(name=name, description=recipe.description, parameters=params)

    async def call_tool(self, name: str, callable_name: str | None, args: dict[str, Any]) -> str:
        d = self.definitions.get(name)
        if d is None:
            raise ToolNotFoundError(name, list(self.definitions))
        if callable_name is None or callable_name == name:
            recipe = name if name in d.recipes else None
        else:
            recipe = callable_name
        argv, stdin = CLICommandBuilder(d).build(recipe, args)
        return await run_command(
            argv, tool=name, args=args, timeout=d.timeout, stdin=stdin, cwd=d.cwd, env=d.env or None
        )

    async def close(self) -> None:
        return None


def _option_description(d: CLIToolDefinition, name: str) -> str:
    if name in d.cli_schema.options:
        return d.cli_schema.options[name].description
    return next((p.description for p in d.cli_schema.positional if p.name == name), "")
