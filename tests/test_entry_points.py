"""Every entry point gives exactly the executor that was asked for, on every storage.

Each CLI entry (``run``, ``repl``, the MCP server) × executor × storage runs code that reports
where it runs (pid, parent pid, uid, pid namespace); the test checks it against the executor's
promise. Before the one session factory, ``run --executor sandbox --redis`` and ``repl
--executor sandbox`` ran the code in the host process as the host user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from conftest import require

PY = sys.executable
REPORT = (
    "import json, os; print(json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), "
    "'uid': os.getuid(), 'pidns': os.readlink('/proc/self/ns/pid')}))"
)
EXECUTORS = ["inprocess", "subprocess", "sandbox"]
BANNER_NAMES = {
    "inprocess": "InProcessExecutor",
    "subprocess": "SubprocessExecutor",
    "sandbox": "SandboxExecutor",
}


def storage_flags(storage: str, request: pytest.FixtureRequest, base: Path) -> list[str]:
    flags = ["--base", str(base)]
    if storage == "redis":
        flags += [
            "--redis",
            request.getfixturevalue("redis_url"),
            "--prefix",
            f"entry{os.getpid()}",
        ]
    return flags


def parse(text: str) -> dict[str, Any]:
    for line in text.splitlines():
        start = line.find('{"pid"')
        if start >= 0:
            return json.loads(line[start:])
    raise AssertionError(f"no report in output:\n{text}")


def check(where: dict[str, Any], executor: str) -> None:
    """The code ran where ``executor`` promises. The entry process is this test's child."""
    host_pidns = os.readlink("/proc/self/ns/pid")
    if executor == "inprocess":
        assert where["ppid"] == os.getpid(), where  # in the entry process itself
    elif executor == "subprocess":
        assert where["ppid"] != os.getpid() and where["pidns"] == host_pidns, where
        assert where["uid"] == os.getuid(), where
    else:
        assert where["pidns"] != host_pidns, where  # bubblewrap's own pid namespace
        if os.getuid() == 0:
            assert where["uid"] != 0, where  # never root inside the sandbox


def entry_run(flags: list[str], executor: str) -> str:
    proc = subprocess.run(
        [PY, "-m", "py_code_mode", "run", "-c", REPORT, "--executor", executor, *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def entry_repl(flags: list[str], executor: str) -> str:
    proc = subprocess.run(
        [PY, "-m", "py_code_mode", "repl", "--executor", executor, *flags],
        input=REPORT + "\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "PY_CODE_MODE_HISTORY": os.devnull},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        f"({ {'inprocess': 'InProcess', 'subprocess': 'Subprocess', 'sandbox': 'Sandbox'}[executor] }Executor)"
        in proc.stdout
    )
    return proc.stdout


def entry_mcp(flags: list[str], executor: str) -> str:
    import anyio

    async def go() -> str:
        params = StdioServerParameters(
            command=PY, args=["-m", "py_code_mode.cli.mcp_server", "--executor", executor, *flags]
        )
        async with Client(params) as client:
            result = await client.call_tool("run_code", {"code": REPORT})
            return "\n".join(getattr(c, "text", "") for c in result.content)

    return anyio.run(go)


ENTRIES = {"run": entry_run, "repl": entry_repl, "mcp": entry_mcp}


@pytest.mark.parametrize("storage", ["file", "redis"])
@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_entry_point_runs_code_on_the_executor_asked_for(
    entry: str, executor: str, storage: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if executor == "sandbox":
        require("sandbox")
    output = ENTRIES[entry](storage_flags(storage, request, tmp_path / "base"), executor)
    check(parse(output), executor)
