"""``py-code-mode demo``: the whole idea in one offline run, through each framework adapter.

An agent (a scripted model, or a real one when OPENAI_API_KEY is set) writes code that calls a
CLI tool, a Python tool and an HTTP API served on 127.0.0.1; saves the working code as a skill;
in a second task finds the skill by search and invokes it; composes it into a new skill; and
saves the result as an artifact. Every step is shown with its code, result and timing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FRAMEWORKS = ("langchain", "autogen", "llamaindex", "mcp")
QUOTES = {
    "1": {
        "author": "Grace Hopper",
        "text": "The most dangerous phrase in the language is we have always done it this way",
    },
    "2": {"author": "Alan Kay", "text": "The best way to predict the future is to invent it"},
}

WC_TOOL = """name: wc
description: Count lines, words and characters of text given as input
command: wc
tags: [text, count]
schema:
  options:
    words: {type: boolean, short: w}
recipes:
  count_words:
    description: Count the words of the text given as `input`
    preset: {words: true}
"""

QUOTE_STATS = '''
def run(quote_id: int) -> dict:
    """Fetch a quote by id and report its author, word count and a slug of the author.

    Args:
        quote_id: Which quote to fetch from the quotes API.
    """
    quote = tools.quotes.get_quote(id=quote_id)
    words = int(tools.wc.count_words(input=quote["text"]).strip())
    return {"author": quote["author"], "words": words, "slug": tools.slugify(text=quote["author"])}
'''

COMPARE = '''
def run(a: int, b: int) -> dict:
    """Compare two quotes by length, using the quote_stats skill."""
    first, second = skills.quote_stats(quote_id=a), skills.quote_stats(quote_id=b)
    longer = first if first["words"] >= second["words"] else second
    return {"longer": longer["author"], "words": [first["words"], second["words"]]}
'''

TASKS: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = [
    (
        "Fetch quote 1 from the quotes API, count its words and slugify its author; "
        "then save that as a reusable skill.",
        [
            (
                "run_code",
                {
                    "code": "quote = tools.quotes.get_quote(id=1)\n"
                    "words = int(tools.wc.count_words(input=quote['text']).strip())\n"
                    "{'author': quote['author'], 'words': words, 'slug': tools.slugify(text=quote['author'])}"
                },
            ),
            ("create_skill", {"name": "quote_stats", "source": QUOTE_STATS, "description": ""}),
        ],
    ),
    (
        "Which of quotes 1 and 2 is longer? Reuse what you saved before, and keep the answer.",
        [
            ("search_skills", {"query": "word count of a quote"}),
            ("invoke_skill", {"name": "quote_stats", "arguments": {"quote_id": 2}}),
            ("create_skill", {"name": "compare_quotes", "source": COMPARE, "description": ""}),
            (
                "run_code",
                {
                    "code": "result = skills.compare_quotes(a=1, b=2)\nartifacts.save('comparison.json', result)\nresult"
                },
            ),
        ],
    ),
]


def slugify(text: str) -> str:
    """Turn text into a URL slug.

    Args:
        text: The text to slugify.
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class _Quotes(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        quote = QUOTES.get(self.path.rsplit("/", 1)[-1])
        body = json.dumps(quote or {"error": "no such quote"}).encode()
        self.send_response(200 if quote else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Step:
    task: int
    tool: str
    arguments: dict[str, Any]
    result: str
    ms: float
    is_error: bool = False


@dataclass
class Story:
    framework: str
    steps: list[Step] = field(default_factory=list)


def prepare_base(base: Path, api_port: int) -> None:
    (base / "tools").mkdir(parents=True, exist_ok=True)
    (base / "tools" / "wc.yaml").write_text(WC_TOOL)
    (base / "tools" / "quotes.yaml").write_text(
        f"name: quotes\ntype: http\ndescription: A small quotes API\nbase_url: http://127.0.0.1:{api_port}\n"
        "endpoints:\n  get_quote:\n    path: /quotes/{id}\n    description: One quote by id\n"
    )


def start_api() -> tuple[ThreadingHTTPServer, int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quotes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_port


# --- drivers: one per framework, each with that framework's native objects -------------------

Record = Callable[[int, str, dict[str, Any], str, float, bool], None]


async def drive_langchain(
    session: Any, task: int, prompt: str, script: list[Any], record: Record
) -> None:
    from langchain_core.messages import HumanMessage

    from py_code_mode.integrations.langchain import CodeModeToolkit

    tools = {t.name: t for t in await CodeModeToolkit(session=session).aget_tools()}
    model = _langchain_model(script).bind_tools(list(tools.values()))
    messages: list[Any] = [HumanMessage(prompt)]
    for _ in range(12):
        reply = await model.ainvoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return
        for call in reply.tool_calls:
            started = time.perf_counter()
            answer = await tools[call["name"]].ainvoke(call)
            ms = (time.perf_counter() - started) * 1000
            record(
                task, call["name"], call["args"], str(answer.content), ms, answer.status == "error"
            )
            messages.append(answer)


def _langchain_model(script: list[Any]) -> Any:
    import os

    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=os.environ.get("MODEL", "gpt-4o-mini"),
            base_url=os.environ.get("OPENAI_BASE_URL") or None,
        )
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class ScriptedChatModel(BaseChatModel):
        steps: list[Any]

        @property
        def _llm_type(self) -> str:
            return "scripted"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return self

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            if self.steps:
                name, args = self.steps.pop(0)
                message = AIMessage(
                    content="",
                    tool_calls=[{"name": name, "args": args, "id": f"call_{len(self.steps)}"}],
                )
            else:
                message = AIMessage(content="Done.")
            return ChatResult(generations=[ChatGeneration(message=message)])

    return ScriptedChatModel(steps=list(script))


async def drive_autogen(
    session: Any, task: int, prompt: str, script: list[Any], record: Record
) -> None:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.messages import ToolCallExecutionEvent, ToolCallRequestEvent

    from py_code_mode.integrations.autogen import CodeModeWorkbench

    agent = AssistantAgent(
        "coder",
        _autogen_client(script),
        workbench=CodeModeWorkbench(session),
        max_tool_iterations=12,
    )
    started = time.perf_counter()
    requested: dict[str, Any] = {}
    async for message in agent.run_stream(task=prompt):
        if isinstance(message, ToolCallRequestEvent):
            requested = {c.id: c for c in message.content}
            started = time.perf_counter()
        elif isinstance(message, ToolCallExecutionEvent):
            ms = (time.perf_counter() - started) * 1000
            for item in message.content:
                call = requested.get(item.call_id)
                arguments = json.loads(call.arguments) if call is not None else {}
                record(task, item.name, arguments, item.content, ms, bool(item.is_error))


def _autogen_client(script: list[Any]) -> Any:
    import os

    if os.environ.get("OPENAI_API_KEY"):
        from autogen_ext.models.openai import OpenAIChatCompletionClient

        base_url = os.environ.get("OPENAI_BASE_URL")
        options: dict[str, Any] = {"base_url": base_url} if base_url else {}
        return OpenAIChatCompletionClient(model=os.environ.get("MODEL", "gpt-4o-mini"), **options)
    from autogen_core import FunctionCall
    from autogen_core.models import CreateResult, RequestUsage
    from autogen_ext.models.replay import ReplayChatCompletionClient

    usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
    replies = [
        CreateResult(finish_reason="function_calls", usage=usage, cached=False,
                     content=[FunctionCall(id=f"call_{i}", name=name, arguments=json.dumps(args))])
        for i, (name, args) in enumerate(script)
    ]  # fmt: skip
    replies.append(CreateResult(finish_reason="stop", content="Done.", usage=usage, cached=False))
    info = {
        "vision": False,
        "function_calling": True,
        "json_output": False,
        "family": "unknown",
        "structured_output": False,
    }
    return ReplayChatCompletionClient(replies, model_info=info)  # type: ignore[arg-type]


async def drive_llamaindex(
    session: Any, task: int, prompt: str, script: list[Any], record: Record
) -> None:
    from llama_index.core.agent.workflow import FunctionAgent, ToolCall, ToolCallResult

    from py_code_mode.integrations.llamaindex import CodeModeToolSpec

    agent = FunctionAgent(
        tools=await CodeModeToolSpec(session).ato_tool_list(), llm=_llamaindex_llm(script)
    )
    handler = agent.run(user_msg=prompt)
    started = time.perf_counter()
    async for event in handler.stream_events():
        if isinstance(event, ToolCall) and not isinstance(event, ToolCallResult):
            started = time.perf_counter()
        elif isinstance(event, ToolCallResult):
            text = str(event.tool_output.content)
            ms = (time.perf_counter() - started) * 1000
            record(
                task, event.tool_name, dict(event.tool_kwargs), text, ms, text.startswith("Error:")
            )
    await handler


def _llamaindex_llm(script: list[Any]) -> Any:
    import os

    if os.environ.get("OPENAI_API_KEY"):
        from llama_index.llms.openai import OpenAI

        return OpenAI(
            model=os.environ.get("MODEL", "gpt-4o-mini"), api_base=os.environ.get("OPENAI_BASE_URL")
        )
    from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
    from llama_index.core.llms.mock import MockFunctionCallingLLM

    steps = list(script)

    def respond(messages: Any, **kwargs: Any) -> ChatMessage:
        if steps:
            name, args = steps.pop(0)
            return ChatMessage(
                role=MessageRole.ASSISTANT, blocks=[ToolCallBlock(tool_name=name, tool_kwargs=args)]
            )
        return ChatMessage(role=MessageRole.ASSISTANT, content="Done.")

    return MockFunctionCallingLLM(response_generator=respond, is_chat_model=True)


async def drive_mcp(
    session: Any, task: int, prompt: str, script: list[Any], record: Record
) -> None:
    """The MCP server as a subprocess over stdio, called by the `mcp` client (scripted calls)."""
    import sys

    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    base = str(session.storage.root)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "py_code_mode.cli.mcp_server", "--base", base]
    )
    # The server's own logs are noise in the story; -v shows them.
    errlog = sys.stderr if VERBOSE else open(os.devnull, "w")  # noqa: SIM115
    async with Client(stdio_client(params, errlog=errlog)) as client:
        for name, arguments in script:
            started = time.perf_counter()
            result = await client.call_tool(name, arguments)
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            record(
                task,
                name,
                arguments,
                text,
                (time.perf_counter() - started) * 1000,
                bool(result.is_error),
            )


