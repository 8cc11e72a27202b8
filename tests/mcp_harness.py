"""Starting the real MCP server as a subprocess (stdio or HTTP) and connecting the real `mcp`
client to it, for the MCP server's tests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

PY = sys.executable
TOKEN = "t0ken-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def texts(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def stdio(base: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=PY, args=["-m", "py_code_mode.cli.mcp_server", "--base", str(base), *extra]
    )


@dataclass
class HTTPServer:
    url: str
    proc: subprocess.Popen[bytes]
    stderr: Path

    def stderr_text(self) -> str:
        return self.stderr.read_text(errors="replace")

    def generated_token(self) -> str:
        found = re.search(r"Authorization: Bearer (\S+)", self.stderr_text())
        assert found, self.stderr_text()
        return found.group(1)


@contextmanager
def http_server(
    base: Path,
    *extra: str,
    token: str | None = TOKEN,
    env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> Iterator[HTTPServer]:
    """``py-code-mode mcp --http`` on a free loopback port, up until the port answers."""
    port = free_port()
    args = [PY, "-m", "py_code_mode", "mcp", "--base", str(base), "--http", "--port", str(port)]
    args += ["--host", host]
    if token is not None:
        args += ["--token", token]
    log = base.parent / f"mcp-http-{port}.stderr"
    base.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*args, *extra],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
    server = HTTPServer(f"http://{host}:{port}/mcp", proc, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex((host, port)) == 0:
                    break
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {server.stderr_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not listen: {server.stderr_text()}")
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def http_client(url: str, token: str | None = TOKEN, **options: Any) -> Client:
    """The SDK client over streamable HTTP, sending the bearer token."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    transport = streamable_http_client(
        url, http_client=httpx2.AsyncClient(headers=headers, timeout=60)
    )
    return Client(transport, **options)


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return "\nState:\tZ" in status


async def wait_until_gone(pid: int, timeout: float = 60) -> None:
    """Wait (without blocking the loop) for process ``pid`` to exit."""
    import anyio

    with anyio.fail_after(timeout):
        while not process_gone(pid):
            await anyio.sleep(0.05)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """``py-code-mode mcp ...`` that is expected to exit by itself."""
    return subprocess.run(
        [PY, "-m", "py_code_mode", "mcp", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
