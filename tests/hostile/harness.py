"""Runs one hostile case against one executor and reports what happened."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
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
from py_code_mode.deps import PackageInstaller
from py_code_mode.execution import InProcessConfig, SandboxConfig, SubprocessConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: wheels.py
from wheels import build_sdist  # noqa: E402

VICTIM = "def run():\n    return 'untouched'\n"
SECRET_ENV = {"PCM_HOSTILE_SECRET": "s3cret"}
SDIST = "pcm_hostile_sdist"  # a package with only a source distribution: building it marks


def make(kind: str, wheelhouse: Path | None = None) -> Any:
    installer = (
        PackageInstaller(find_links=[str(wheelhouse)], no_index=True, timeout=120)
        if wheelhouse is not None
        else None
    )
    if kind == "inprocess":
        return InProcessExecutor(config=InProcessConfig(deps_installer=installer))
    if kind == "subprocess":
        return SubprocessExecutor(SubprocessConfig(memory_limit_mb=1024, deps_installer=installer))
    return SandboxExecutor(
        SandboxConfig(memory_limit_mb=1024, max_processes=64, deps_installer=installer)
    )


class Bait:
    """What a case may go after, outside the storage: a world-readable file and a
    world-connectable unix socket in /var/tmp (outside /tmp, /home and the like), an abstract
    unix socket, a process holding a secret in its environment, and a source package whose
    build would mark the attack folder."""

    def __init__(self, folder: Path) -> None:
        self.outside = Path(tempfile.mkdtemp(prefix="pcm-hostile-", dir="/var/tmp"))
        self.outside.chmod(0o755)
        self.file = self.outside / "notes.txt"
        self.file.write_text("private notes")
        self.file.chmod(0o644)
        self.socket = str(self.outside / "service.sock")
        self.abstract = f"\0pcm-hostile-{os.getpid()}-{id(self)}"
        self.listeners = []
        for address in (self.socket, self.abstract):
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(address)
            listener.listen(16)
            self.listeners.append(listener)
        os.chmod(self.socket, 0o777)
        # Another process of the host's user that started with a secret in its environment
        # (as the host itself does when its API keys are exported before it starts).
        self.holder = subprocess.Popen(
            ["sleep", "600"], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **SECRET_ENV}
        )
        self.marker = folder / "built-on-the-host"
        self.wheelhouse = folder / "wheelhouse"
        build_sdist(self.wheelhouse, SDIST, self.marker)

    def fill(self, code: str) -> str:
        return code.replace("OUTSIDE_FILE", repr(str(self.file))).replace(
            "UNIX_SOCKETS", repr([self.socket, self.abstract])
        )

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait(timeout=10)
        for listener in self.listeners:
            listener.close()
        shutil.rmtree(self.outside, ignore_errors=True)


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
    bait = Bait(folder)
    code = bait.fill(case.code).replace("STORAGE", repr(str(base)))
    code = code.replace("PORT", str(listener.getsockname()[1]))
    saved_env = {k: os.environ.get(k) for k in case.setup}
    os.environ.update(case.setup)
    bystander = Session(storage=FileStorage(folder / "other"), executor=make(kind))
    executor = make(kind, bait.wheelhouse)
    try:
        async with bystander, Session(storage=storage, executor=executor) as session:
            await bystander.run("mine = 'bystander'")
            await session.run("before = 1")
            result = await session.run(code, timeout=case.timeout)
            outcome_ok = case.check(result)
            after = await session.run("1 + 1", timeout=10)
            victim = await session.run("skills.victim()", timeout=10)
            other = await bystander.run("mine", timeout=10)
    finally:
        listener.close()
        bait.close()
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
    if bait.marker.exists():
        problems.append("a package's build code ran on the host")
    return {"held": not problems, "detail": "; ".join(problems) or (result.error or "ok")[:120]}
