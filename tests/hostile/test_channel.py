"""The host side of the worker channel, attacked from the worker: what it costs the host, what
it believes, and what state a run leaves behind. With the host as root and as an ordinary user
(hosts.py), for the subprocess and sandbox executors.

Host memory is measured with /proc (the kernel's peak resident size of the host process over
each step), never with the clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hosts import HOSTS, Host, make_host

from py_code_mode import (
    FileStorage,
    InProcessExecutor,
    SandboxExecutor,
    Session,
    SubprocessExecutor,
)
from py_code_mode.execution import SandboxConfig

SANDBOX_PROBLEM = SandboxExecutor.check()
EXECUTORS = ["subprocess", "sandbox"]
#: What a step may add to the host's peak resident memory. Before the channel was bounded the
#: same steps cost the host 0.4 to 1 GB.
HOST_GROWTH_MB = 120


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> Iterator[Host]:
    with make_host(request.param) as made:
        yield made


def _skip_without(executor: str, host: Host | None = None) -> None:
    if executor == "sandbox" and SANDBOX_PROBLEM:
        pytest.skip(f"sandbox unavailable: {SANDBOX_PROBLEM}")
    if executor == "container":
        from py_code_mode.execution.container import DEFAULT_IMAGE, docker_problem, image_present

        if host is not None and host.switch:
            pytest.skip("the unprivileged test uid has no access to the Docker daemon")
        problem = docker_problem()
        if problem is None and not image_present(DEFAULT_IMAGE):
            problem = f"image {DEFAULT_IMAGE} is not built (.ci/run builds it)"
        if problem is not None:
            pytest.skip(f"no container runtime: {problem}")


def _run(host: Host, executor: str, cells: list[object], **job: object) -> list[dict[str, object]]:
    _skip_without(executor, host)
    base = host.mkdir(host.scratch / "base")
    return host.run_session({"executor": executor, "base": str(base), "cells": cells, **job})


# Writes one frame to every descriptor of the worker it can (the channel among them); those
# that are not writable refuse with OSError. ``BODY`` is filled in by each case.
_RAW_WRITE = """
import json, os
def frame(message):
    body = json.dumps(message, separators=(',', ':')).encode()
    return len(body).to_bytes(4, 'big') + body
def write_everywhere(data):
    for fd in range(3, 64):
        try:
            os.write(fd, data)
        except OSError:
            pass
"""

# A thread that waits for its cell to end (the main thread back to reading the channel), then
# writes large frames nobody asked for.
_FLOOD_AFTER_THE_CELL = (
    _RAW_WRITE
    + """
import sys, threading, time
main = threading.main_thread().ident
def idle():
    top = sys._current_frames().get(main)
    return top is not None and top.f_code.co_name == 'recv'
def flood():
    while not idle():
        time.sleep(0.01)
    data = frame({'op': 'note', 'ns': 'skills', 'method': 'record', 'args': ['x' * (8 << 20)]})
    for _ in range(60):
        write_everywhere(data)