VERBOSE = False

DRIVERS: dict[str, Callable[..., Awaitable[None]]] = {
    "langchain": drive_langchain,
    "autogen": drive_autogen,
    "llamaindex": drive_llamaindex,
    "mcp": drive_mcp,
}


async def play(framework: str, base: Path, api_port: int) -> Story:
    from py_code_mode import Session

    prepare_base(base, api_port)
    story = Story(framework)

    def record(
        task: int, tool: str, arguments: dict[str, Any], result: str, ms: float, is_error: bool
    ) -> None:
        story.steps.append(Step(task, tool, arguments, result, ms, is_error))

    session = Session.subprocess(base, timeout=30)
    if framework != "mcp":
        session.register_tool(slugify)
    else:
        # The MCP server is another process: it gets slugify as a Python tool file.
        (base / "tools" / "slug.yaml").write_text(
            "name: slugify\ndescription: Turn text into a URL slug\ncommand: python3\n"
            "schema:\n  options:\n    c: {type: string, short: c}\n  positional:\n    - {name: text, required: true}\n"
            "recipes:\n  slugify:\n    preset: {c: \"import re,sys; print(re.sub(r'[^a-z0-9]+','-',sys.argv[1].lower()).strip('-'), end='')\"}\n"
        )
    async with session:
        for number, (prompt, script) in enumerate(TASKS, start=1):
            await DRIVERS[framework](session, number, prompt, list(script), record)
    return story


