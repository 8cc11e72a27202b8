"""Density: memory per idle session and how fast a fresh worker is ready, old path vs new.

Paths: ``spawn`` (a worker spawned per session plus a warm spare, the path before the template
and still the one off Linux and in the sandbox), ``spawn, no spare`` and ``fork`` (workers forked
from the host's pre-imported template). For N idle sessions (1, 10, 50, 100 by default):

* private memory per session: USS (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup) of
  the session's processes (worker, spare), with the template counted once and divided by N;
  PSS of all of them per session as a second view (shared pages split among their users);
* fresh-worker latency, p50/p95: ``reset()`` then a trivial run; a trivial run right after the
  worker was killed (the host has seen it die, so the run starts a fresh worker); and a new
  worker alone (``_spawn``, start to ready frame).

The host and its workers are pinned to one CPU (``--no-pin`` to skip). Prints a table and
writes JSON (``--json PATH``, default bench/results/density.json).

    python bench/density.py [--sessions 1,10,50,100] [--repeats 50] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from py_code_mode import FileStorage, Session, SubprocessConfig, SubprocessExecutor
from py_code_mode.execution import forking

HERE = Path(__file__).resolve().parent
PATHS: dict[str, dict[str, Any]] = {
    "spawn": {"fork_template": False, "warm_spare": True},
    "spawn, no spare": {"fork_template": False, "warm_spare": False},
    "fork": {"fork_template": True},
}


def rollup_kib(pid: int) -> dict[str, int]:
    """USS and PSS of one process, in KiB (0 when it is gone)."""
    fields = {"Pss": 0, "Private_Clean": 0, "Private_Dirty": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in fields:
                fields[name] = int(rest.split()[0])
    except OSError:
        pass
    return {"uss": fields["Private_Clean"] + fields["Private_Dirty"], "pss": fields["Pss"]}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(samples) * 1e3, "p95_ms": pct(samples, 0.95) * 1e3}


async def settle(executor: SubprocessExecutor) -> None:
    """Wait for the warm spare (if any) to be ready: it is part of an idle session."""
    spare = executor._spare
    if spare is not None:
        await asyncio.wait({spare}, timeout=60)


def session_pids(executor: SubprocessExecutor) -> list[int]:
    pids = []
    if executor._worker is not None:
        pids.append(executor._worker.pid)
    spare = executor._spare
    if spare is not None and spare.done() and spare.exception() is None:
        pids.append(spare.result().pid)
    return pids


async def memory(config: dict[str, Any], count: int, root: Path) -> dict[str, float]:
    sessions = [
        Session(
            storage=FileStorage(root / f"s{i}"),
            executor=SubprocessExecutor(SubprocessConfig(**config)),
        )
        for i in range(count)
    ]
    try:
        for session in sessions:
            await session.start()
            result = await session.run("x = 1")
            assert result.error is None, result.error
        for session in sessions:
            await settle(session.executor)  # type: ignore[arg-type]
        await asyncio.sleep(0.5)  # the last spare finishes importing
        uss = pss = processes = 0
        for session in sessions:
            for pid in session_pids(session.executor):  # type: ignore[arg-type]
                usage = rollup_kib(pid)
                uss, pss, processes = uss + usage["uss"], pss + usage["pss"], processes + 1
        templates = (
            [t for t in forking.POOL.templates() if t.alive] if config.get("fork_template") else []
        )
        template_uss = sum(rollup_kib(t.pid)["uss"] for t in templates)
        template_pss = sum(rollup_kib(t.pid)["pss"] for t in templates)
        return {
            "sessions": count,
            "uss_per_session_mib": (uss + template_uss) / count / 1024,
            "pss_per_session_mib": (pss + template_pss) / count / 1024,
            "worker_uss_mib": uss / max(1, processes) / 1024,
            "template_uss_mib": template_uss / 1024,
            "processes_per_session": processes / count,
        }
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
        forking.POOL.close()  # the next row starts its own template


async def latency(config: dict[str, Any], repeats: int, root: Path) -> dict[str, Any]:
    executor = SubprocessExecutor(SubprocessConfig(**config))
    resets: list[float] = []
    kills: list[float] = []
    spawns: list[float] = []
    async with Session(storage=FileStorage(root / "latency"), executor=executor) as session:
        await session.run("x = 1")
        for _ in range(repeats):
            await settle(executor)
            started = time.perf_counter()
            await session.reset()
            await session.run("x = 1")
            resets.append(time.perf_counter() - started)

            await settle(executor)
            worker = executor._worker
            assert worker is not None
            os.kill(worker.pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while worker.alive and time.monotonic() < deadline:
                await asyncio.sleep(0.001)  # the host has seen it die before the clock starts
            started = time.perf_counter()
            result = await session.run("x = 1")
            kills.append(time.perf_counter() - started)
            assert result.error is None, result.error

            await settle(executor)
            started = time.perf_counter()
            fresh = await executor._spawn()
            spawns.append(time.perf_counter() - started)
            await fresh.kill()
    forking.POOL.close()
    return {"reset_then_run": ms(resets), "run_after_kill": ms(kills), "new_worker": ms(spawns)}


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", default="1,10,50,100")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "density.json")
    args = parser.parse_args()
    if not forking.supported():
        print("the fork template needs Linux with pidfds", file=sys.stderr)
        return 1
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})  # workers inherit it
    counts = [int(n) for n in args.sessions.split(",")]
    report: dict[str, Any] = {"memory": {}, "latency": {}, "pinned": not args.no_pin}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, config in PATHS.items():
            report["memory"][name] = [await memory(config, n, root / name) for n in counts]
            report["latency"][name] = await latency(config, args.repeats, root / name)
    print("Memory per idle session (USS of its processes, template amortised; PSS as well)")
    print(f"{'path':<16} {'N':>4} {'USS MiB':>8} {'PSS MiB':>8} {'procs':>6} {'template USS':>13}")
    for name, rows in report["memory"].items():
        for row in rows:
            print(f"{name:<16} {row['sessions']:>4} {row['uss_per_session_mib']:>8.2f} "
                  f"{row['pss_per_session_mib']:>8.2f} {row['processes_per_session']:>6.1f} "
                  f"{row['template_uss_mib']:>10.2f} MiB")  # fmt: skip
    print(f"\nFresh worker latency, ms (p50 / p95 of {args.repeats})")
    print(f"{'path':<16} {'reset()+run':>14} {'run after kill':>15} {'new worker':>13}")
    for name, row in report["latency"].items():
        cells = [f"{row[k]['p50_ms']:.2f} / {row[k]['p95_ms']:.2f}"
                 for k in ("reset_then_run", "run_after_kill", "new_worker")]  # fmt: skip
        print(f"{name:<16} {cells[0]:>14} {cells[1]:>15} {cells[2]:>13}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
