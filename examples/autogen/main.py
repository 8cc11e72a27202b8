"""AutoGen + py-code-mode: an AssistantAgent whose workbench is a code-mode session.

Offline by default (a scripted model replays the tool calls a model would make). With
OPENAI_API_KEY set (and optionally OPENAI_BASE_URL, MODEL), a real model drives the same agent
(needs `pip install "autogen-ext[openai]"`).

Run it:  python examples/autogen/main.py [BASE_DIR]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from autogen_agentchat.agents import AssistantAgent
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, RequestUsage

from py_code_mode import FileStorage, Session
from py_code_mode.integrations.autogen import CodeModeWorkbench

SKILL = "def run(text: str) -> int:\n    '''Count the words in a text.'''\n    return len(text.split())\n"
SCRIPT = [
    ("run_code", {"code": "len('the quick brown fox'.split())"}),
    (
        "create_skill",
        {"name": "count_words", "source": SKILL, "description": "Count the words in a text"},
    ),
    ("count_words", {"text": "jumps over the lazy dog"}),
]


def model_client():  # type: ignore[no-untyped-def]
    if os.environ.get("OPENAI_API_KEY"):
        from autogen_ext.models.openai import OpenAIChatCompletionClient

        return OpenAIChatCompletionClient(
            model=os.environ.get("MODEL", "gpt-4o-mini"), base_url=os.environ.get("OPENAI_BASE_URL")
        )
    from autogen_ext.models.replay import ReplayChatCompletionClient

    usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
    replies = [
        CreateResult(finish_reason="function_calls", usage=usage, cached=False,
                     content=[FunctionCall(id=f"call_{i}", name=name, arguments=json.dumps(args))])
        for i, (name, args) in enumerate(SCRIPT)
    ]  # fmt: skip
    replies.append(CreateResult(finish_reason="stop", content="Done.", usage=usage, cached=False))
    info = {"vision": False, "function_calling": True, "json_output": False, "family": "unknown",
            "structured_output": False}  # fmt: skip
    return ReplayChatCompletionClient(replies, model_info=info)


async def main(base: Path) -> None:
    async with Session(storage=FileStorage(base)) as session:
        agent = AssistantAgent(
            "coder", model_client(), workbench=CodeModeWorkbench(session), max_tool_iterations=10,
            system_message="Solve tasks by writing Python with run_code; save what works as a skill.",
        )  # fmt: skip
        result = await agent.run(
            task="Count the words of 'the quick brown fox', then save that as a skill."
        )
        for message in result.messages:
            print(f"[{type(message).__name__}] {message.to_text()[:200]}")


if __name__ == "__main__":
    asyncio.run(
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pcm-")))
    )
