"""Container worker versus subprocess worker: cold start (construction to first result) and the
p50 of a trivial run. Needs a Docker daemon and the image (`py-code-mode container build`).

    python bench/container.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from py_code_mode import (
    ContainerConfig,
    ContainerExecutor,
    FileStorage,
    Session,
    SubprocessExecutor,
)

HERE = Path(__file__).resolve().parent


async def measure(make) -> dict[str, float]:  # type: ignore[no-untyped-def]
    starts, runs = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        async with Session(storage=FileStorage(tempfile.mkdtemp()), executor=make()) as session:
            await session.run("1")
            starts.append(time.perf_counter() - t0)
            for _ in range(300):
                t1 = time.perf_counter()
                await session.run("x = 1")
                runs.append(time.perf_counter() - t1)
    return {
        "first_result_ms": statistics.median(starts) * 1000,
        "run_p50_us": statistics.median(runs) * 1e6,
    }


async def main() -> int:
    rows = {
        "subprocess": await measure(SubprocessExecutor),
        "container": await measure(lambda: ContainerExecutor(ContainerConfig())),
    }
    for name, r in rows.items():
        print(
            f"{name:<11} first result {r['first_result_ms']:7.1f} ms   run p50 {r['run_p50_us']:6.1f} µs"
        )
    out = HERE / "results" / "container.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
