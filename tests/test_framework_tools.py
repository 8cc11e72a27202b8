"""The reverse direction: existing LangChain, LlamaIndex and AutoGen tools called from code."""

from __future__ import annotations

from pathlib import Path

import pytest
from autogen_core.tools import FunctionTool as AutoGenFunctionTool
from langchain_core.tools import tool as langchain_tool
from llama_index.core.tools import FunctionTool as LlamaFunctionTool

from conftest import value
from py_code_mode import FileStorage, Session


@langchain_tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def reverse(text: str) -> str:
    """Reverse a text."""
    return text[::-1]


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_framework_tools_in_code(tmp_path: Path, kind: str) -> None:
    from conftest import make_executor

    session = Session(storage=FileStorage(tmp_path), executor=make_executor(kind))
    session.register_framework_tool(shout)
    session.register_framework_tool(LlamaFunctionTool.from_defaults(fn=add, name="adder"))
    session.register_framework_tool(
        AutoGenFunctionTool(reverse, description="Reverse a text."), tags=("text",)
    )
    async with session:
        assert await value(session, "tools.shout(text='hi')") == "HI"
        assert await value(session, "tools.adder(a=2, b=3)") == 5
        assert await value(session, "tools.reverse(text='abc')") == "cba"
        listed = {t["name"]: t for t in await session.list_tools()}
        assert listed["shout"]["description"] == "Upper-case a text."
        assert [p["name"] for p in listed["adder"]["callables"][0]["parameters"]] == ["a", "b"]
        assert listed["reverse"]["tags"] == ["text"]


def test_unknown_objects_are_refused(tmp_path: Path) -> None:
    from py_code_mode.tools import ToolRegistry

    with pytest.raises(TypeError, match="not a LangChain, LlamaIndex or AutoGen tool"):
        ToolRegistry().register_framework_tool(object())
