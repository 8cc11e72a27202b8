"""The framework-neutral catalog: every agent-facing operation, defined once.

Each :class:`Operation` has a name, a description written for a model, a pydantic argument
model and an async handler over a :class:`~py_code_mode.Session`. The MCP server and the
framework adapters are short renderings of this catalog; none of them re-implements an
operation. Results are compact text a model can read (plus the data behind it); output longer
than the limit is truncated and the whole text is kept as an artifact whose name is given.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import CodeModeError

log = logging.getLogger(__name__)

#: Characters of a result shown to the model before the rest is spilled into an artifact.
RESULT_LIMIT = 20_000


@dataclass
class OperationResult:
    """What an operation returns: ``text`` for the model, ``data`` for programs."""

    text: str
    data: Any = None
    is_error: bool = False


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    pass


class RunCodeArgs(Args):
    code: str = Field(
        description="Python code to run. State persists between calls; the last expression is returned."
    )
    timeout: float | None = Field(
        default=None, gt=0, description="Seconds before the run is stopped."
    )


class SearchArgs(Args):
    query: str = Field(description="What you are looking for, in plain words.")
    limit: int = Field(default=5, ge=1, le=50, description="How many results at most.")


class SearchToolsArgs(Args):
    query: str = Field(description="What you are looking for, in plain words.")
    limit: int = Field(default=10, ge=1, le=50, description="How many results at most.")


class NameArgs(Args):
    name: str = Field(description="The skill's name.")


class CreateSkillArgs(Args):
    name: str = Field(description="A Python identifier, e.g. fetch_repo_stats.")
    source: str = Field(description="Python source defining `def run(...)` (or `async def run`).")
    description: str = Field(
        default="", description="One line saying what it does (else its docstring)."
    )


class InvokeSkillArgs(Args):
    name: str = Field(description="The skill's name.")
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for run()."
    )


class ArtifactNameArgs(Args):
    name: str = Field(description="The artifact's name, e.g. reports/summary.json.")


class SaveArtifactArgs(Args):
    name: str = Field(description="The artifact's name, e.g. reports/summary.json.")
    data: Any = Field(description="JSON data or text to store.")
    description: str = Field(default="", description="What it holds.")


class PackageArgs(Args):
    package: str = Field(description="A package spec such as 'tabulate' or 'requests>=2.31'.")


Handler = Callable[[Any, Any], Awaitable[OperationResult]]


@dataclass
class Operation:
    """One agent-facing operation."""

    name: str
    description: str
    args_model: type[Args]
    handler: Handler
    writes: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    schema: dict[str, Any] | None = None  # shown instead of the model's (a skill's own schema)

    def input_schema(self) -> dict[str, Any]:
        if self.schema is not None:
            return dict(self.schema)
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return schema

    async def call(self, session: Any, arguments: dict[str, Any] | None = None) -> OperationResult:
        """Validate the arguments and run. Bad input and failures become error results."""
        from pydantic import ValidationError

        try:
            args = self.args_model.model_validate(arguments or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            return OperationResult(
                f"Error: invalid arguments for {self.name}: {problems}", is_error=True
            )
        try:
            return await self.handler(session, args)
        except (CodeModeError, ValueError, TypeError, KeyError, RuntimeError) as exc:
            return OperationResult(f"Error: {type(exc).__name__}: {exc}", is_error=True)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str, ensure_ascii=False)


async def spill(session: Any, text: str, prefix: str, limit: int = RESULT_LIMIT) -> str:
    """Keep ``text`` short: past ``limit``, save all of it as an artifact and say where."""
    if len(text) <= limit:
        return text
    name = f"outputs/{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 1_000_000:06d}.txt"
    try:
        await session.save_artifact(name, text, description=f"full output of {prefix}")
        where = f"the full text ({len(text)} characters) is in artifact '{name}'"
    except (CodeModeError, OSError) as exc:  # storage failed: still answer, say what was lost
        log.warning("full output of %s not saved as artifact %r: %s", prefix, name, exc)
        where = f"{len(text) - limit} more characters were cut"
    return text[:limit] + f"\n... [truncated: {where}]"


def render_run(result: Any) -> str:
    """The reference project's run_code text: value or error, then stdout."""
    out = result.stdout or ""
    if result.stderr:
        out = f"{out}{'' if not out or out.endswith(chr(10)) else chr(10)}[stderr]\n{result.stderr}"
    if result.error is not None:
        text = f"Error: {(result.traceback or result.error).rstrip()}"
        return text + (f"\n\nStdout:\n{out}" if out else "")
    shown = None
    if result.value is not None:
        shown = (
            result.value if isinstance(result.value, str) else (result.repr or str(result.value))
        )
    elif result.repr is not None:
        shown = result.repr
    if shown is not None:
        return shown + (f"\n\nStdout:\n{out}" if out else "")
    return f"Stdout:\n{out}" if out else "(no output)"


