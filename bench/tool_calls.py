"""Round-trip cost of a tool call from inside code: a Python tool (host-executed), called in a
loop inside one run, under each executor. Also a skill invocation and an artifact round trip.
Prints a table and writes JSON.

    python bench/tool_calls.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from executors import cpu_ns, worker_pid  # noqa: E402

MEASURE = """
import time
samples = []
for _ in range({calls}):
    t0 = time.perf_counter()
    {call}
    samples.append(time.perf_counter() - t0)
samples.sort()
(samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.95)] * 1e6)
"""
CALLS = {
    "python tool call": "tools.noop(x=1)",
    "skill invocation": "skills.inc(x=1)",
    "artifact exists": "artifacts.exists('nothing')",
}


def noop(x: int) -> int:
    """Return x."""
    return x


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "tool_calls.json")
    args = parser.parse_args()
    rows = []
    base = Path(tempfile.mkdtemp(prefix="pcm-tool-bench-"))
    for kind, executor in (
        ("inprocess", InProcessExecutor()),
        ("subprocess", SubprocessExecutor()),
    ):
        session = Session(storage=FileStorage(base / kind), executor=executor)
        session.register_tool(noop)
        async with session:
            await session.run(
                "skills.create('inc', 'def run(x: int) -> int:\\n    return x + 1\\n')"
            )
            for label, call in CALLS.items():
                await session.run(MEASURE.format(calls=20, call=call))  # warm-up
                # CPU time of host and worker over the whole loop, per call: unlike the
                # wall-clock percentiles it hardly depends on what else the machine runs.
                before = cpu_ns(worker_pid(session))
                result = await session.run(MEASURE.format(calls=args.calls, call=call))
                cpu = (cpu_ns(worker_pid(session)) - before) / args.calls / 1e3
                assert result.is_ok, result.error
                p50, p95 = result.value
                rows.append(
                    {"call": label, "executor": kind, "p50_us": p50, "p95_us": p95, "cpu_us": cpu}
                )
    print(f"{'call':<20} {'executor':<11} {'p50 µs':>9} {'p95 µs':>9} {'cpu µs':>9}")
    for r in rows:
        print(
            f"{r['call']:<20} {r['executor']:<11} {r['p50_us']:>9.1f} {r['p95_us']:>9.1f} "
            f"{r['cpu_us']:>9.1f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"calls": args.calls, "rows": rows}, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