def available(framework: str) -> str | None:
    """None when the framework's extra is installed, else why not."""
    modules = {
        "langchain": "langchain_core",
        "autogen": "autogen_agentchat",
        "llamaindex": "llama_index.core",
        "mcp": "mcp",
    }
    import importlib.util

    name = modules[framework]
    try:
        found = importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        return None
    return f'not installed; add it with: pip install "py-code-mode[{framework}]"'


def render(story: Story, console: Any) -> None:
    from rich.panel import Panel
    from rich.syntax import Syntax

    task = 0
    for step in story.steps:
        if step.task != task:
            task = step.task
            console.rule(f"[bold]{story.framework}: task {task}[/bold] — {TASKS[task - 1][0]}")
        args = dict(step.arguments)
        body: Any
        if "code" in args:
            body = Syntax(args.pop("code"), "python", theme="ansi_dark")
        elif "source" in args:
            body = Syntax(args.pop("source").strip(), "python", theme="ansi_dark")
        else:
            body = json.dumps(args)
        result = step.result if len(step.result) < 600 else step.result[:600] + " …"
        style = "red" if step.is_error else "green"
        console.print(
            Panel(
                body,
                title=f"[bold]{step.tool}[/bold] {json.dumps(args) if args and 'code' not in step.arguments and 'source' not in step.arguments else ''}",
                subtitle=f"{step.ms:.0f} ms",
                border_style="cyan",
            )
        )
        console.print(Panel(result, title="result", border_style=style))