# --------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------


async def run_result(session: Any, result: Any, prefix: str) -> OperationResult:
    """An ExecutionResult as an operation's result (long text spilled into an artifact)."""
    text = await spill(session, render_run(result), prefix)
    return OperationResult(text, data=result, is_error=result.error is not None)


async def _run_code(session: Any, args: RunCodeArgs) -> OperationResult:
    return await run_result(session, await session.run(args.code, timeout=args.timeout), "run_code")


async def _search_skills(session: Any, args: SearchArgs) -> OperationResult:
    found = await session.search_skills(args.query, args.limit)
    return OperationResult(as_json(found), data=found)


async def _list_skills(session: Any, args: NoArgs) -> OperationResult:
    listed = await session.list_skills()
    return OperationResult(await spill(session, as_json(listed), "list_skills"), data=listed)


async def _get_skill(session: Any, args: NameArgs) -> OperationResult:
    skill = await session.get_skill(args.name)
    if skill is None:
        return OperationResult(f"Error: no skill named {args.name!r}", is_error=True)
    return OperationResult(as_json(skill), data=skill)


async def _create_skill(session: Any, args: CreateSkillArgs) -> OperationResult:
    created = await session.add_skill(args.name, args.source, args.description)
    return OperationResult(as_json(created), data=created)


async def _delete_skill(session: Any, args: NameArgs) -> OperationResult:
    deleted = await session.remove_skill(args.name)
    return OperationResult(json.dumps(deleted), data=deleted)


async def _invoke_skill(session: Any, args: InvokeSkillArgs) -> OperationResult:
    result = await session.invoke_skill(args.name, **args.arguments)
    return await run_result(session, result, f"skill-{args.name}")


async def _list_tools(session: Any, args: NoArgs) -> OperationResult:
    listed = await session.list_tools()
    return OperationResult(await spill(session, as_json(listed), "list_tools"), data=listed)


async def _search_tools(session: Any, args: SearchToolsArgs) -> OperationResult:
    found = await session.search_tools(args.query, args.limit)
    return OperationResult(as_json(found), data=found)


def shown_artifact(entry: dict[str, Any]) -> dict[str, Any]:
    """An artifact as results show it: ``path`` is its name in the store, never the host's
    file path (which tells a model, or whoever reads its transcript, where the host keeps
    data, and works nowhere else)."""
    return {**entry, "path": entry.get("name")} if "path" in entry else dict(entry)


async def _list_artifacts(session: Any, args: NoArgs) -> OperationResult:
    listed = [shown_artifact(a) for a in await session.list_artifacts()]
    return OperationResult(await spill(session, as_json(listed), "list_artifacts"), data=listed)


async def _load_artifact(session: Any, args: ArtifactNameArgs) -> OperationResult:
    data = await session.load_artifact(args.name)
    if isinstance(data, bytes):
        text = f"({len(data)} bytes of binary data)"
    else:
        text = data if isinstance(data, str) else as_json(data)
    return OperationResult(await spill(session, text, "load_artifact"), data=data)


async def _save_artifact(session: Any, args: SaveArtifactArgs) -> OperationResult:
    saved = shown_artifact(
        await session.save_artifact(args.name, args.data, description=args.description)
    )
    return OperationResult(as_json(saved), data=saved)


