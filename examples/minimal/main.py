"""The quick start as a script: a session over a folder, state kept between runs.

Run it:  python examples/minimal/main.py [BASE_DIR]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from py_code_mode import FileStorage, Session, SubprocessExecutor


async def main(base: Path) -> None:
    async with Session(
        storage=FileStorage(base_path=base), executor=SubprocessExecutor()
    ) as session:
        await session.run("import math\nradius = 2.0")
        result = await session.run("area = math.pi * radius ** 2\nround(area, 2)")
        print("area:", result.value)

        await session.run("artifacts.save('area.json', {'radius': radius, 'area': area})")
        print("artifacts:", [a["name"] for a in await session.list_artifacts()])

        failed = await session.run("1 / 0")
        print("error:", failed.error)

        slow = await session.run("while True: pass", timeout=0.5)
        print("timeout:", slow.error)
        print("still alive:", (await session.run("radius")).value)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pcm-"))
    asyncio.run(main(folder))
