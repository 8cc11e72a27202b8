"""Save a working workflow as a skill, then find it and reuse it — the core loop of code mode.

Run it:  python examples/skills/main.py [BASE_DIR]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from py_code_mode import FileStorage, Session, SubprocessExecutor

WORD_STATS = '''
def run(text: str, top: int = 3) -> dict:
    """Count words in a text and return the most frequent ones.

    Args:
        text: The text to analyse.
        top: How many of the most frequent words to return.
    """
    from collections import Counter

    words = [w.strip(".,!?").lower() for w in text.split()]
    return {"words": len(words), "top": Counter(words).most_common(top)}
'''

REPORT = '''
def run(text: str) -> str:
    """Write a one-line report on a text and keep it as an artifact."""
    stats = skills.word_stats(text=text, top=1)
    line = f"{stats['words']} words; most frequent: {stats['top'][0][0]!r}"
    artifacts.save("last_report.txt", line)
    return line
'''


async def main(base: Path) -> None:
    async with Session(storage=FileStorage(base), executor=SubprocessExecutor()) as session:
        # Task 1: the agent writes code, it works, so it saves it as a skill.
        await session.run(f"skills.create('word_stats', {WORD_STATS!r})")

        # Task 2: later, the agent searches, finds the skill and invokes it.
        found = await session.run(
            "[s.name for s in skills.search('count the words in a text', limit=1)]"
        )
        print("found:", found.value)
        used = await session.run("skills.word_stats(text='the cat and the hat', top=1)")
        print("invoked:", used.value)

        # Skills compose: a new skill calls the first one and saves an artifact.
        await session.run(f"skills.create('text_report', {REPORT!r})")
        print("report:", (await session.run("skills.text_report(text='a rose is a rose')")).value)
        print("stub:", (await session.run("skills.describe('word_stats')")).value.splitlines()[0])


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pcm-"))
    asyncio.run(main(folder))
