"""Workers forked from the host's template (Linux): each session gets a fresh, isolated process.

Real processes throughout: the template, the forked workers and, for dying with the host, a
host process of its own that is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import require
from py_code_mode import FileStorage, SandboxExecutor, Session, SubprocessConfig, SubprocessExecutor
from py_code_mode.execution import forking

pytestmark = pytest.mark.skipif(not forking.supported(), reason="needs Linux with pidfds")

FDS = """
import os, stat
found = {}
for name in os.listdir('/proc/self/fd'):
    try:
        found[int(name)] = os.readlink('/proc/self/fd/' + name)
    except OSError:
        pass  # the listing's own descriptor
found
"""
IDENTITY = "import os\n(os.getpid(), os.getppid(), os.getpgid(0), os.getsid(0), os.getuid())"


def _session(tmp_path: Path, name: str, **config: Any) -> Session:
    executor = SubprocessExecutor(SubprocessConfig(**config))
    return Session(storage=FileStorage(tmp_path / name), executor=executor)


def _template_pids() -> set[int]:
    return {t.pid for t in forking.POOL.templates() if t.alive}


def _gone(pid: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within  # a bound for a hang, not a speed requirement
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return True  # ended, not yet reaped by whoever adopted it
        time.sleep(0.05)
    return False


async def _value(session: Session, code: str) -> Any:
    result = await session.run(code)
    assert result.error is None, result.error
    return result.value


async def test_each_session_gets_its_own_forked_process(tmp_path: Path) -> None:
    async with _session(tmp_path, "a") as a, _session(tmp_path, "b") as b:
        pid_a, parent_a, group_a, sid_a, _ = await _value(a, IDENTITY)
        pid_b, parent_b, group_b, sid_b, _ = await _value(b, IDENTITY)
        templates = _template_pids()
        # Forked from the template (not spawned by the host), once per session.
        assert parent_a in templates and parent_b in templates
        assert os.getpid() not in (parent_a, parent_b)
        assert len({pid_a, pid_b, os.getpid(), parent_a}) == 4
        # Each leads a process group and a session of its own: signals and kills stay there.
        assert (group_a, sid_a) == (pid_a, pid_a) and (group_b, sid_b) == (pid_b, pid_b)
        await a.run("secret = 'a'")
        assert (await b.run("secret")).error == "NameError: name 'secret' is not defined"
        home_a = await _value(a, "import os\nos.environ['HOME']")
        home_b = await _value(b, "import os\nos.environ['HOME']")
        assert home_a != home_b


async def test_a_forked_worker_holds_only_its_own_descriptors(tmp_path: Path) -> None:
    async with _session(tmp_path, "a") as a, _session(tmp_path, "b") as b:
        fds_a: dict[int, str] = {int(k): v for k, v in (await _value(a, FDS)).items()}
        fds_b: dict[int, str] = {int(k): v for k, v in (await _value(b, FDS)).items()}
        async with _session(tmp_path, "spawned", fork_template=False) as spawned:
            fds_spawned = {int(k): v for k, v in (await _value(spawned, FDS)).items()}
    for fds in (fds_a, fds_b):
        # What a spawned worker holds (its channel, /dev/null), plus the pidfd of the host
        # that its die-with-the-host thread waits on; nothing of the template or the others.
        kinds = sorted(target.split(":")[0] for target in fds.values())
        expected = sorted([*(t.split(":")[0] for t in fds_spawned.values()), "anon_inode"])
        assert kinds == expected, (fds, fds_spawned)
        assert sum(target == "anon_inode:[pidfd]" for target in fds.values()) == 1
    shared = {t for t in fds_a.values() if t.startswith(("socket:", "pipe:"))} & set(fds_b.values())
    assert shared == set()


async def test_host_secrets_stay_out_of_the_worker_and_the_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCM_TEST_API_KEY", "sk-do-not-leak")
    async with _session(tmp_path, "a") as a:
        mine = await _value(a, "open('/proc/self/environ', 'rb').read().decode()")
        template = await _value(a, "import os\nopen(f'/proc/{os.getppid()}/environ', 'rb').read().decode()")  # fmt: skip
    assert "sk-do-not-leak" not in mine and "sk-do-not-leak" not in template
    assert "PCM_TEST_API_KEY" not in mine


async def test_a_killed_worker_is_replaced_by_a_fresh_fork(tmp_path: Path) -> None:
    async with _session(tmp_path, "a") as a:
        await a.run("x = 1")
        pid = (await _value(a, IDENTITY))[0]
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid)
        # Whether the host saw the death before this run or during it, it says how it ended.
        result = await a.run("x")
        assert "killed by signal SIGKILL" in f"{result.error} {result.stderr}"
        assert (await a.run("x")).error == "NameError: name 'x' is not defined"
        new_pid, parent, *_ = await _value(a, IDENTITY)
        assert new_pid != pid and parent in _template_pids()
        await a.reset()
        assert (await _value(a, "1 + 1")) == 2


async def test_a_crash_reports_its_signal(tmp_path: Path) -> None:
    async with _session(tmp_path, "a") as a:
        result = await a.run("import ctypes\nctypes.string_at(0)")
        assert result.error is not None and "killed by signal SIGSEGV" in result.error
        assert "Segmentation fault" in result.stderr
        result = await a.run("import os\nos._exit(3)")
        assert result.error is not None and "exit code 3" in result.error


async def test_interrupt_reaches_the_forked_worker(tmp_path: Path) -> None:
    async with _session(tmp_path, "a") as a:
        await a.run("kept = 41")
        pid = (await _value(a, IDENTITY))[0]
        result = await a.run("import time\ntime.sleep(30)", timeout=0.5)
        assert result.error is not None and result.error.startswith("TimeoutError")
        # Interrupted (SIGINT to the worker), not killed: the same process, variables kept.
        assert (await _value(a, IDENTITY))[0] == pid
        assert await _value(a, "kept + 1") == 42


async def test_killing_the_template_leaves_live_sessions_alone(tmp_path: Path) -> None:
    async with _session(tmp_path, "a") as a:
        await a.run("kept = 'still here'")
        pid, template, *_ = await _value(a, IDENTITY)
        os.kill(template, signal.SIGKILL)
        assert _gone(template)
        assert await _value(a, "kept") == "still here"
        assert (await _value(a, IDENTITY))[0] == pid
        # Its worker ends later: how is unknown (its parent is gone), that it ended is not.
        os.kill(pid, signal.SIGKILL)
        result = await a.run("kept")
        assert "how is unknown" in f"{result.error} {result.stderr}"
        assert (await a.run("kept")).error == "NameError: name 'kept' is not defined"
        # A new template took over.
        new_pid, new_template, *_ = await _value(a, IDENTITY)
        assert new_template != template and new_template in _template_pids()
    async with _session(tmp_path, "b") as b:
        assert (await _value(b, IDENTITY))[1] == new_template


HOST = """
import asyncio, os, sys, tempfile
from py_code_mode import FileStorage, Session, SubprocessExecutor

