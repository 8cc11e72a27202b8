"""The host of an isolation test (run by hosts.py as root or as an unprivileged user).

    python host_script.py '{"executor": "sandbox", "base": "...", "cells": ["1 + 1"], ...}'

Starts one Session, runs the cells in order and prints one JSON line: a list of
``{value, repr, error}`` per cell. Job fields: ``executor`` (sandbox | subprocess | container), ``base``,
``cells``, ``config`` (executor config fields), ``installer`` (PackageInstaller fields),
``wait_spare`` (let the warm spare finish starting before the first cell), ``timeout``.
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
    out = []
    async with Session(storage=FileStorage(job["base"]), executor=executor) as session:
        if job.get("wait_spare") and executor._spare is not None:
            await asyncio.wait({executor._spare})
        for code in job["cells"]:
            result = await session.run(code, timeout=job.get("timeout", 30))
            out.append({"value": _plain(result.value), "repr": result.repr, "error": result.error})
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