threading.Thread(target=flood, daemon=True).start()
'started'
"""
)


@pytest.mark.parametrize("executor", [*EXECUTORS, "container"])
def test_host_memory_stays_bounded_whatever_the_worker_sends(host: Host, executor: str) -> None:
    """A huge search query, a huge result, a huge frame written by the code itself and a
    thread that floods the channel after its cell ended: each costs the host little memory,
    and each is refused with an error that says what was too large. The container's frames
    come relayed by the docker client: these bounds hold there too."""
    huge_frame = (
        _RAW_WRITE + "write_everywhere(frame({'op': 'note', 'ns': 'skills', 'method': 'record',"
        " 'args': [[{}] * 7_000_000]}))\n'unreachable'"
    )
    results = _run(
        host,
        executor,
        [
            "skills.create('hello', 'def run():\\n    return 1\\n')",
            "len(skills.search('hello'))",  # warms the search engine before anything is measured
            "len(skills.search('word ' * 400_000))",
            "[{}] * 7_000_000",
            huge_frame,
            "skills.hello()",
            _FLOOD_AFTER_THE_CELL,
            {"wait_read_mb": 400},
            "skills.hello()",
        ],
        timeout=60,
    )
    _, warm, query, value, frame, after_frame, flood, wait, after_flood = results
    assert warm["error"] is None, warm["error"]
    growth = {
        "query": query["peak_mb"],
        "value": value["peak_mb"],
        "frame": frame["peak_mb"],
        "flood": wait["peak_mb"],
    }
    print(f"host peak growth, MB ({host.kind} host, {executor}): {growth}")
    assert max(growth.values()) < HOST_GROWTH_MB, growth

    error = str(query["error"])
    assert "skills.search" in error and "limit" in error, error
    assert value["error"] is None and value["value"] is None, value
    assert str(value["repr"]).startswith("[{}, {}"), value["repr"]
    assert "it holds 7,000,001 values" in str(value["stderr"]), value["stderr"]
    error = str(frame["error"])
    assert re.search(r"a frame of 7,000,0\d\d values \(limit 2,000,000\)", error), error
    assert "variables were lost" in error, error
    assert after_frame["value"] == 1, after_frame["error"]
    assert flood["value"] == "started", flood["error"]
    assert after_flood["value"] == 1, after_flood["error"]
    notice = str(after_flood["stderr"])
    assert "between runs" in notice and "variables were lost" in notice, notice


_FORGER = (
    _RAW_WRITE
    + """
import time
if os.fork() == 0:
    try:
        while not os.path.exists('pcm-go'):
            time.sleep(0.01)
        forged = b''.join(
            frame({'op': 'result', 'id': i, 'has_value': True, 'value': 'forged',
                   'repr': "'forged'", 'stdout': '', 'stderr': ''})
            for i in range(1, 300)
        )
        write_everywhere(forged)
        open('pcm-done', 'w').close()
    finally:
        os._exit(0)
'forked'
"""
)
_GENUINE = """
import os, time
open('pcm-go', 'w').close()
while not os.path.exists('pcm-done'):
    time.sleep(0.01)
'genuine'
"""


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_forked_child_cannot_forge_a_result(host: Host, executor: str) -> None:
    """A process forked by the code inherits the channel; what it writes there (a result for
    every run id, written while the next run waits for it) is never taken for the worker's."""
    forked, run, after = _run(host, executor, [_FORGER, _GENUINE, "1 + 1"])
    assert forked["value"] == "forked", forked["error"]
    assert run["error"] is None, run["error"]
    assert run["value"] == "genuine", run
    assert "another process" in str(run["stderr"]), run["stderr"]
    assert after["value"] == 2, after["error"]


_THREAD_BOMB = (
    "import threading, time\n"
    "for _ in range(100_000):\n"
    "    threading.Thread(target=time.sleep, args=(100,)).start()"
)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_thread_bomb_ends_with_a_fresh_worker(host: Host, executor: str) -> None:
    """100,000 sleeping threads exhaust the worker's address space (or its process limit):
    the run fails, says the worker was replaced, and the next skill call works."""
    created, kept, bomb, skill, lost = _run(
        host,
        executor,
        ["skills.create('hello', 'def run():\\n    return 1\\n')", "x = 1", _THREAD_BOMB,
         "skills.hello()", "x"],
    )  # fmt: skip
    assert created["error"] is None and kept["error"] is None
    error = str(bomb["error"])
    assert "can't start new thread" in error or "MemoryError" in error, error
    assert "fresh worker" in error and "variables were lost" in error, error
    assert skill["value"] == 1, skill["error"]
    assert str(lost["error"]).startswith("NameError"), lost


