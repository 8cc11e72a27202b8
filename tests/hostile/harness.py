"""Runs one hostile case against one executor and reports what happened."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Any

from cases import Case

from py_code_mode import (
    FileStorage,
    InProcessExecutor,
    SandboxExecutor,
    Session,
    SubprocessExecutor,
)
from py_code_mode.execution import SandboxConfig, SubprocessConfig

VICTIM = "def run():\n    return 'untouched'\n"


def make(kind: str) -> Any:
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "subprocess":
        return SubprocessExecutor(SubprocessConfig(memory_limit_mb=1024))
    return SandboxExecutor(SandboxConfig(memory_limit_mb=1024, max_processes=64))


def checksum(base: Path) -> dict[str, str]:
    """Hashes of every stored file (derived data — index, stats, overlay — left out)."""
    out = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if path.is_file() and rel.parts[0] not in (".code-mode", ".deps"):
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


async def attack(case: Case, kind: str, folder: Path) -> dict[str, Any]:
    """Run the case; return {held, detail} after checking the aftermath."""
    base = folder / "base"
    storage = FileStorage(base)
    storage.get_artifact_store().save("keep.json", {"safe": True})
    storage.get_skill_library().create("victim", VICTIM)
    before = checksum(base)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    code = case.code.replace("STORAGE", repr(str(base))).replace(
        "PORT", str(listener.getsockname()[1])
    )
    saved_env = {k: os.environ.get(k) for k in case.setup}
    os.environ.update(case.setup)
    bystander = Session(storage=FileStorage(folder / "other"), executor=make(kind))
    try:
        async with bystander, Session(storage=storage, executor=make(kind)) as session:
            await bystander.run("mine = 'bystander'")
            await session.run("before = 1")
            result = await session.run(code, timeout=case.timeout)
            outcome_ok = case.check(result)
            after = await session.run("1 + 1", timeout=10)
            victim = await session.run("skills.victim()", timeout=10)
            other = await bystander.run("mine", timeout=10)
    finally:
        listener.close()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    problems = []
    if not outcome_ok:
        problems.append(f"unexpected result: {result.error or result.repr}")
    if after.value != 2:
        problems.append(f"next run failed: {after.error}")
    if victim.value != "untouched":
        problems.append(f"a stored skill changed: {victim.value or victim.error}")
    if other.value != "bystander":
        problems.append(f"another session was affected: {other.error}")
    if checksum(base) != before:
        problems.append("stored files changed")
    return {"held": not problems, "detail": "; ".join(problems) or (result.error or "ok")[:120]}
