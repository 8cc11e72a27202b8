"""Tools from a folder of YAML files plus a Python function, called from code.

Run it:  python examples/tools/main.py
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from py_code_mode import Session

HERE = Path(__file__).resolve().parent


def celsius_to_fahrenheit(celsius: float) -> float:
    """Convert a temperature.

    Args:
        celsius: Degrees Celsius.
    """
    return celsius * 9 / 5 + 32


async def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="pcm-tools-"))
    shutil.copytree(HERE / "tools", base / "tools")
    session = Session.subprocess(base)  # tools/ under the base folder load automatically
    session.register_tool(celsius_to_fahrenheit, tags=["units"])
    async with session:
        print((await session.run("[t.name for t in tools.list()]")).value)
        print((await session.run("tools.text.count_words(input='one two three')")).value.strip())
        print((await session.run("tools.celsius_to_fahrenheit(celsius=100)")).value)
        print((await session.run("tools.search('convert temperature', limit=1)[0]['name']")).value)
        print((await session.run("print(tools.describe('text'))")).stdout.splitlines()[0])


if __name__ == "__main__":
    asyncio.run(main())
