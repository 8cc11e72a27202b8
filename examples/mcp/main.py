"""Start the py-code-mode MCP server over stdio and drive it with the `mcp` client:
run code, save a skill, then call the skill as its own MCP tool.

Run it:  python examples/mcp/main.py [BASE_DIR]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from mcp import Client, StdioServerParameters

SKILL = "def run(text: str) -> int:\n    '''Count the words in a text.'''\n    return len(text.split())\n"


def text_of(result) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def main(base: Path) -> None:
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "py_code_mode.cli.mcp_server", "--base", str(base)]
    )
    async with Client(server) as client:
        print("tools:", len((await client.list_tools()).tools))
        print("run_code:", text_of(await client.call_tool("run_code", {"code": "sum(range(10))"})))
        await client.call_tool(
            "create_skill", {"name": "word_count", "source": SKILL, "description": ""}
        )
        print(
            "word_count:", text_of(await client.call_tool("word_count", {"text": "one two three"}))
        )


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pcm-mcp-"))
    asyncio.run(main(folder))
