"""LlamaIndex + py-code-mode: a FunctionAgent with the tool spec's tools.

Offline by default (a mock function-calling LLM replays the tool calls a model would make).
With OPENAI_API_KEY set (and optionally OPENAI_BASE_URL, MODEL), a real model drives the same
agent (needs `pip install llama-index-llms-openai`).

Run it:  python examples/llamaindex/main.py [BASE_DIR]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock

from py_code_mode import FileStorage, Session
from py_code_mode.integrations.llamaindex import CodeModeToolSpec

SKILL = "def run(text: str) -> int:\n    '''Count the words in a text.'''\n    return len(text.split())\n"
SCRIPT = [
    ("run_code", {"code": "len('the quick brown fox'.split())"}),
    (
        "create_skill",
        {"name": "count_words", "source": SKILL, "description": "Count the words in a text"},
    ),
    ("invoke_skill", {"name": "count_words", "arguments": {"text": "jumps over the lazy dog"}}),
]


def llm() -> Any:
    if os.environ.get("OPENAI_API_KEY"):
        from llama_index.llms.openai import OpenAI

        return OpenAI(
            model=os.environ.get("MODEL", "gpt-4o-mini"), api_base=os.environ.get("OPENAI_BASE_URL")
        )
    from llama_index.core.llms.mock import MockFunctionCallingLLM

    steps = list(SCRIPT)

    def respond(messages: Any, **kwargs: Any) -> ChatMessage:
        if steps:
            name, args = steps.pop(0)
            return ChatMessage(
                role=MessageRole.ASSISTANT, blocks=[ToolCallBlock(tool_name=name, tool_kwargs=args)]
            )
        return ChatMessage(role=MessageRole.ASSISTANT, content="Done.")

    return MockFunctionCallingLLM(response_generator=respond, is_chat_model=True)


async def main(base: Path) -> None:
    async with Session(storage=FileStorage(base)) as session:
        agent = FunctionAgent(tools=await CodeModeToolSpec(session).ato_tool_list(), llm=llm())
        handler = agent.run(
            user_msg="Count the words of 'the quick brown fox' and save it as a skill."
        )
        async for event in handler.stream_events():
            if isinstance(event, ToolCallResult):
                print(f"[{event.tool_name}] {str(event.tool_output.content)[:200]}")
        print(f"[final] {await handler}")


if __name__ == "__main__":
    asyncio.run(
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pcm-")))
    )
