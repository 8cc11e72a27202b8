"""The hostile battery as a table: every case against every executor where it is safe to run,
plus the measured start cost and run overhead of the sandbox versus a plain subprocess worker.

    python bench/hostile.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "hostile"))

from cases import ALL, CASES  # noqa: E402
from harness import attack, make  # noqa: E402

from py_code_mode import FileStorage, SandboxExecutor, Session  # noqa: E402


async def costs() -> dict[str, dict[str, float]]:
    out = {}
    for kind in ("subprocess", "sandbox"):
        starts, runs = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            async with Session(
                storage=FileStorage(tempfile.mkdtemp()), executor=make(kind)
            ) as session:
                await session.run("1")
                starts.append(time.perf_counter() - t0)
                for _ in range(200):
                    t1 = time.perf_counter()
                    await session.run("x = 1")
                    runs.append(time.perf_counter() - t1)
        out[kind] = {
            "first_result_ms": statistics.median(starts) * 1000,
            "run_p50_us": statistics.median(runs) * 1e6,
        }
    return out


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "hostile.json")
    args = parser.parse_args()
    sandbox_problem = SandboxExecutor.check()
    table: dict[str, dict[str, str]] = {}
    for case in CASES:
        row = {}
        for kind in ALL:
            if kind == "sandbox" and sandbox_problem:
                row[kind] = "unavailable"
            elif kind not in case.safe_on:
                row[kind] = "not run (unsafe)"
            else:
                report = await attack(case, kind, Path(tempfile.mkdtemp(prefix="pcm-hostile-")))
                if report["held"]:
                    row[kind] = "held"
                else:
                    row[kind] = "failed" if kind in case.protects else "not protected"
        table[case.name] = row
    width = max(len(c) for c in table)
    print(f"{'case':<{width}}  " + "  ".join(f"{k:<16}" for k in ALL))
    for name, row in table.items():
        print(f"{name:<{width}}  " + "  ".join(f"{row[k]:<16}" for k in ALL))
    cost = await costs() if not sandbox_problem else {}
    for kind, c in cost.items():
        print(
            f"{kind:<10} first result {c['first_result_ms']:.0f} ms, run p50 {c['run_p50_us']:.0f} µs"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"table": table, "costs": cost, "sandbox": sandbox_problem or "ok"}, indent=2)
    )
    print(f"\nwrote {args.json}")
    failed = [n for n, row in table.items() if "failed" in row.values()]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
