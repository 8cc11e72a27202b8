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
import sys
from py_code_mode import FileStorage
storage = FileStorage(sys.argv[1])
who, count = sys.argv[2], int(sys.argv[3])
library, store = storage.get_skill_library(), storage.get_artifact_store()
print("ready", flush=True)
sys.stdin.readline()  # both writers start together
for i in range(count):
    library.create(f"{who}_{i}", f'def run():\\n    \"\"\"{who} {i}.\"\"\"\\n    return {i}\\n')
    store.save(f"{who}/{i}.json", {"who": who, "i": i})
print(count)
"""


def test_two_processes_write_skills_and_artifacts_at_the_same_time(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), who, "150"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for who in ("left", "right")
    ]
    for proc in procs:  # both are set up before either writes
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
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
