"""Scripted stand-ins for the model objects the docs' framework snippets name.

``model_client`` (AutoGen), ``llm`` (LlamaIndex) and ``chat_model`` (LangChain) each ask for
one ``run_code`` call with ``6 * 7``, then answer with what the tool returned, so a snippet run
with them goes through the framework's real agent loop and our real tools, offline.
"""

from __future__ import annotations

import json
from typing import Any

from autogen_core import FunctionCall
from autogen_core.models import CreateResult, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

CALL = ("run_code", {"code": "6 * 7"})
_USAGE = RequestUsage(prompt_tokens=0, completion_tokens=0)
_MODEL_INFO = {
    "vision": False,
    "function_calling": True,
    "json_output": False,
    "family": "unknown",
    "structured_output": False,
}


def autogen_client() -> ReplayChatCompletionClient:
    name, args = CALL
    call = FunctionCall(id="call_0", name=name, arguments=json.dumps(args))
    return ReplayChatCompletionClient(
        [
            CreateResult(
                finish_reason="function_calls", content=[call], usage=_USAGE, cached=False
            ),
            CreateResult(finish_reason="stop", content="done", usage=_USAGE, cached=False),
        ],
        model_info=_MODEL_INFO,  # type: ignore[arg-type]
    )


def llamaindex_llm() -> MockFunctionCallingLLM:
    asked = []

    def respond(messages: Any, **kwargs: Any) -> ChatMessage:
        if not asked:
            asked.append(True)
            name, args = CALL
            block = ToolCallBlock(tool_call_id="call_0", tool_name=name, tool_kwargs=args)
            return ChatMessage(role=MessageRole.ASSISTANT, blocks=[block])
        tool_output = [m for m in messages if m.role == MessageRole.TOOL][-1].content
        return ChatMessage(role=MessageRole.ASSISTANT, content=f"The answer is {tool_output}")

    return MockFunctionCallingLLM(response_generator=respond, is_chat_model=True)


class ScriptedChatModel(BaseChatModel):
    """One ``run_code`` call, then the answer the tool gave."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        answers = [m for m in messages if isinstance(m, ToolMessage)]
        if answers:
            message = AIMessage(content=f"The answer is {answers[-1].content}")
        else:
            name, args = CALL
            message = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "c0"}])
        return ChatResult(generations=[ChatGeneration(message=message)])


model_client = autogen_client()
llm = llamaindex_llm()
chat_model = ScriptedChatModel()
