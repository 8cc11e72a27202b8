"""The host of an isolation test (run by hosts.py as root or as an unprivileged user).

    python host_script.py '{"executor": "sandbox", "base": "...", "cells": ["1 + 1"], ...}'

Starts one Session, runs the cells in order and prints one JSON line: a list of
``{value, repr, error, stderr, peak_mb}`` per cell. Job fields: ``executor`` (sandbox |
subprocess | container), ``base``, ``cells``, ``config`` (executor config fields),
``installer`` (PackageInstaller fields), ``wait_spare`` (let the warm spare finish starting
before the first cell), ``timeout``.

``peak_mb`` is how far this host process's resident memory rose above where it was before the
step (the kernel's peak, ``VmHWM``, reset through ``/proc/self/clear_refs`` before each step).
A cell may instead be ``{"wait_read_mb": N}``: wait (up to 120 s) until this host has read N MB
more from its descriptors (``/proc/self/io``) or its worker is no longer usable, then report
``peak_mb`` for that wait: what a worker writing on its own, between runs, cost the host.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from py_code_mode import (
    ContainerConfig,
    ContainerExecutor,
    FileStorage,
    SandboxExecutor,
    Session,
    SubprocessExecutor,
)
from py_code_mode.deps import PackageInstaller
from py_code_mode.execution import SandboxConfig, SubprocessConfig


def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _proc(path: str, key: str) -> int:
    with open(path) as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1])
    raise KeyError(key)


class Memory:
    """Peak resident memory of this process over one step, from /proc (kB, as the kernel says)."""

    def start(self) -> None:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current resident size
        self.before = _proc("/proc/self/status", "VmRSS:")

    def peak_mb(self) -> float:
        return (_proc("/proc/self/status", "VmHWM:") - self.before) / 1024


async def _wait_read(executor: SubprocessExecutor, megabytes: float) -> None:
    start = _proc("/proc/self/io", "rchar:")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while loop.time() < deadline:
        worker = executor._worker
        if worker is None or not worker.alive:
            return
        if _proc("/proc/self/io", "rchar:") - start >= megabytes * 1024 * 1024:
            return
        await asyncio.sleep(0.02)  # polls a condition; the event loop reads the worker meanwhile
    raise TimeoutError("the worker neither wrote nor stopped within 120 s")


async def main(job: dict[str, Any]) -> list[dict[str, Any]]:
    options = dict(job.get("config") or {})
    if job.get("installer"):
        options["deps_installer"] = PackageInstaller(**job["installer"])
    if job["executor"] == "sandbox":
        executor: SubprocessExecutor = SandboxExecutor(SandboxConfig(**options))
    elif job["executor"] == "container":
        executor = ContainerExecutor(ContainerConfig(**options))
    else:
        executor = SubprocessExecutor(SubprocessConfig(**options))
    out: list[dict[str, Any]] = []
    memory = Memory()
    async with Session(storage=FileStorage(job["base"]), executor=executor) as session:
        if job.get("wait_spare") and executor._spare is not None:
            await asyncio.wait({executor._spare})
        for code in job["cells"]:
            memory.start()
            if isinstance(code, dict):
                await _wait_read(executor, code["wait_read_mb"])
                out.append({"peak_mb": memory.peak_mb()})
                continue
            result = await session.run(code, timeout=job.get("timeout", 30))
            out.append(
                {
                    "value": _plain(result.value),
                    "repr": result.repr,
                    "error": result.error,
                    "stderr": result.stderr,
                    "peak_mb": memory.peak_mb(),
                }
            )
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
