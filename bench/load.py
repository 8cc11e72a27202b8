"""Load: N concurrent agent sessions through the MCP server (HTTP) and the session server.

Each server runs as a subprocess of this script on a free loopback port (its default, subprocess
executor; token auth as in production). For every N of the curve and every server:

1. N clients connect (the ``mcp`` SDK's streamable-HTTP client, one MCP session each; or an
   ``httpx.AsyncClient`` with its own ``X-Session-ID``) and run a first cell, so N Python
   sessions exist (the time this takes is reported as ``setup_s``);
2. for ``--duration`` seconds every client runs one short cell per ``--interval`` (the clients
   staggered across the interval). The cell bumps a session variable and saves an artifact;
   the client checks the value (the session kept its state) and reads the artifact back
   through the server's own API (``load_artifact`` / ``GET /api/artifacts/{name}``);
3. the clients leave (MCP ``DELETE``, ``DELETE /session``) and the server's worker processes
   must exit: ``leaked_workers`` counts the agents' workers (each reports its pid) still
   alive after ``--settle`` seconds, ``tree_processes_left`` what else stayed in the tree.

Reported per N: runs sent/answered/correct, artifacts verified, p50/p99/max latency of a run
and of the read-back, errors by kind, the server process tree's RSS, PSS and USS (from
``/proc/<pid>/smaps_rollup`` over the server and all its descendants), the server tree's CPU,
this load generator's CPU and the whole host's CPU. Latency is what the client sees (request
to parsed answer), so with many sessions it includes the load generator's own queueing.

    python bench/load.py                         # the curve 10,50,100,200, 60 s each, both servers
    python bench/load.py --sessions 10,50 --duration 30 --servers mcp
    python bench/load.py --quick                 # smoke: 3 sessions, 3 s, both servers
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "load.json"
START_TIMEOUT = 120.0
# A client that gets no answer in this long counts the run as lost ("timeout").
REQUEST_TIMEOUT = 120.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cell(run: int, name: str) -> str:
    """The measured cell: bump a session variable, save an artifact, answer the counter."""
    return f"n += 1\nartifacts.save({name!r}, {{'run': {run}, 'n': n}})\nn"


# The first cell also names its worker, so that the benchmark can check it exits with its agent.
WARMUP = "import os as _os\nn = 0\n_os.getpid()"


# --- the server's process tree ---------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def process_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie counts as gone)."""
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime+stime, cutime+cstime) of one process, in clock ticks; (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    # After the ")": state ppid ... utime is field 14 of stat, i.e. index 11 here.
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def memory(root: int) -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) summed over the tree, in MB; and its size."""
    totals = {"rss_mb": 0.0, "pss_mb": 0.0, "uss_mb": 0.0}
    pids = process_tree(root)
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        kb = {
            k: int(v.split()[0])
            for k, v in (line.split(":", 1) for line in text.splitlines()[1:] if ":" in line)
        }
        totals["rss_mb"] += kb.get("Rss", 0) / 1024
        totals["pss_mb"] += kb.get("Pss", 0) / 1024
        totals["uss_mb"] += (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024
    return {**{k: round(v, 1) for k, v in totals.items()}, "processes": len(pids)}


class TreeCPU:
    """CPU seconds the server's tree spends between :meth:`start` and :meth:`stop`: each live
    process's own time since the start (0 at the start for processes born later), plus what
    the server reaped from children that exited (``cutime``)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self._base: dict[int, int] = {}
        self._reaped = 0

    def start(self) -> None:
        self._base = {pid: cpu_ticks(pid)[0] for pid in process_tree(self.root)}
        self._reaped = sum(cpu_ticks(pid)[1] for pid in self._base)

    def stop(self) -> float:
        pids = process_tree(self.root)
        own = sum(cpu_ticks(pid)[0] - self._base.get(pid, 0) for pid in pids)
        reaped = sum(cpu_ticks(pid)[1] for pid in pids) - self._reaped
        return (own + max(0, reaped)) / CLK_TCK


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    kind: str
    url: str
    token: str
    proc: subprocess.Popen[bytes]
    log: Path


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"the server did not start (exit {proc.poll()}):\n{tail}")
        time.sleep(0.1)


