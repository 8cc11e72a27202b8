"""Who assembles the namespaces (one function, called by the Session), and the worker as a
stdlib-only package launched by path."""

from __future__ import annotations

import ast
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import py_code_mode
from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor
from py_code_mode.execution.host import HostNamespaces, build_namespaces

WORKER_DIR = Path(py_code_mode.__file__).parent / "worker"
HEADER = struct.Struct(">I")


def make(kind: str) -> InProcessExecutor | SubprocessExecutor:
    return InProcessExecutor() if kind == "inprocess" else SubprocessExecutor()


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_an_executor_runs_against_the_namespaces_it_is_given(
    tmp_path: Path, kind: str
) -> None:
    executor = make(kind)
    given = await build_namespaces(FileStorage(tmp_path / "given"), executor.namespace_options())
    executor.provide_namespaces(given)
    # The namespaces given win over the storage passed to start(): the executor builds nothing.
    await executor.start(FileStorage(tmp_path / "other"))
    try:
        result = await executor.run("artifacts.save('x', 1).name")
        assert result.value == "x", result.error
    finally:
        await executor.close()
    assert FileStorage(tmp_path / "given").get_artifact_store().exists("x")
    assert not FileStorage(tmp_path / "other").get_artifact_store().exists("x")


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_the_session_assembles_once_and_its_executor_builds_nothing(
    tmp_path: Path, kind: str
) -> None:
    session = Session(storage=FileStorage(tmp_path), executor=make(kind))
    async with session:
        host = session.executor._host  # type: ignore[union-attr]
        assert isinstance(host, HostNamespaces)
        # One set of objects: what the facade and the executor use is what code calls.
        assert host.registry is session.executor.registry  # type: ignore[union-attr]
        assert host.library is session.storage.get_skill_library()  # type: ignore[attr-defined]
        await session.run("skills.create('one', 'def run() -> int:\\n    return 1\\n')")
        assert [s["name"] for s in await session.list_skills()] == ["one"]


async def test_an_executor_started_on_its_own_uses_the_same_assembly(tmp_path: Path) -> None:
    executor = SubprocessExecutor()
    await executor.start(FileStorage(tmp_path))
    try:
        assert isinstance(executor._host, HostNamespaces)
        result = await executor.run(
            "sorted(n for n in ('tools', 'skills', 'artifacts', 'deps') if n in globals())"
        )
        assert result.value == ["artifacts", "deps", "skills", "tools"]
    finally:
        await executor.close()


def test_the_worker_package_imports_only_the_standard_library() -> None:
    stdlib = set(sys.stdlib_module_names)
    for path in sorted(WORKER_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside the worker package
                    continue
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in stdlib or root == "__future__", f"{path.name} imports {root}"


def _frame(message: dict[str, object]) -> bytes:
    data = json.dumps(message).encode()
    return HEADER.pack(len(data)) + data


def _read_frame(stream: object) -> dict[str, object]:
    (size,) = HEADER.unpack(stream.read(HEADER.size))  # type: ignore[attr-defined]
    return json.loads(stream.read(size))  # type: ignore[attr-defined,no-any-return]


def test_the_worker_runs_from_a_copy_of_its_folder_alone(tmp_path: Path) -> None:
    """Launched by path in an isolated interpreter with nothing of the project around it."""
    copy = tmp_path / "only" / "worker"
    shutil.copytree(WORKER_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-I", "-P", str(copy / "__main__.py"), json.dumps({"namespaces": []})],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        assert _read_frame(proc.stdout)["op"] == "ready"
        code = "import sys\nsorted(m for m in sys.modules if m.startswith('py_code_mode'))"
        proc.stdin.write(_frame({"op": "run", "id": 1, "code": code}))
        proc.stdin.flush()
        reply = _read_frame(proc.stdout)
        assert reply["op"] == "result" and "error" not in reply, reply
        assert reply["value"] == []  # nothing of the project was imported
        proc.stdin.write(_frame({"op": "shutdown"}))
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
