"""Executor overhead, measured side by side in one run (machines are shared and noisy).

Engines: a bare ``exec`` in a dict (the in-process floor), a minimal persistent pipe worker
(``_pipe_worker.py``, the subprocess floor), InProcessExecutor and SubprocessExecutor. Engine and
floor runs alternate, and host and workers are pinned to one CPU, so that both see the same
machine. Prints a table and writes JSON (``--json PATH``, default bench/results/executors.json).

    python bench/executors.py [--iterations N] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor

HERE = Path(__file__).resolve().parent
HEADER = struct.Struct(">I")
CPU_LOOP = "t = 0\nfor i in range({n}):\n    t += i * i\nt"
WORKLOADS = {
    "trivial statement": "x = 1",
    "100 printed lines": "for i in range(100):\n    print('line', i)",
}


class PipeWorker:
    """The minimal persistent pipe worker: frames in, exec, repr out. Nothing else."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_pipe_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def run(self, code: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        data = code.encode()
        self.proc.stdin.write(HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()
        (size,) = HEADER.unpack(self.proc.stdout.read(HEADER.size))
        return self.proc.stdout.read(size).decode()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def cpu_ns(*pids: int | None) -> int:
    """Time on a CPU (ns) so far of this process and of every thread of the other processes
    (Linux ``schedstat``: exact for a process that is not running when read, as a worker
    between runs). Unlike wall-clock time it hardly depends on what else the machine runs."""
    total = time.process_time_ns()
    for pid in pids:
        if pid is None or pid == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with (
                    contextlib.suppress(OSError, ValueError, IndexError),
                    open(f"/proc/{pid}/task/{task}/schedstat") as f,
                ):
                    total += int(f.read().split()[0])
    return total


def worker_pid(session: Session) -> int | None:
    worker = getattr(session._executor, "_worker", None)  # the bench may look inside
    return worker.pid if worker is not None else None


def bare_exec(code: str, namespace: dict[str, Any]) -> None:
    """The in-process floor: exec in a dict, with stdout captured as any engine must."""
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, namespace)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_us": statistics.median(samples) * 1e6,
        "p95_us": pct(samples, 0.95) * 1e6,
        "n": len(samples),
    }