async def _list_deps(session: Any, args: NoArgs) -> OperationResult:
    listed = await session.list_deps()
    return OperationResult(as_json(listed), data=listed)


async def _add_dep(session: Any, args: PackageArgs) -> OperationResult:
    result = await session.add_dep(args.package)
    return OperationResult(as_json(result), data=result)


async def _remove_dep(session: Any, args: PackageArgs) -> OperationResult:
    result = await session.remove_dep(args.package)
    return OperationResult(as_json(result), data=result)


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in [
        Operation(
            "run_code",
            "Run Python code in a persistent session and return its result. Variables, imports and "
            "functions persist between calls; the value of the last expression is returned, with "
            "anything printed. Inside the code these are ready: `tools` (call a tool: "
            "tools.<name>.<callable>(...); tools.search('...'); tools.describe()), `skills` (saved "
            "functions: skills.search('...'), skills.<name>(...), skills.create(name, source)), "
            "`artifacts` (artifacts.save(name, data) / load(name)) and `deps` (deps.add('pkg')). "
            "Prefer one run that does the whole job over many small ones. Top-level await works.",
            RunCodeArgs,
            _run_code,
            writes=True,
        ),
        Operation(
            "search_skills",
            "Find saved skills (reusable Python functions) by what they do, before writing new "
            "code. Returns a JSON list of {name, description, parameters}, best match first.",
            SearchArgs,
            _search_skills,
        ),
        Operation(
            "list_skills",
            "List every saved skill as JSON {name, description, parameters}.",
            NoArgs,
            _list_skills,
        ),
        Operation(
            "get_skill",
            "Show one skill: its description, parameters and Python source.",
            NameArgs,
            _get_skill,
        ),
        Operation(
            "create_skill",
            "Save working code as a skill for later: Python source that defines `def run(...)` "
            "(or `async def run`) with typed parameters and a docstring. Inside, `tools`, "
            "`skills` and `artifacts` are available. Saving an existing name makes a new version.",
            CreateSkillArgs,
            _create_skill,
            writes=True,
        ),
        Operation(
            "delete_skill",
            "Delete a skill by name (its history is kept). Returns true if it existed.",
            NameArgs,
            _delete_skill,
            writes=True,
        ),
        Operation(
            "invoke_skill",
            "Run a saved skill with keyword arguments and return its result (or the error).",
            InvokeSkillArgs,
            _invoke_skill,
            writes=True,
        ),
        Operation(
            "list_tools",
            "List the tools code can call, as JSON {name, description, tags, callables}.",
            NoArgs,
            _list_tools,
        ),
        Operation(
            "search_tools",
            "Find tools by what they do. Returns JSON {name, description, tags, callables}, best first.",
            SearchToolsArgs,
            _search_tools,
        ),
        Operation(
            "list_artifacts",
            "List stored artifacts (data kept between sessions) as JSON {name, description, created_at}.",
            NoArgs,
            _list_artifacts,
        ),
        Operation(
            "load_artifact",
            "Read an artifact's data (JSON or text).",
            ArtifactNameArgs,
            _load_artifact,
        ),
        Operation(
            "save_artifact",
            "Store data (JSON or text) as a named artifact that outlives the session.",
            SaveArtifactArgs,
            _save_artifact,
            writes=True,
        ),
        Operation(
            "list_deps",
            "List the Python packages recorded for this session's code.",
            NoArgs,
            _list_deps,
        ),
        Operation(
            "add_dep",
            "Install a Python package for the session's code (e.g. 'tabulate>=0.9') and record it.",
            PackageArgs,
            _add_dep,
            writes=True,
        ),
        Operation(
            "remove_dep",
            "Remove a package from the session's recorded packages.",
            PackageArgs,
            _remove_dep,
            writes=True,
        ),
    ]
}