# --- argument sizes, per declared method ---------------------------------------------------


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_argument_sizes_are_bounded_per_method(tmp_path: Path, executor: str) -> None:
    """A search query or a skill's source above its method's limit is refused before the host
    works on it; artifacts (limited by the frame size only) still carry large data."""
    _skip_without(executor)
    made = SandboxExecutor(SandboxConfig()) if executor == "sandbox" else SubprocessExecutor()
    async with Session(storage=FileStorage(tmp_path), executor=made) as session:
        query = await session.run("tools.search('q' * 100_000)")
        source = await session.run("skills.create('big', 'x = 1\\n' * 400_000)")
        saved = await session.run("artifacts.save('big.bin', b'x' * 20_000_000)\n1")
        loaded = await session.run("len(artifacts.load('big.bin'))")
        small = await session.run("skills.create('small', 'def run():\\n    return 2\\n').name")
    for result, method in ((query, "tools.search"), (source, "skills.create")):
        assert result.error is not None and result.error.startswith("ValueError"), result.error
        assert method in result.error and "limit" in result.error, result.error
    assert saved.value == 1, saved.error
    assert loaded.value == 20_000_000, loaded.error
    assert small.value == "small", small.error


# --- in-process: tracebacks quote the session's own cells --------------------------------------


async def test_in_process_tracebacks_quote_their_own_session(tmp_path: Path) -> None:
    """Two in-process sessions in one process: a traceback of one shows its own cell's line
    (and its own skill's), never the line of the other session's cell of the same number (or
    of its skill of the same name)."""
    one = Session(storage=FileStorage(tmp_path / "one"), executor=InProcessExecutor())
    two = Session(storage=FileStorage(tmp_path / "two"), executor=InProcessExecutor())
    async with one, two:
        await one.run("def f():\n    raise ValueError('from one')  # line of one")
        await one.run("skills.create('s', 'def run():\\n    raise KeyError(1)  # skill of one\\n')")
        await two.run("def g():\n    return 'line of two'")
        await two.run("skills.create('s', 'def run():\\n    return 2  # skill of two\\n')")
        await two.run("skills.s()")
        failed = await one.run("f()")
        skill = await one.run("skills.s()")
    assert failed.error == "ValueError: from one"
    assert "# line of one" in str(failed.traceback), failed.traceback
    assert "line of two" not in str(failed.traceback), failed.traceback
    assert "# skill of one" in str(skill.traceback), skill.traceback
    assert "skill of two" not in str(skill.traceback), skill.traceback


# --- the value count that bounds a frame before it is parsed -------------------------------------


def test_count_values_is_exact_whatever_the_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count the host checks before parsing equals the number of values json would build,
    for random JSON full of quotes, escapes and brackets inside strings, with any slice size
    (slice boundaries inside strings, escapes and empty containers)."""
    import json
    import random

    from py_code_mode.worker import wire

    def values(obj: object) -> int:
        if isinstance(obj, list):
            return 1 + sum(values(x) for x in obj)
        if isinstance(obj, dict):
            return 1 + sum(values(x) for x in obj.values())
        return 1

    rnd = random.Random(7)
    leaves = ['a"b\\\\', "\\", '"', "x,y[{", "[]", "{}", "", 1, 2.5, None, True, '\\"\\\\"']

    def make(depth: int = 0) -> object:
        r = rnd.random()
        if depth > 4 or r < 0.3:
            return rnd.choice(leaves)
        if r < 0.65:
            return [make(depth + 1) for _ in range(rnd.randint(0, 4))]
        keys = ["k", "a,b", '"[', "\\", "[]"]
        return {rnd.choice(keys) + str(i): make(depth + 1) for i in range(rnd.randint(0, 4))}

    samples = [make() for _ in range(1500)]
    for size in (1, 2, 3, 7, 1 << 20):
        monkeypatch.setattr(wire, "_SLICE", size)
        for obj in samples:
            body = json.dumps(obj, separators=(",", ":")).encode()
            assert wire.count_values(body) == values(obj), (size, body)
    with pytest.raises(wire.FrameTooLarge, match="100,001 values"):
        wire.loads(json.dumps([[]] * 100_000).encode(), 1000)