async def measure_pair(
    code: str,
    iterations: int,
    engine: Any,
    floor: Any,
    engine_pids: Any = lambda: (),
    floor_pids: Any = lambda: (),
    block: int = 10,
) -> tuple[list[float], list[float], float, float]:
    """Alternate ``block`` engine runs and ``block`` floor runs until each ran ``iterations``
    times. Returns the wall-clock time of every run, and the CPU time per run (µs; host
    process plus worker process, read once per block so that reading it costs little)."""
    engine_t: list[float] = []
    floor_t: list[float] = []
    engine_cpu = floor_cpu = 0
    for _ in range(max(3, iterations // 10)):  # warm-up
        await engine(code)
        floor(code)
    block = max(1, min(block, iterations))
    rounds = max(1, iterations // block)
    for _ in range(rounds):
        c0 = cpu_ns(*engine_pids())
        for _ in range(block):
            t0 = time.perf_counter()
            result = await engine(code)
            engine_t.append(time.perf_counter() - t0)
            if result.error:
                raise RuntimeError(f"benchmark code failed: {result.error}")
        c1 = cpu_ns(*engine_pids())
        c2 = cpu_ns(*floor_pids())
        for _ in range(block):
            t0 = time.perf_counter()
            floor(code)
            floor_t.append(time.perf_counter() - t0)
        c3 = cpu_ns(*floor_pids())
        engine_cpu += c1 - c0
        floor_cpu += c3 - c2
    runs = rounds * block
    return engine_t, floor_t, engine_cpu / runs / 1e3, floor_cpu / runs / 1e3


async def first_result(kind: str, base: Path) -> float:
    start = time.perf_counter()
    executor = InProcessExecutor() if kind == "inprocess" else SubprocessExecutor()
    async with Session(storage=FileStorage(base), executor=executor) as session:
        result = await session.run("1 + 1")
        elapsed = time.perf_counter() - start
        assert result.value == 2
    return elapsed


def bare_interpreter_start(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "print(2)"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def timeout_return(session: Session, timeout: float) -> tuple[float, bool]:
    t0 = time.perf_counter()
    result = await session.run("while True:\n    pass", timeout=timeout)
    elapsed = time.perf_counter() - t0
    assert result.error and "timed out" in result.error
    after = await session.run("1 + 1")
    return elapsed - timeout, after.value == 2


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--cpu-iterations", type=int, default=20)
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--quick", action="store_true", help="no timeout and start-up rows")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "executors.json")
    args = parser.parse_args()

    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    # Size the CPU-bound loop to ~50 ms on this machine.
    n = 100_000
    while True:
        t0 = time.perf_counter()
        exec(CPU_LOOP.format(n=n), {})
        if time.perf_counter() - t0 > 0.05:
            break
        n *= 2
    cpu_code = CPU_LOOP.format(n=int(n * 0.05 / (time.perf_counter() - t0)))

    rows: list[dict[str, Any]] = []
    base = Path(tempfile.mkdtemp(prefix="pcm-bench-"))
    pipe = PipeWorker()
    namespace: dict[str, Any] = {}
    try:
        async with (
            Session(storage=FileStorage(base / "ip"), executor=InProcessExecutor()) as ip,
            Session(storage=FileStorage(base / "sp"), executor=SubprocessExecutor()) as sp,
        ):
            engines = {
                "inprocess": (ip, lambda c: bare_exec(c, namespace), "bare exec"),
                "subprocess": (sp, pipe.run, "pipe worker"),
            }
            pids = {
                "inprocess": (lambda: (), lambda: ()),
                "subprocess": (lambda: (worker_pid(sp),), lambda: (pipe.proc.pid,)),
            }
            for workload, code in [*WORKLOADS.items(), ("50 ms CPU loop", cpu_code)]:
                iterations = (
                    args.cpu_iterations if workload.startswith("50 ms") else args.iterations
                )
                for name, (session, floor, floor_name) in engines.items():
                    engine_t, floor_t, e_cpu, f_cpu = await measure_pair(
                        code, iterations, session.run, floor, *pids[name]
                    )
                    e, f = summary(engine_t), summary(floor_t)
                    rows.append(
                        {
                            "workload": workload,
                            "engine": name,
                            "floor": floor_name,
                            "engine_p50_us": e["p50_us"],
                            "engine_p95_us": e["p95_us"],
                            "floor_p50_us": f["p50_us"],
                            "floor_p95_us": f["p95_us"],
                            "ratio_p50": e["p50_us"] / f["p50_us"],
                            "engine_cpu_us": e_cpu,
                            "floor_cpu_us": f_cpu,
                            "ratio_cpu": e_cpu / f_cpu if f_cpu else None,
                            "n": e["n"],
                        }
                    )
            timeouts = {}
            for name, (session, _, _) in engines.items() if not args.quick else ():
                overshoot, usable = await timeout_return(session, 1.0)
                timeouts[name] = {"overshoot_ms": overshoot * 1000, "usable_after": usable}
    finally:
        pipe.close()

    starts = (
        {}
        if args.quick
        else {
            "bare interpreter": bare_interpreter_start(),
            "inprocess": statistics.median(
                [await first_result("inprocess", base / "f") for _ in range(3)]
            ),
            "subprocess": statistics.median(
                [await first_result("subprocess", base / "f") for _ in range(3)]
            ),
        }
    )

    print(
        f"{'workload':<20} {'engine':<11} {'p50 µs':>9} {'p95 µs':>9} {'floor':<12} "
        f"{'floor p50':>9} {'ratio':>6} {'cpu µs':>9} {'floor cpu':>9} {'ratio':>6}"
    )
    for r in rows:
        print(
            f"{r['workload']:<20} {r['engine']:<11} {r['engine_p50_us']:>9.1f} {r['engine_p95_us']:>9.1f} "
            f"{r['floor']:<12} {r['floor_p50_us']:>9.1f} {r['ratio_p50']:>6.2f} "
            f"{r['engine_cpu_us']:>9.1f} {r['floor_cpu_us']:>9.1f} {r['ratio_cpu'] or 0:>6.2f}"
        )
    print()
    for name, t in timeouts.items():
        print(
            f"timeout 1 s, {name:<11}: returned {t['overshoot_ms']:.1f} ms after the deadline; "
            f"next run works: {t['usable_after']}"
        )
    print()
    bare = starts.get("bare interpreter", 1.0)
    for name, seconds in starts.items():
        print(
            f"first result, {name:<16}: {seconds * 1000:7.1f} ms  ({seconds / bare:.2f}x bare interpreter)"
        )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "pinned": not args.no_pin,
                "rows": rows,
                "timeouts": timeouts,
                "first_result_s": starts,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