@contextlib.contextmanager
def start_server(kind: str, sessions: int, workdir: Path) -> Iterator[Server]:
    """``py-code-mode mcp --http`` or ``py-code-mode serve`` with room for ``sessions``.

    The MCP server generates its token and prints it on stderr (as a user would start it);
    the session server reads one from a file (it refuses to start without auth)."""
    port = free_port()
    base = workdir / f"{kind}-{sessions}"
    base.mkdir(parents=True)
    log = workdir / f"{kind}-{sessions}.log"
    py = [sys.executable, "-m", "py_code_mode"]
    if kind == "mcp":
        args = [*py, "mcp", "--http", "--port", str(port), "--base", str(base),
                "--max-sessions", str(sessions), "--no-sync-deps"]  # fmt: skip
        token = ""
    else:
        token = secrets.token_urlsafe(24)
        (workdir / "token").write_text(token)
        args = [*py, "serve", "--port", str(port), "--base", str(base), "--token-file",
                str(workdir / "token"), "--no-access-log", "--max-sessions", str(sessions)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PY_CODE_MODE_MCP_TOKEN"}
    with log.open("wb") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        _wait_listening(proc, port, log)
        if kind == "mcp":
            found = re.search(r"Authorization: Bearer (\S+)", log.read_text(errors="replace"))
            if not found:
                raise SystemExit(
                    f"no generated token on the MCP server's stderr:\n{log.read_text()}"
                )
            token = found.group(1)
            url = f"http://127.0.0.1:{port}/mcp"
        else:
            url = f"http://127.0.0.1:{port}"
        yield Server(kind, url, token, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


# --- clients ---------------------------------------------------------------------------------


class Failure(Exception):
    """A run or a read-back that came back wrong; ``kind`` is how it is counted."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class AgentClient(Protocol):
    def session(self) -> contextlib.AbstractAsyncContextManager[Any]: ...
    async def run(self, code: str) -> Any: ...
    async def read_artifact(self, name: str) -> Any: ...


def _first_line(text: str) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return re.sub(r"\d+", "N", line)[:80]


class MCPAgent:
    """One agent on the ``mcp`` SDK's streamable-HTTP client (its own MCP session)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.client: Any = None

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {self.token}"}, timeout=REQUEST_TIMEOUT
        )
        async with http, Client(streamable_http_client(self.url, http_client=http)) as client:
            self.client = client
            yield

    async def _call(self, tool: str, arguments: dict[str, Any]) -> str:
        result = await self.client.call_tool(tool, arguments)
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        if result.is_error:
            raise Failure(f"isError: {_first_line(text)}")
        return text

    async def run(self, code: str) -> Any:
        text = await self._call("run_code", {"code": code})
        try:
            return json.loads(text)
        except ValueError:
            raise Failure(f"unexpected answer: {_first_line(text)}") from None

    async def read_artifact(self, name: str) -> Any:
        return json.loads(await self._call("load_artifact", {"name": name}))


class ServerAgent:
    """One agent on ``httpx.AsyncClient`` with its own ``X-Session-ID``."""

    def __init__(self, url: str, token: str, session_id: str) -> None:
        self.url, self.token, self.sid = url, token, session_id
        self.client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        headers = {"Authorization": f"Bearer {self.token}", "X-Session-ID": self.sid}
        async with httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=REQUEST_TIMEOUT
        ) as client:
            self.client = client
            try:
                yield
            finally:
                with contextlib.suppress(httpx.HTTPError):
                    await client.delete("/session")

    @staticmethod
    def _check(response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise Failure(f"HTTP {response.status_code}")
        return response.json()

    async def run(self, code: str) -> Any:
        assert self.client is not None
        body = self._check(await self.client.post("/execute", json={"code": code}))
        if body.get("error"):
            raise Failure(f"error: {_first_line(str(body['error']))}")
        return body.get("value")

    async def read_artifact(self, name: str) -> Any:
        assert self.client is not None
        return self._check(await self.client.get(f"/api/artifacts/{name}"))


# --- one point of the curve ------------------------------------------------------------------


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0  # an answer came back (right or wrong)
    correct: int = 0  # the answer showed the session's state intact
    artifacts_verified: int = 0  # read back through the server's API with this run's content
    late: int = 0  # sent more than half an interval after its slot (the client fell behind)
    run_s: list[float] = field(default_factory=list)
    read_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    worker_pids: list[int] = field(default_factory=list)
    setup_errors: Counter[str] = field(default_factory=Counter)


def _kind(exc: BaseException) -> str:
    if isinstance(exc, Failure):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


async def agent(
    client: AgentClient,
    index: int,
    tally: Tally,
    ready: asyncio.Queue[bool],
    go: asyncio.Event,
    plan: dict[str, float],
) -> None:
    """One agent: connect and warm up, wait for ``go``, run on schedule until the end."""
    name = f"load-{index}"
    announced = False
    try:
        async with client.session():
            try:
                pid = await asyncio.wait_for(client.run(WARMUP), REQUEST_TIMEOUT)
                if isinstance(pid, int):
                    tally.worker_pids.append(pid)
            except Exception as exc:
                tally.setup_errors[_kind(exc)] += 1
                return
            announced = True
            ready.put_nowait(True)
            await go.wait()
            slot = plan["start"] + plan["interval"] * index / plan["sessions"]
            run = 0
            while slot < plan["end"]:
                await asyncio.sleep(max(0.0, slot - time.monotonic()))
                if time.monotonic() - slot > plan["interval"] / 2:
                    tally.late += 1
                tally.sent += 1
                t0 = time.perf_counter()
                try:
                    value = await asyncio.wait_for(client.run(cell(run, name)), REQUEST_TIMEOUT)
                    tally.answered += 1
                    tally.run_s.append(time.perf_counter() - t0)
                    if value != run + 1:
                        raise Failure("state lost (wrong counter)")
                    tally.correct += 1
                    t1 = time.perf_counter()
                    data = await asyncio.wait_for(client.read_artifact(name), REQUEST_TIMEOUT)
                    tally.read_s.append(time.perf_counter() - t1)
                    if data != {"run": run, "n": run + 1}:
                        raise Failure("artifact mismatch")
                    tally.artifacts_verified += 1
                except Exception as exc:
                    tally.errors[_kind(exc)] += 1
                run += 1
                slot = max(slot + plan["interval"], time.monotonic())
    except Exception as exc:  # connecting or leaving failed
        tally.setup_errors[f"session: {_kind(exc)}"] += 1
    finally:
        if not announced:
            ready.put_nowait(False)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


async def measure(server: Server, sessions: int, duration: float, interval: float,
                  settle: float) -> dict[str, Any]:  # fmt: skip
    root = server.proc.pid
    idle = memory(root)
    tally = Tally()
    ready: asyncio.Queue[bool] = asyncio.Queue()
    go = asyncio.Event()
    plan = {"interval": interval, "sessions": float(sessions), "start": 0.0, "end": 0.0}
    clients: list[AgentClient] = [
        MCPAgent(server.url, server.token)
        if server.kind == "mcp"
        else ServerAgent(server.url, server.token, f"load-{i}")
        for i in range(sessions)
    ]
    t_setup = time.monotonic()
    tasks = [
        asyncio.create_task(agent(c, i, tally, ready, go, plan)) for i, c in enumerate(clients)
    ]
    up = 0
    for _ in range(sessions):
        up += await ready.get()
    setup_s = time.monotonic() - t_setup
    loaded = memory(root)
    cpu = TreeCPU(root)
    cpu.start()
    host0, self0 = host_cpu(), resource.getrusage(resource.RUSAGE_SELF)
    plan["start"] = time.monotonic() + 0.2
    plan["end"] = plan["start"] + duration
    go.set()
    peak = dict(loaded)
    while time.monotonic() < plan["end"]:  # sample memory a few times while under load
        await asyncio.sleep(min(10.0, max(0.5, duration / 6)))
        now = await asyncio.to_thread(memory, root)
        peak = {k: max(peak[k], now[k]) for k in peak}
    await asyncio.gather(*tasks)  # the clients leave (DELETE) as they finish
    wall = time.monotonic() - plan["start"]
    server_cpu = cpu.stop()
    host1, self1 = host_cpu(), resource.getrusage(resource.RUSAGE_SELF)
    load_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    # Sessions must not outlive their clients: each agent's worker must exit; then the tree
    # should shrink back (a host-wide helper, such as a worker template, may stay).
    deadline = time.monotonic() + settle
    while (alive := [p for p in tally.worker_pids if not process_gone(p)]) and (
        time.monotonic() < deadline
    ):
        await asyncio.sleep(0.5)
    shrink_by = min(deadline, time.monotonic() + 5)
    while (left := memory(root)["processes"] - idle["processes"]) > 0:
        if time.monotonic() > shrink_by:
            break
        await asyncio.sleep(0.5)
    return {
        "server": server.kind,
        "sessions": sessions,
        "sessions_up": up,
        "setup_s": round(setup_s, 1),
        "duration_s": round(wall, 1),
        "runs_expected": int(sessions * (duration // interval)),
        "runs_sent": tally.sent,
        "runs_answered": tally.answered,
        "runs_correct": tally.correct,
        "artifacts_verified": tally.artifacts_verified,
        "late_sends": tally.late,
        "run_p50_ms": _pct(tally.run_s, 0.5),
        "run_p99_ms": _pct(tally.run_s, 0.99),
        "run_max_ms": _pct(tally.run_s, 1.0),
        "read_p50_ms": _pct(tally.read_s, 0.5),
        "read_p99_ms": _pct(tally.read_s, 0.99),
        "errors": dict(tally.errors),
        "setup_errors": dict(tally.setup_errors),
        "memory_idle_server": idle,
        "memory_loaded": peak,
        "uss_per_session_mb": round((peak["uss_mb"] - idle["uss_mb"]) / max(1, up), 1),
        "server_cpu_pct": round(100 * server_cpu / wall, 1),
        # The server tree's CPU per answered run (its read-back included): what a run costs
        # the host whatever share of the CPU the server got on a shared machine.
        "server_cpu_ms_per_run": round(1000 * server_cpu / max(1, tally.answered), 1),
        "loadgen_cpu_pct": round(100 * load_cpu / wall, 1),
        "host_cpu_pct": round(
            100 * (host1[0] - host0[0]) / max(1, host1[1] - host0[1]), 1
        ),  # of all cores
        "leaked_workers": len(alive),
        "tree_processes_left": max(0, left),
        "nothing_lost": tally.sent == tally.answered == tally.correct == tally.artifacts_verified
        and up == sessions
        and not tally.errors,
    }


# --- report ----------------------------------------------------------------------------------

COLUMNS = [
    ("server", "server", "{}"),
    ("N", "sessions", "{}"),
    ("setup s", "setup_s", "{}"),
    ("sent", "runs_sent", "{}"),
    ("answered", "runs_answered", "{}"),
    ("artifacts ok", "artifacts_verified", "{}"),
    ("p50 ms", "run_p50_ms", "{}"),
    ("p99 ms", "run_p99_ms", "{}"),
    ("read p50 ms", "read_p50_ms", "{}"),
    ("RSS MB", None, "{}"),
    ("PSS MB", None, "{}"),
    ("USS MB", None, "{}"),
    ("USS/session", "uss_per_session_mb", "{}"),
    ("srv CPU %", "server_cpu_pct", "{}"),
    ("srv CPU ms/run", "server_cpu_ms_per_run", "{}"),
    ("gen CPU %", "loadgen_cpu_pct", "{}"),
    ("host CPU %", "host_cpu_pct", "{}"),
    ("leaked", "leaked_workers", "{}"),
    ("errors", None, "{}"),
]


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |"]
    lines.append("|" + "---|" * len(COLUMNS))
    for r in rows:
        mem = r["memory_loaded"]
        errors = {**r["errors"], **{f"setup {k}": v for k, v in r["setup_errors"].items()}}
        cells = []
        for header, key, fmt in COLUMNS:
            if key is not None:
                cells.append(fmt.format(r[key]))
            elif header == "errors":
                cells.append(", ".join(f"{k}: {v}" for k, v in errors.items()) or "none")
            else:
                cells.append(str(mem[header.split()[0].lower() + "_mb"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


def raise_fd_limit() -> int:
    """Each session holds sockets here and pipes in the server: lift the soft limit to the hard
    one (the servers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="pcm-load-") as tmp:
        for n in args.sessions:
            for kind in args.servers:
                with start_server(kind, n, Path(tmp)) as server:
                    row = await measure(server, n, args.duration, args.interval, args.settle)
                rows.append(row)
                print(table([row]).splitlines()[-1], file=sys.stderr, flush=True)
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="10,50,100,200", help="the curve (comma list)")
    parser.add_argument("--servers", default="mcp,server", help="mcp, server or both")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per point")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between a client's runs"
    )
    parser.add_argument("--settle", type=float, default=60.0,
                        help="seconds the workers get to exit after their clients left")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 sessions for 3 s")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    if args.quick:
        args.sessions, args.duration = "3", 3.0
    args.sessions = [int(n) for n in str(args.sessions).split(",")]
    args.servers = [s.strip() for s in args.servers.split(",")]
    unknown = set(args.servers) - {"mcp", "server"}
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    fds = raise_fd_limit()
    report: dict[str, Any] = {
        "machine": machine(),
        "method": {
            "duration_s": args.duration,
            "interval_s": args.interval,
            "cell": cell(0, "load-K"),
            "fd_limit": fds,
            "executor": "subprocess (the servers' default)",
        },
    }
    print(f"{len(args.sessions) * len(args.servers)} points; table rows as they finish:",
          file=sys.stderr)  # fmt: skip
    report |= asyncio.run(main_async(args))
    print(table(report["rows"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}", file=sys.stderr)
    return 0 if all(r["nothing_lost"] and not r["leaked_workers"] for r in report["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
