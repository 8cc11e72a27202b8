"""AutoGen (autogen-agentchat): catalog tools for ``AssistantAgent(tools=...)``, a ``Workbench``
whose tool list follows the skill library, and a ``CodeExecutor`` for ``CodeExecutorAgent``.

    from py_code_mode.integrations.autogen import create_tools, CodeModeWorkbench
    agent = AssistantAgent("coder", model_client, tools=create_tools(session))
    agent = AssistantAgent("coder", model_client, workbench=CodeModeWorkbench(session))

They follow AutoGen's conventions: a ``CancellationToken`` interrupts the running code; the code
executor answers exit code 124 on a timeout and 125 when cancelled, with the plain output; each
is a component (``dump_component()`` / ``load_component()``) whose config describes its Session
as data (``SessionSpec``: base folder or Redis URL, executor, timeout). The reference project's
``create_run_code_tool`` and ``get_tools_description`` keep working.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, Self, TypeVar

from autogen_core import CancellationToken, Component
from autogen_core.code_executor import CodeBlock, CodeExecutor, CodeResult
from autogen_core.tools import BaseTool, TextResultContent, ToolResult, ToolSchema, Workbench
from pydantic import BaseModel, Field

from py_code_mode.catalog import (
    OPERATIONS,
    Args,
    Operation,
    as_session,
    offered_operations,
    select,
    skills_as_operations,
)
from py_code_mode.factory import SessionSpec, describe_session

T = TypeVar("T")
_TIMED_OUT = "TimeoutError: Execution timed out"
#: Sessions loaded from component configs, by their description: the tools of one saved agent
#: share one Session, as they did when it was saved.
_LOADED: dict[str, Any] = {}


def _loaded_session(spec: SessionSpec) -> Any:
    key = spec.model_dump_json()
    session = _LOADED.get(key)
    if session is None or session.closed:
        session = _LOADED[key] = spec.create()
    return session


async def _until_cancelled(work: Awaitable[T], token: CancellationToken | None) -> T:
    """Await ``work``; ``token.cancel()`` cancels it, which interrupts a running cell."""
    task = asyncio.ensure_future(work)
    if token is not None:
        token.link_future(task)
    return await task


class CodeModeToolConfig(BaseModel):
    session: SessionSpec
    name: str = Field(description="A catalog operation or a saved skill's tool name.")


class CodeModeTool(BaseTool[Args, str], Component[CodeModeToolConfig]):
    """One catalog operation (or a saved skill) as an AutoGen tool."""

    component_config_schema = CodeModeToolConfig
    component_provider_override = "py_code_mode.integrations.autogen.CodeModeTool"

    def __init__(self, op: Operation, session: Any) -> None:
        super().__init__(op.args_model, str, op.name, op.description)
        self._op = op
        self._session = as_session(session)

    @property
    def schema(self) -> ToolSchema:
        parameters = self._op.input_schema()
        return ToolSchema(
            name=self._op.name, description=self._op.description, parameters=parameters
        )  # type: ignore[typeddict-item]

    async def run(self, args: Args, cancellation_token: CancellationToken) -> str:
        work = self._op.call(self._session, args.model_dump(exclude_unset=True))
        return (await _until_cancelled(work, cancellation_token)).text  # errors are text too

    async def run_json(
        self,
        args: Mapping[str, Any],
        cancellation_token: CancellationToken,
        call_id: str | None = None,
    ) -> Any:
        # Skills validate their own arguments: pass them through unchanged.
        work = self._op.call(self._session, dict(args))
        return (await _until_cancelled(work, cancellation_token)).text

    def _to_config(self) -> CodeModeToolConfig:
        return CodeModeToolConfig(session=describe_session(self._session), name=self._op.name)

    @classmethod
    def _from_config(cls, config: CodeModeToolConfig) -> Self:
        session = _loaded_session(config.session)
        op = OPERATIONS.get(config.name) or next(
            (s for s in skills_as_operations(session, limit=10_000) if s.name == config.name), None
        )
        if op is None:
            raise ValueError(f"no operation or saved skill named {config.name!r}")
        return cls(op, session)


def create_tools(
    session: Any,
    operations: list[str] | None = None,
    skills_as_tools: bool = True,
    *,
    read_only: bool = False,
    max_skill_tools: int = 20,
) -> list[CodeModeTool]:
    """Catalog tools for ``AssistantAgent(tools=...)`` (saved skills included, when already
    listed: for a tool list that follows the library use :class:`CodeModeWorkbench`).
    Works in sync and async code alike (listing is storage work)."""
    session = as_session(session)
    ops = offered_operations(
        session,
        operations,
        read_only=read_only,
        skills_as_tools=skills_as_tools,
        max_skill_tools=max_skill_tools,
    )
    return [CodeModeTool(op, session) for op in ops]


class CodeModeWorkbenchConfig(BaseModel):
    session: SessionSpec
    operations: list[str] | None = None
    read_only: bool = False
    skills_as_tools: bool = True
    max_skill_tools: int = 20


class CodeModeWorkbench(Workbench, Component[CodeModeWorkbenchConfig]):
    """A Workbench whose tools are the catalog plus the current skills (re-read every turn).

    ``start()`` starts the Session; ``stop()`` closes it only when this workbench created it
    (loaded from a component config): a Session passed in belongs to the caller."""

    component_type = "workbench"
    component_config_schema = CodeModeWorkbenchConfig
    component_provider_override = "py_code_mode.integrations.autogen.CodeModeWorkbench"

    def __init__(
        self,
        session: Any,
        operations: list[str] | None = None,
        skills_as_tools: bool = True,
        *,
        read_only: bool = False,
        max_skill_tools: int = 20,
    ) -> None:
        self._session = as_session(session)
        select(operations, read_only=read_only)  # unknown names fail here, not on the first turn
        self._operations = operations
        self._read_only = read_only
        self._skills_as_tools = skills_as_tools
        self._max_skill_tools = max_skill_tools
        self._owns_session = False

    async def _all(self) -> dict[str, Operation]:
        ops = await asyncio.to_thread(
            offered_operations,
            self._session, self._operations, read_only=self._read_only,
            skills_as_tools=self._skills_as_tools, max_skill_tools=self._max_skill_tools,
        )  # fmt: skip
        return {op.name: op for op in ops}

    async def list_tools(self) -> list[ToolSchema]:
        return [
            ToolSchema(name=op.name, description=op.description, parameters=op.input_schema())  # type: ignore[typeddict-item]
            for op in (await self._all()).values()
        ]

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
        call_id: str | None = None,
    ) -> ToolResult:
        op = (await self._all()).get(name)
        if op is None:
            return ToolResult(
                name=name,
                result=[TextResultContent(content=f"Error: no tool named {name!r}")],
                is_error=True,
            )
        result = await _until_cancelled(
            op.call(self._session, dict(arguments or {})), cancellation_token
        )
        return ToolResult(
            name=name, result=[TextResultContent(content=result.text)], is_error=result.is_error
        )

    async def start(self) -> None:
        await self._session.start()

    async def stop(self) -> None:
        if self._owns_session:
            await self._session.close()

    async def reset(self) -> None:
        await self._session.reset()

    async def save_state(self) -> Mapping[str, Any]:
        # The session's state lives in its storage (skills, artifacts) and its executor.
        return {"type": "CodeModeWorkbenchState"}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        return None

    def _to_config(self) -> CodeModeWorkbenchConfig:
        return CodeModeWorkbenchConfig(
            session=describe_session(self._session),
            operations=self._operations,
            read_only=self._read_only,
            skills_as_tools=self._skills_as_tools,
            max_skill_tools=self._max_skill_tools,
        )

    @classmethod
    def _from_config(cls, config: CodeModeWorkbenchConfig) -> Self:
        workbench = cls(
            config.session.create(),
            config.operations,
            config.skills_as_tools,
            read_only=config.read_only,
            max_skill_tools=config.max_skill_tools,
        )
        workbench._owns_session = True
        return workbench


class CodeModeCodeExecutorConfig(BaseModel):
    session: SessionSpec
    timeout: float | None = None


class CodeModeCodeExecutor(CodeExecutor, Component[CodeModeCodeExecutorConfig]):
    """Runs ``CodeExecutorAgent``'s Python code blocks in a Session (state kept across blocks).

    As AutoGen's own executors: the output is what the code printed (then the value of the last
    expression, or the error's traceback); exit code 0, 1 on an error, 124 on a timeout, 125
    when the ``CancellationToken`` was cancelled (the code is interrupted)."""

    component_type = "code_executor"
    component_config_schema = CodeModeCodeExecutorConfig
    component_provider_override = "py_code_mode.integrations.autogen.CodeModeCodeExecutor"

    def __init__(self, session: Any, timeout: float | None = None) -> None:
        self._session = as_session(session)
        self._timeout = timeout
        self._owns_session = False

    async def execute_code_blocks(
        self, code_blocks: list[CodeBlock], cancellation_token: CancellationToken
    ) -> CodeResult:
        output = ""
        for block in code_blocks:
            if block.language.lower() not in ("python", "py", "python3", ""):
                return CodeResult(exit_code=1, output=f"unsupported language: {block.language}")
            run = self._session.run(block.code, timeout=self._timeout)
            try:
                result = await _until_cancelled(run, cancellation_token)
            except asyncio.CancelledError:
                if not cancellation_token.is_cancelled():
                    raise  # our own task was cancelled, not the run
                return CodeResult(exit_code=125, output=output + "\nCancelled")
            output += _plain_output(result)
            if result.error is not None:
                timed_out = result.error.startswith(_TIMED_OUT)
                return CodeResult(exit_code=124 if timed_out else 1, output=output)
        return CodeResult(exit_code=0, output=output)

    async def start(self) -> None:
        await self._session.start()

    async def stop(self) -> None:
        if self._owns_session:
            await self._session.close()

    async def restart(self) -> None:
        await self._session.reset()

    def _to_config(self) -> CodeModeCodeExecutorConfig:
        return CodeModeCodeExecutorConfig(
            session=describe_session(self._session), timeout=self._timeout
        )

    @classmethod
    def _from_config(cls, config: CodeModeCodeExecutorConfig) -> Self:
        executor = cls(config.session.create(), timeout=config.timeout)
        executor._owns_session = True
        return executor


def _plain_output(result: Any) -> str:
    """What a terminal would show: printed output, then the value or the error."""
    out = result.stdout + result.stderr
    if result.error is not None:
        tail = result.traceback or result.error
    elif result.repr is not None:
        tail = result.repr
    else:
        return out
    return f"{out}{'' if not out or out.endswith(chr(10)) else chr(10)}{tail.rstrip()}\n"


# --- the reference project's helpers ------------------------------------------------------------


def create_run_code_tool(
    executor: Any = None,
    session_url: str | None = None,
    timeout: float = 30.0,
    session_id: str | None = None,
    auth_token: str | None = None,
) -> Any:
    """``run_code(code) -> str`` over a local executor (async) or a session server (sync).

    With ``session_url`` every call runs in one server session (``session_id``, or one made
    here), so variables persist between calls; ``auth_token`` defaults to
    ``$CONTAINER_AUTH_TOKEN``. Output: stdout, then the value; failures as ``"Error: ..."``.
    """
    if (executor is None) == (session_url is None):
        raise ValueError("pass exactly one of executor or session_url")
    if executor is not None:

        async def run_code(code: str) -> str:
            """Run Python code; returns stdout and the value, or the error."""
            result = await executor.run(code, timeout=timeout)
            return _run_output(result.error, result.stdout, result.value)

        return run_code

    import os
    import uuid

    url = session_url.rstrip("/")  # type: ignore[union-attr]
    sid = session_id or str(uuid.uuid4())
    token = auth_token if auth_token is not None else os.environ.get("CONTAINER_AUTH_TOKEN")

    def run_code_remote(code: str) -> str:
        """Run Python code on the session server; returns stdout and the value, or the error."""
        from py_code_mode.errors import RemoteSessionError
        from py_code_mode.execution.container.client import SyncSessionClient

        with SyncSessionClient(url, timeout=timeout, session_id=sid, auth_token=token) as client:
            try:
                result = client.execute(code, timeout=timeout)
            except RemoteSessionError as exc:
                return f"Error: {type(exc).__name__}: {exc}"
        value = result.repr if result.value is None and result.repr != "None" else result.value
        return _run_output(result.error, result.stdout, value)

    run_code_remote.__name__ = "run_code"
    run_code_remote.session_id = sid  # type: ignore[attr-defined]
    return run_code_remote


def _run_output(error: str | None, stdout: str, value: Any) -> str:
    if error is not None:
        return f"Error: {error}"
    parts = [stdout.rstrip("\n")] if stdout else []
    if value is not None:
        parts.append(str(value))
    return "\n".join(parts)


def get_tools_description(
    session_url: str | None = None, executor: Any = None, auth_token: str | None = None
) -> str:
    """A prompt-ready description of the tools code can call (from a session server's
    ``/info`` with ``session_url``; ``auth_token`` defaults to ``$CONTAINER_AUTH_TOKEN``)."""
    if executor is not None:
        registry = getattr(executor, "registry", None)
        return registry.describe() if registry is not None else ""
    if session_url is None:
        raise ValueError("pass session_url or executor")
    import os

    from py_code_mode.execution.container.client import SyncSessionClient

    token = auth_token if auth_token is not None else os.environ.get("CONTAINER_AUTH_TOKEN")
    with SyncSessionClient(session_url, auth_token=token) as client:
        tools = client.call("GET", "/info")["tools"]
    if not tools:
        return "No tools are configured on the session server."
    lines = ["Available tools (use via tools.name(arg=value)):"]
    lines += [f"  - {t['name']}: {t.get('description', '')}" for t in tools]
    return "\n".join(lines)