def select(operations: Iterable[str] | None = None, *, read_only: bool = False) -> list[Operation]:
    """The operations an operator offers: by name (in catalog order), optionally read-only."""
    if operations is None:
        chosen = list(OPERATIONS.values())
    else:
        names = list(operations)
        unknown = [n for n in names if n not in OPERATIONS]
        if unknown:
            raise ValueError(
                f"unknown operation(s) {', '.join(unknown)}; known: {', '.join(OPERATIONS)}"
            )
        chosen = [op for name, op in OPERATIONS.items() if name in names]
    if read_only:
        chosen = [op for op in chosen if not op.writes]
    return chosen


def skill_tool_name(name: str) -> str:
    """A skill's name as a native tool name (``^[a-zA-Z0-9_-]{1,64}$``)."""
    import re

    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "skill"


def skills_as_operations(session: Any, limit: int = 20) -> list[Operation]:
    """Saved skills as operations of their own (most used first, at most ``limit``), so a
    framework can offer each as a native tool with the skill's own JSON schema.

    Sync on purpose: listing is storage work, so adapters can list tools from sync code and
    from inside a running event loop alike."""
    library = session.skill_library()
    skills = library.list()
    stats = library.stats()
    skills.sort(key=lambda s: (-(stats[s.name].calls if s.name in stats else 0), s.name))
    return [_skill_operation(s) for s in skills[:limit]]


# Operations made from skills, by what they are made of: building one makes a pydantic model
# (about a millisecond), and the MCP server re-reads the skills after every call (issue 22).
# A skill saved again with other content or description gets a new key, so a skill changed by
# another session or process is rebuilt as soon as the store's scan shows the change.
_SKILL_OPS: collections.OrderedDict[tuple[str, str, str], Operation] = collections.OrderedDict()
_SKILL_OPS_LIMIT = 1024
_SKILL_OPS_LOCK = threading.Lock()


def _skill_operation(skill: Any) -> Operation:
    """The operation for ``skill``, made once per name, content and description."""
    key = (skill.name, skill.content_hash or skill.source, skill.description or "")
    with _SKILL_OPS_LOCK:
        op = _SKILL_OPS.get(key)
        if op is not None:
            _SKILL_OPS.move_to_end(key)
            return op
    op = _make_skill_operation(skill)
    with _SKILL_OPS_LOCK:
        _SKILL_OPS[key] = op
        while len(_SKILL_OPS) > _SKILL_OPS_LIMIT:
            _SKILL_OPS.popitem(last=False)
    return op


def _make_skill_operation(skill: Any) -> Operation:
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for p in skill.parameters:
        default = ... if p["required"] else p.get("default")
        fields[p["name"]] = (Any, Field(default=default, description=p.get("description") or None))
    model = create_model(f"Skill_{skill.name}", __base__=Args, **fields)
    model.model_config["extra"] = (
        "allow" if skill.input_schema.get("additionalProperties") else "forbid"
    )

    async def handler(session: Any, args: Args) -> OperationResult:
        values = args.model_dump(exclude_unset=True)
        result = await session.invoke_skill(skill.name, **values)
        return await run_result(session, result, f"skill-{skill.name}")

    op = Operation(
        skill_tool_name(skill.name),
        (skill.description or f"Run the saved skill {skill.name}.")[:1024],
        model,
        handler,
        writes=True,
        tags=("skill",),
        schema=dict(skill.input_schema),
    )
    return op


def as_session(session: Any) -> Any:
    """The Session behind ``session`` (a SyncSession wraps one): adapters take either."""
    from .session import SyncSession

    return session.session if isinstance(session, SyncSession) else session


def offered_operations(
    session: Any,
    operations: Iterable[str] | None = None,
    *,
    read_only: bool = False,
    skills_as_tools: bool = True,
    max_skill_tools: int = 20,
) -> list[Operation]:
    """What an adapter offers: the chosen catalog operations, then saved skills as operations
    of their own (never when read-only; a skill never shadows a catalog name). Sync: it reads
    the storage only, and works before the session starts."""
    ops = select(operations, read_only=read_only)
    if skills_as_tools and not read_only:
        taken = {op.name for op in ops}
        ops += [op for op in skills_as_operations(session, max_skill_tools) if op.name not in taken]
    return ops
