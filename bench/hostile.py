"""The hostile battery as a table: every case against every executor where it is safe to run
(the sandbox twice when this runs as root: with a root host, and with an unprivileged host),
plus the measured start cost and run overhead of the sandbox versus a plain subprocess worker.

    python bench/hostile.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "hostile"))

from cases import ALL, CASES, Case  # noqa: E402
from harness import attack, make  # noqa: E402
from hosts import make_host  # noqa: E402

from py_code_mode import FileStorage, SandboxExecutor, Session  # noqa: E402

USER_COLUMN = "sandbox, unprivileged host"


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
    as_root = os.geteuid() == 0
    own = f"sandbox, {'root' if as_root else 'unprivileged'} host"
    columns = ["inprocess", "subprocess", own]
    if as_root:
        columns.append(USER_COLUMN)

    def verdict(case: Case, kind: str, report: dict[str, object]) -> str:
        if report["held"]:
            return "held"
        return "failed" if kind in case.protects else "not protected"

    table: dict[str, dict[str, str]] = {}
    for case in CASES:
        row = {}
        for kind, column in zip(ALL, columns, strict=False):
            if kind == "sandbox" and sandbox_problem:
                row[column] = "unavailable"
            elif kind not in case.safe_on:
                row[column] = "not run (unsafe)"
            else:
                report = await attack(case, kind, Path(tempfile.mkdtemp(prefix="pcm-hostile-")))
                row[column] = verdict(case, kind, report)
        table[case.name] = row
    if as_root:  # the same sandbox cases, the host being an ordinary user
        safe = [c.name for c in CASES if "sandbox" in c.safe_on]
        reports: dict[str, dict[str, object]] = {}
        if not sandbox_problem:
            with make_host("user") as host:
                reports = host.run_battery("sandbox", safe)
        for case in CASES:
            if sandbox_problem:
                table[case.name][USER_COLUMN] = "unavailable"
            elif case.name not in reports:
                table[case.name][USER_COLUMN] = "not run (unsafe)"
            else:
                table[case.name][USER_COLUMN] = verdict(case, "sandbox", reports[case.name])
    width = max(len(c) for c in table)
    print(f"{'case':<{width}}  " + "  ".join(f"{k:<30}" for k in columns))
    for name, row in table.items():
        print(f"{name:<{width}}  " + "  ".join(f"{row[k]:<30}" for k in columns))
    print("\n| case | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for name, row in table.items():
        label = f"`{name}`" if name in ("os._exit",) else name
        print(f"| {label} | " + " | ".join(row[k] for k in columns) + " |")
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
