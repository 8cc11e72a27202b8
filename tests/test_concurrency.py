"""Many sessions at once in one host, and several processes on one storage folder."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from py_code_mode import FileStorage, Session, SubprocessExecutor
from py_code_mode.execution import SubprocessConfig


async def test_twenty_subprocess_sessions_at_once(tmp_path: Path) -> None:
    sessions = [
        Session(
            storage=FileStorage(tmp_path / f"s{i}"),
            executor=SubprocessExecutor(SubprocessConfig(warm_spare=False)),
        )
        for i in range(20)
    ]
    await asyncio.gather(*(s.start() for s in sessions))
    try:
        await asyncio.gather(*(s.run(f"me = {i}") for i, s in enumerate(sessions)))
        code = "import time\nfor k in range(20):\n    print(me)\n    time.sleep(0.002)\nme * 10"
        results = await asyncio.gather(*(s.run(code) for s in sessions))
        for i, result in enumerate(results):
            assert result.value == i * 10, result.error
            assert result.stdout == f"{i}\n" * 20
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


WRITER = """
import sys, time
from py_code_mode import FileStorage
storage = FileStorage(sys.argv[1])
who, seconds = sys.argv[2], float(sys.argv[3])
library, store = storage.get_skill_library(), storage.get_artifact_store()
deadline, i = time.monotonic() + seconds, 0
while time.monotonic() < deadline:
    library.create(f"{who}_{i}", f'def run():\\n    \"\"\"{who} {i}.\"\"\"\\n    return {i}\\n')
    store.save(f"{who}/{i}.json", {"who": who, "i": i})
    i += 1
    time.sleep(0.01)
print(i)
"""


def test_two_processes_write_skills_and_artifacts_for_a_minute(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), who, "8"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for who in ("left", "right")
    ]
    counts = {}
    for who, proc in zip(("left", "right"), procs, strict=True):
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0
        counts[who] = int(out)
    storage = FileStorage(tmp_path)
    skills = {s.name for s in storage.get_skill_library().list()}
    artifacts = {a.name for a in storage.get_artifact_store().list()}
    for who, n in counts.items():
        assert n > 10
        assert {f"{who}_{i}" for i in range(n)} <= skills
        assert {f"{who}/{i}.json" for i in range(n)} <= artifacts
        assert storage.get_artifact_store().load(f"{who}/{n - 1}.json") == {"who": who, "i": n - 1}
    json.loads((tmp_path / "artifacts" / ".artifacts.json").read_text())
