"""LangChain + py-code-mode: the toolkit's tools in LangChain's own agent (``create_agent``).

Offline by default (a scripted chat model makes the tool calls a model would make). With
OPENAI_API_KEY set (and optionally OPENAI_BASE_URL, MODEL), a real model drives the same loop
(needs `pip install langchain-openai`).

Run it:  python examples/langchain/main.py [BASE_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from py_code_mode import FileStorage, SyncSession
from py_code_mode.integrations.langchain import CodeModeToolkit

SKILL = "def run(text: str) -> int:\n    '''Count the words in a text.'''\n    return len(text.split())\n"
SCRIPT = [
    ("run_code", {"code": "len('the quick brown fox'.split())"}),
    (
        "create_skill",
        {"name": "count_words", "source": SKILL, "description": "Count the words in a text"},
    ),
    ("search_skills", {"query": "how many words"}),
]


class ScriptedChatModel(BaseChatModel):
    """Stands in for a real model: one scripted tool call per turn, then a final answer."""

    script: list[Any]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        if self.script:
            name, args = self.script.pop(0)
            message = AIMessage(
                content="",
                tool_calls=[{"name": name, "args": args, "id": f"call_{len(self.script)}"}],
            )
        else:
            message = AIMessage(content="Done.")
        return ChatResult(generations=[ChatGeneration(message=message)])


def chat_model() -> BaseChatModel:
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=os.environ.get("MODEL", "gpt-4o-mini"), base_url=os.environ.get("OPENAI_BASE_URL")
        )
    return ScriptedChatModel(script=list(SCRIPT))


def main(base: Path) -> None:
    # Sync code: SyncSession runs the session on a loop of its own thread.
    with SyncSession(storage=FileStorage(base)) as session:
        agent = create_agent(chat_model(), tools=CodeModeToolkit(session=session).get_tools())
        state = agent.invoke(
            {
                "messages": [
                    ("user", "Count the words of 'the quick brown fox'; save it as a skill.")
                ]
            }
        )
        for message in state["messages"]:
            print(f"[{message.name or type(message).__name__}] {str(message.content)[:200]}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pcm-")))
