"""Output as the code prints it: ``Session.run(on_output=...)`` under every executor, and
``py-code-mode run`` printing while a run goes on."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_executor
from py_code_mode import FileStorage, SandboxExecutor, Session
from py_code_mode.execution import SandboxConfig

SANDBOX_PROBLEM = SandboxExecutor.check()
KINDS = ["inprocess", "subprocess", "sandbox"]


def _executor(kind: str) -> object:
    if kind == "sandbox":
        if SANDBOX_PROBLEM:
            pytest.skip(f"sandbox unavailable: {SANDBOX_PROBLEM}")
        return SandboxExecutor(SandboxConfig())
    return make_executor(kind)


@pytest.mark.parametrize("kind", KINDS)
async def test_output_streams_while_the_code_runs(tmp_path: Path, kind: str) -> None:
    """The code prints, then waits until its listener has seen that line (the listener opens
    the door): without streaming it would wait until its timeout."""
    executor = _executor(kind)
    seen: list[tuple[str, str]] = []
    async with Session(storage=FileStorage(tmp_path / "base"), executor=executor) as session:
        await session.run("1")  # started: the sandbox's workspace exists
        folder = Path(getattr(executor, "_workspace", None) or tmp_path)
        door = folder / "door"
        inside = "/tmp/workspace/door" if kind == "sandbox" else str(door)

        def on_output(stream: str, text: str) -> None:
            seen.append((stream, text))
            if "progress 1" in text:
                door.touch()

        code = (
            "import os, sys, time\nprint('progress 1', flush=True)\n"
            "print('warning', file=sys.stderr)\n"
            f"while not os.path.exists({inside!r}):\n    time.sleep(0.01)\nprint('done')\n'end'"
        )
        result = await session.run(code, timeout=60, on_output=on_output)
    assert result.error is None, result.error
    assert result.value == "end"
    assert result.stdout == "progress 1\ndone\n"
    assert "warning" in result.stderr
    assert "".join(t for s, t in seen if s == "stdout") == "progress 1\ndone\n"
    assert "".join(t for s, t in seen if s == "stderr") == "warning\n"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_print_loop_is_coalesced(tmp_path: Path, kind: str) -> None:
    """10,000 printed lines reach the listener in far fewer calls, all of them, in order; the
    result keeps the whole text."""
    calls: list[str] = []
    async with Session(storage=FileStorage(tmp_path), executor=_executor(kind)) as session:
        result = await session.run(
            "for i in range(10_000):\n    print(i)",
            on_output=lambda stream, text: calls.append(text),
        )
    expected = "".join(f"{i}\n" for i in range(10_000))
    assert result.stdout == expected
    assert "".join(calls) == expected
    assert len(calls) < 1000, len(calls)


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_streaming_stops_at_the_output_cap(tmp_path: Path, kind: str) -> None:
    """A flood streams no more than the cap keeps; the result has the cap and the marker."""
    calls: list[str] = []
    executor = make_executor(kind, output_limit=10_000)
    async with Session(storage=FileStorage(tmp_path), executor=executor) as session:
        result = await session.run(
            "for _ in range(1000):\n    print('x' * 99)",
            on_output=lambda stream, text: calls.append(text),
        )
    assert len("".join(calls)) == 10_000
    assert result.stdout.startswith("".join(calls))
    assert "[output truncated" in result.stdout


async def test_a_failing_listener_does_not_fail_the_run(tmp_path: Path) -> None:
    def broken(stream: str, text: str) -> None:
        raise RuntimeError("listener broke")

    async with Session(storage=FileStorage(tmp_path), executor=make_executor("subprocess")) as s:
        result = await s.run("print('hi')\n2", on_output=broken)
    assert result.value == 2 and result.stdout == "hi\n"


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_cli_run_prints_while_the_code_runs(tmp_path: Path, executor: str) -> None:
    """``py-code-mode run -c "print('progress 1', flush=True)\\nwhile True: pass"`` shows the
    line while the loop spins; Ctrl-C then stops it and nothing is printed twice."""
    script = Path(sys.executable).with_name("py-code-mode")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "py_code_mode"]
    proc = subprocess.Popen(
        [*command, "run", "--base", str(tmp_path / "base"), "--timeout", "300",
         "--executor", executor, "-c",
         "print('progress 1', flush=True)\nwhile True: pass"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # bounded wait, not a timing assert
        assert ready, "nothing was printed while the code ran"
        line = proc.stdout.readline()
        assert line == b"progress 1\n"
        assert proc.poll() is None, "the run had already ended"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"progress 1" not in out, out  # printed once, while it ran
    assert b"KeyboardInterrupt" in err
