"""The command line behaves like the tools users know: Ctrl-C interrupts a run and keeps the
state, exit() leaves, sys.exit(n) exits n, bad input is one line (never a traceback), typos
fail instead of creating folders, ``--base`` goes before or after the subcommand."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reachable import interpreter_and_package, reachable
from test_cli_more import _read_until

PY = sys.executable


def cli(*args: str, cwd: Path | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "py_code_mode", *args], capture_output=True, text=True, timeout=120, cwd=cwd,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert all(w in proc.stderr for w in words), proc.stderr


def test_version() -> None:
    from py_code_mode import __version__

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"py-code-mode {__version__}"


@pytest.mark.parametrize("where", ["before", "after"])
def test_base_before_or_after_the_subcommand(tmp_path: Path, where: str) -> None:
    base = str(tmp_path / "base")
    for command in (["run", "-c", "artifacts.save('n', 1)", "--executor", "inprocess"],
                    ["skills", "list"]):  # fmt: skip
        args = ["--base", base, *command] if where == "before" else [*command, "--base", base]
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "base" / "artifacts").is_dir()
    proc = cli("skills", "list", "--base", base)  # after the skills command, too
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "inf", "soon"])
def test_bad_timeouts_are_one_line(tmp_path: Path, timeout: str) -> None:
    proc = cli("run", "-c", "1", "--base", str(tmp_path), "--timeout", timeout)
    one_line_error(proc, "--timeout")


def test_base_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    one_line_error(cli("run", "-c", "1", "--base", str(tmp_path / "file")), "is a file")
    one_line_error(cli("run", "-c", "1", "--base", str(tmp_path / "file" / "sub")), "file", "sub")


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to switch to an unprivileged user")
def test_read_only_base_is_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(tmp_path, 0o755)
    with reachable(interpreter_and_package()):  # the checkout may sit in a 0700 folder
        proc = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", PY, "-m",
             "py_code_mode", "run", "-c", "1", "--executor", "inprocess", "--base",
             str(locked / "base")],
            capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": "/tmp"},
        )  # fmt: skip
    one_line_error(proc, "Permission denied")


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_sys_exit_sets_the_exit_code(tmp_path: Path, executor: str) -> None:
    base = ["--base", str(tmp_path), "--executor", executor]
    assert cli("run", "-c", "import sys\nsys.exit(3)", *base).returncode == 3
    assert cli("run", "-c", "import sys\nsys.exit()", *base).returncode == 0
    message = cli("run", "-c", "import sys\nsys.exit('bad input')", *base)
    assert message.returncode == 1 and message.stderr.strip() == "bad input"


def test_reading_commands_do_not_create_the_base(tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    one_line_error(cli("skills", "--base", str(typo), "list"), "does not exist")
    assert not typo.exists()


def test_store_bootstrap_of_a_missing_source_fails(tmp_path: Path) -> None:
    proc = cli("store", "bootstrap", "--source", str(tmp_path / "nonexistent"),
               "--target", "redis://127.0.0.1:1")  # fmt: skip
    assert proc.returncode != 0 and "no such folder" in proc.stderr
    (tmp_path / "skills").mkdir()
    down = cli("store", "bootstrap", "--source", str(tmp_path / "skills"),
               "--target", "redis://127.0.0.1:1")  # fmt: skip
    assert down.returncode != 0 and "Bootstrapped" not in down.stdout  # Redis is down


def _repl(tmp_path: Path, executor: str) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    env = {**os.environ, "PY_CODE_MODE_HISTORY": str(tmp_path / "history"), "TERM": "dumb"}
    proc = subprocess.Popen(
        [PY, "-m", "py_code_mode", "repl", "--base", str(tmp_path / "base"), "--executor",
         executor],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    return proc, master


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_repl_ctrl_c_interrupts_the_run_and_keeps_state(tmp_path: Path, executor: str) -> None:
    proc, master = _repl(tmp_path, executor)
    flag = tmp_path / "running"
    try:
        _read_until(master, b">>> ")
        os.write(master, b"kept = 7\n")
        _read_until(master, b">>> ")
        loop = (
            f"import time\nprint('sta' + 'rted', flush=True)\nopen({str(flag)!r}, 'w').close()\n"
            "while True:\n    time.sleep(0.02)\n\n"
        )
        os.write(master, loop.encode())
        _wait_for(flag)
        _read_until(master, b"started")  # what the cell prints reaches the terminal as it runs
        os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C does (the worker has its own group)
        after = _read_until(master, b"KeyboardInterrupt")
        if not after.rstrip().endswith(b">>>"):  # the prompt may come in the same chunk
            after += _read_until(master, b">>> ")
        os.write(master, b"kept * 6\n")
        assert b"42" in _read_until(master, b"42")  # the session and its state survived
        os.write(master, b"exit()\n")
        assert proc.wait(timeout=60) == 0  # exit() leaves, without a traceback
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_run_ctrl_c_stops_the_run_and_shows_its_output(tmp_path: Path, executor: str) -> None:
    flag = tmp_path / "running"
    code = f"print('progress 1', flush=True)\nopen({str(flag)!r}, 'w').close()\nwhile True: pass"
    proc = subprocess.Popen(
        [PY, "-m", "py_code_mode", "run", "--base", str(tmp_path / "base"), "--executor",
         executor, "-c", code],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(flag)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "progress 1" in out
    assert err.rstrip().endswith("KeyboardInterrupt") and "CancelledError" not in err


def test_repl_input_reads_the_terminal_in_process(tmp_path: Path) -> None:
    proc, master = _repl(tmp_path, "inprocess")
    try:
        _read_until(master, b">>> ")
        os.write(master, b"name = input('name? ')\n")
        _read_until(master, b"name? ")  # the prompt reaches the terminal while the cell waits
        os.write(master, b"Ada\n")
        _read_until(master, b">>> ")
        os.write(master, b"name.upper()\n")
        assert b"'ADA'" in _read_until(master, b"'ADA'")
        os.write(master, b"exit()\n")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_input_without_a_terminal_says_so(tmp_path: Path, executor: str) -> None:
    proc = cli("run", "-c", "input('name? ')", "--base", str(tmp_path), "--executor", executor,
               stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.returncode == 1
    assert "EOFError: input() cannot read here" in proc.stderr, proc.stderr


async def test_the_mcp_server_reports_the_package_version(tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    from py_code_mode import __version__

    params = StdioServerParameters(
        command=PY, args=["-m", "py_code_mode.cli.mcp_server", "--base", str(tmp_path)]
    )
    async with Client(params, mode="legacy") as client:
        assert client.server_info is not None
        assert client.server_info.version == __version__ != ""


def _path_without_docker(tmp_path: Path) -> str:
    """A PATH with this Python but no docker client."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(PY)
    return str(bin_dir)


def test_container_build_without_docker_is_one_line(tmp_path: Path) -> None:
    proc = cli("container", "build", env={**os.environ, "PATH": _path_without_docker(tmp_path)})
    one_line_error(proc, "docker client is not installed")


def test_container_build_with_the_daemon_down_is_one_line(tmp_path: Path) -> None:
    from conftest import require

    require("docker")  # the client, talking to a daemon that is not there
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'no-daemon.sock'}"}
    proc = cli("container", "build", "--image", "pcm-never-built:test", env=env)
    one_line_error(proc, "Docker daemon is not running")
