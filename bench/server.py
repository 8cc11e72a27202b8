"""The session server against a local session, side by side in one run.

* ``/execute`` round trip p50 of a trivial cell over loopback HTTP (httpx with keep-alive, and
  the stdlib's http.client) against the local subprocess executor's ``run`` p50, interleaved;
* requests per second with 20 concurrent sessions (20 keep-alive connections, one session
  each, from a minimal asyncio HTTP client so the load generator is not the limit);
* memory per idle session: PSS of the server's process tree before and after opening idle
  sessions, with the spare worker (the default) and with ``--no-warm-spare``.

    python bench/server.py [--iterations 2000] [--seconds 10] [--sessions 20] [--json FILE]

Numbers are measured side by side in one run; the machine is shared, so read the gaps.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from py_code_mode import FileStorage, Session, SubprocessExecutor

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
CELL = json.dumps({"code": "x = 1"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(*extra: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    base = tempfile.mkdtemp(prefix="pcm-bench-server-")
    token_file = Path(base) / "token"
    token_file.write_text(TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "py_code_mode", "serve", "--port", str(port), "--base", base,
         "--token-file", str(token_file), "--no-access-log", "--max-sessions", "200", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.1)
    try:
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def round_trips(url: str, iterations: int) -> dict[str, float]:
    """Interleaved, the same cell: a local run, then ``/execute`` with httpx (what the Python
    clients use), with the stdlib's http.client, and with a minimal asyncio client."""
    times: dict[str, list[float]] = {"local": [], "httpx": [], "stdlib": [], "raw": []}
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    raw = await RawClient.connect(url)
    body = CELL.encode()
    headers = {name: {**HEADERS, "X-Session-ID": f"bench-{name}"} for name in times}
    with tempfile.TemporaryDirectory() as tmp, httpx.Client(base_url=url, timeout=30) as client:
        async with Session(storage=FileStorage(tmp), executor=SubprocessExecutor()) as session:

            async def once(record: bool) -> None:
                t0 = time.perf_counter()
                await session.run("x = 1")
                t1 = time.perf_counter()
                client.post("/execute", content=body, headers=headers["httpx"])
                t2 = time.perf_counter()
                conn.request("POST", "/execute", body=body, headers=headers["stdlib"])
                conn.getresponse().read()
                t3 = time.perf_counter()
                await raw.post("/execute", body, headers["raw"])
                t4 = time.perf_counter()
                if record:
                    for name, spent in zip(
                        times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True
                    ):
                        times[name].append(spent)

            for _ in range(50):  # warm every path (sessions started, connections open)
                await once(False)
            for _ in range(iterations):
                await once(True)
    conn.close()
    raw.close()
    p50 = {name: statistics.median(v) * 1e6 for name, v in times.items()}
    return {
        "local_run_p50_us": p50["local"],
        "http_httpx_p50_us": p50["httpx"],
        "http_stdlib_p50_us": p50["stdlib"],
        "http_raw_p50_us": p50["raw"],
        "overhead_httpx_us": p50["httpx"] - p50["local"],
        "overhead_stdlib_us": p50["stdlib"] - p50["local"],
        "overhead_raw_us": p50["raw"] - p50["local"],
    }


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, so that the load generator is
    not what limits the requests per second (httpx's async client costs ~3 ms of CPU per
    request on this machine, more than the server)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, url: str) -> RawClient:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def throughput(url: str, sessions: int, seconds: float) -> dict[str, float]:
    """``sessions`` clients, each with its own connection and session, sending trivial cells
    back to back for ``seconds``."""
    latencies: list[float] = []
    body = CELL.encode()

    async def one(n: int, until: float | None) -> None:
        client = await RawClient.connect(url)
        headers = {**HEADERS, "X-Session-ID": f"bench-rps-{n}"}
        try:
            for _ in range(5):  # start the session and warm the connection
                await client.post("/execute", body, headers)
            while until is not None and time.perf_counter() < until:
                t0 = time.perf_counter()
                status, _ = await client.post("/execute", body, headers)
                if status != 200:
                    raise SystemExit(f"/execute answered {status}")
                latencies.append(time.perf_counter() - t0)
        finally:
            client.close()

    await asyncio.gather(*(one(n, None) for n in range(sessions)))
    start = time.perf_counter()
    await asyncio.gather(*(one(n, start + seconds) for n in range(sessions)))
    elapsed = time.perf_counter() - start
    return {
        "sessions": sessions,
        "requests_per_s": len(latencies) / elapsed,
        "latency_p50_ms": statistics.median(latencies) * 1000,
        "latency_p95_ms": pct(latencies, 0.95) * 1000,
    }


def tree_pss_kib(pid: int) -> tuple[int, int]:
    """(PSS in KiB, process count) of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, count, todo = 0, 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    count += 1
        except OSError:
            continue
    return total, count


def idle_memory(url: str, pid: int, sessions: int, settle: float) -> dict[str, float]:
    with httpx.Client(base_url=url, timeout=60, headers=HEADERS) as client:
        client.post("/execute", content=CELL, headers={"X-Session-ID": "bench-mem-0"})
        time.sleep(settle)  # spare workers start in the background
        before, procs_before = tree_pss_kib(pid)
        for n in range(1, sessions + 1):
            client.post("/execute", content=CELL, headers={"X-Session-ID": f"bench-mem-{n}"})
        time.sleep(settle)
        after, procs_after = tree_pss_kib(pid)
    return {
        "sessions": sessions,
        "pss_per_session_mib": (after - before) / sessions / 1024,
        "processes_per_session": (procs_after - procs_before) / sessions,
        "server_pss_mib": before / 1024,
    }


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds for spares to start")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "server.json")
    args = parser.parse_args()
    report: dict[str, object] = {}
    with server() as (url, pid):
        report["round_trip"] = await round_trips(url, args.iterations)
        report["throughput"] = await throughput(url, args.sessions, args.seconds)
    with server() as (url, pid):
        report["idle_memory"] = idle_memory(url, pid, args.sessions, args.settle)
    with server("--no-warm-spare") as (url, pid):
        report["idle_memory_no_spare"] = idle_memory(url, pid, args.sessions, args.settle)
    rt, tp = report["round_trip"], report["throughput"]
    assert isinstance(rt, dict) and isinstance(tp, dict)
    print(f"trivial cell p50: local subprocess run {rt['local_run_p50_us']:.0f} µs; /execute over "
          f"loopback {rt['http_raw_p50_us']:.0f} µs (+{rt['overhead_raw_us']:.0f}) with a minimal "
          f"client, {rt['http_stdlib_p50_us']:.0f} µs (+{rt['overhead_stdlib_us']:.0f}) with "
          f"http.client, {rt['http_httpx_p50_us']:.0f} µs (+{rt['overhead_httpx_us']:.0f}) with httpx")  # fmt: skip
    print(f"{tp['sessions']} concurrent sessions: {tp['requests_per_s']:.0f} requests/s "
          f"(latency p50 {tp['latency_p50_ms']:.1f} ms, p95 {tp['latency_p95_ms']:.1f} ms)")  # fmt: skip
    for key, label in (("idle_memory", "warm spare"), ("idle_memory_no_spare", "no spare")):
        m = report[key]
        assert isinstance(m, dict)
        print(f"idle session ({label}): {m['pss_per_session_mib']:.1f} MiB PSS, "
              f"{m['processes_per_session']:.1f} processes (server alone {m['server_pss_mib']:.0f} MiB)")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
