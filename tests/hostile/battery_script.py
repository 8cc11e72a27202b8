"""The hostile battery for one executor, as whichever user runs this script (hosts.py runs it
as an unprivileged host).

    python battery_script.py sandbox FOLDER [CASE ...]

Prints one JSON line: ``{case name: {held, detail}}`` for the named cases (all that are safe to
run on that executor when none are named).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from cases import CASES
from harness import attack


async def main(kind: str, folder: Path, names: list[str]) -> dict[str, dict[str, object]]:
    chosen = [c for c in CASES if (c.name in names if names else kind in c.safe_on)]
    out = {}
    for case in chosen:
        work = Path(tempfile.mkdtemp(prefix="case-", dir=folder))
        out[case.name] = await attack(case, kind, work)
    return out


if __name__ == "__main__":
    kind, folder, *names = sys.argv[1:]
    print(json.dumps(asyncio.run(main(kind, Path(folder), names))))