def summary(stories: list[Story], console: Any) -> None:
    from rich.table import Table

    table = Table(title="py-code-mode demo")
    for column in ("framework", "tool calls", "errors", "skills saved", "skill reused", "total ms"):
        table.add_column(column)
    for story in stories:
        saved = sum(1 for s in story.steps if s.tool == "create_skill" and not s.is_error)
        reused = any(s.tool == "invoke_skill" and not s.is_error for s in story.steps)
        table.add_row(
            story.framework,
            str(len(story.steps)),
            str(sum(1 for s in story.steps if s.is_error)),
            str(saved),
            "yes" if reused else "no",
            f"{sum(s.ms for s in story.steps):.0f}",
        )
    console.print(table)


async def run_demo(frameworks: list[str], base: Path | None) -> list[Story]:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    server, port = start_api()
    stories: list[Story] = []
    try:
        for framework in frameworks:
            missing = available(framework)
            if missing:
                # escape(): rich would take "[langchain]" in the hint for markup and drop it.
                console.print(f"[yellow]{framework}: skipped ({escape(missing)})[/yellow]")
                continue
            scratch = None if base else tempfile.TemporaryDirectory(prefix=f"pcm-demo-{framework}-")
            folder = base / framework if base else Path(scratch.name)  # type: ignore[union-attr]
            try:
                with console.status(
                    f"{framework}: starting the session (first search loads the index)…"
                ):
                    story = await play(framework, folder, port)
            finally:
                if scratch is not None:
                    scratch.cleanup()
            render(story, console)
            stories.append(story)
            if base:
                console.print(f"[dim]{framework}: data kept in {folder}[/dim]")
    finally:
        server.shutdown()
    if stories:
        summary(stories, console)
    else:
        console.print(
            "[red]No framework could run.[/red] Install the extras, e.g. "
            + escape('pip install "py-code-mode[all]"')
        )
    return stories


def quiet_logs(verbose: bool) -> None:
    """Only the story on screen: libraries' INFO lines (httpx requests) and AutoGen's token
    count warnings appear with ``-v``."""
    global VERBOSE
    VERBOSE = verbose
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, force=True)
    if not verbose:
        for name in ("httpx", "autogen_core", "autogen_core.events", "autogen_agentchat", "mcp"):
            logging.getLogger(name).setLevel(logging.ERROR)


def main(framework: str, base: str | None, verbose: bool = False) -> int:
    quiet_logs(verbose)
    chosen = list(FRAMEWORKS) if framework == "all" else [framework]
    stories = asyncio.run(run_demo(chosen, Path(base).expanduser() if base else None))
    failed = [s.framework for s in stories if any(step.is_error for step in s.steps)]
    return 1 if failed or not stories else 0