async def main():
    async with Session(storage=FileStorage(tempfile.mkdtemp()), executor=SubprocessExecutor()) as s:
        code = "import os\\nprint(os.getpid(), flush=True)\\nwhile True:\\n    pass"
        task = asyncio.ensure_future(s.run(code, on_output=lambda stream, text: print(text, end="", flush=True)))
        await asyncio.sleep(600)

asyncio.run(main())
"""


def test_workers_die_with_their_host(tmp_path: Path) -> None:
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent(HOST))
    host = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert host.stdout is not None
        line = host.stdout.readline()  # the busy worker's pid, printed by the cell
        worker = int(line.split()[0])
        assert os.getpgid(worker) == worker
    finally:
        host.kill()
        host.wait(timeout=30)
    assert _gone(worker), "a busy worker outlived its host"


async def test_the_old_path_stays_available(tmp_path: Path) -> None:
    async with _session(tmp_path, "a", fork_template=False) as a:
        _pid, parent, *_ = await _value(a, IDENTITY)
        assert parent == os.getpid()
        await a.run("x = 2")
        assert await _value(a, "x * 2") == 4


async def test_concurrent_sessions_fork_in_parallel(tmp_path: Path) -> None:
    sessions = [_session(tmp_path, f"s{i}") for i in range(6)]
    await asyncio.gather(*(s.start() for s in sessions))
    try:
        pids = await asyncio.gather(*(_value(s, IDENTITY) for s in sessions))
        assert len({p[0] for p in pids}) == 6
        assert len({p[1] for p in pids}) == 1  # one template for one configuration
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


SANDBOX_IDENTITY = (
    "import os\n(os.getuid(), os.readlink('/proc/self/ns/pid'), os.readlink('/proc/self/ns/user'),"
    " os.readlink('/proc/self/ns/net'))"
)


async def test_sandbox_sessions_keep_their_own_uid_and_namespaces(tmp_path: Path) -> None:
    require("sandbox")
    first = Session(storage=FileStorage(tmp_path / "a"), executor=SandboxExecutor())
    second = Session(storage=FileStorage(tmp_path / "b"), executor=SandboxExecutor())
    async with first as a, second as b:
        before = await _value(a, SANDBOX_IDENTITY)
        other = await _value(b, SANDBOX_IDENTITY)
        # Never forked from the host's template: each session has its own namespaces (and,
        # on a root host, its own uid), and so does each fresh worker of a session.
        assert before[1] != other[1] and before[3] != other[3]
        if os.geteuid() == 0:
            assert before[0] != other[0] and 0 not in (before[0], other[0])
        else:
            assert before[2] != other[2]
        await a.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        after = await _value(a, SANDBOX_IDENTITY)
        assert after[0] == before[0]  # the executor's uid, on its fresh worker too
        assert after[1] != before[1]  # a fresh sandbox: a new PID namespace
