"""Start a real session server process on 127.0.0.1 for the tests, and stop it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

PY = sys.executable
TOKEN = "t0ken-for-tests-5f1c2a"
ECHO_TOOL = """
name: echo
description: Print text to standard output
command: echo
schema:
  positional:
    - {name: words, type: array, required: true, description: what to print}
"""
DOUBLE = "def run(x: int) -> int:\n    '''Double a number.'''\n    return 2 * x\n"


def base_with_echo_tool(tmp: Path) -> Path:
    """``tmp/base`` with the echo CLI tool in its tools/ folder (what both server suites serve)."""
    tools = tmp / "base" / "tools"
    tools.mkdir(parents=True)
    (tools / "echo.yaml").write_text(ECHO_TOOL)
    return tmp / "base"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    proc: subprocess.Popen[str]
    log: Path
    token: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self, timeout: float = 60.0, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout, **kwargs)  # type: ignore[arg-type]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_healthy(url: str, proc: subprocess.Popen[str], log: Path, deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not become healthy:\n{log.read_text()}")


@contextlib.contextmanager
def serve(
    tmp: Path,
    *args: str,
    token: str | None = TOKEN,
    env: dict[str, str] | None = None,
    argv: list[str] | None = None,
) -> Iterator[RunningServer]:
    """``py-code-mode serve --port P --base tmp/base ARGS`` (or ``argv`` with ``{port}``)."""
    port = free_port()
    log = tmp / f"server-{port}.log"
    full_env = dict(os.environ)
    full_env.pop("CONTAINER_AUTH_TOKEN", None)
    full_env.update(env or {})
    if argv is None:
        argv = [PY, "-m", "py_code_mode", "serve", "--host", "127.0.0.1", "--port", str(port)]
        if "--redis" not in args and "--base" not in args:
            argv += ["--base", str(tmp / "base")]
        if token is not None:
            token_file = tmp / f"token-{port}"
            token_file.write_text(token)
            argv += ["--token-file", str(token_file)]
        argv += list(args)
    else:
        argv = [a.format(port=port) for a in argv]
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=full_env, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield RunningServer(url, proc, log, token)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
