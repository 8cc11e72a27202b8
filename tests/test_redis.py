"""Redis specifics: prefixes, several processes, the store CLI, Redis going away."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import require
from py_code_mode import RedisStorage, Session
from py_code_mode.storage.redis import StorageUnavailable, redact

DOUBLE = 'def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'


def test_prefixes_never_see_each_other(redis_url: str) -> None:
    one, two = (
        RedisStorage(url=redis_url, prefix="iso_a"),
        RedisStorage(url=redis_url, prefix="iso_b"),
    )
    one.get_skill_library().create("double", DOUBLE)
    one.get_artifact_store().save("x", 1)
    assert two.get_skill_library().list() == [] and two.get_artifact_store().list() == []


def test_constructor_rules(redis_url: str) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RedisStorage()
    with pytest.raises(ValueError, match="exactly one"):
        RedisStorage(url=redis_url, redis=object())
    with pytest.raises(ValueError, match="not a Redis URL"):
        RedisStorage(url="http://x")
    assert RedisStorage(url=redis_url).prefix == "py_code_mode"
    assert redact("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"


WRITER = """
import sys
from py_code_mode import RedisStorage
lib = RedisStorage(url=sys.argv[1], prefix="shared").get_skill_library()
for i in range(10):
    lib.create(f"{sys.argv[2]}_{i}", f'def run():\\n    \"\"\"{sys.argv[2]} task number {i}.\"\"\"\\n')
"""


def test_two_processes_share_one_prefix(redis_url: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, redis_url, who])
        for who in ("alpha", "beta")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    library = RedisStorage(url=redis_url, prefix="shared").get_skill_library()
    assert len(library.list()) == 20
    assert library.search("beta task number 7", 1)[0].name == "beta_7"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def test_store_cli_round_trip(redis_url: str, tmp_path: Path) -> None:
    source = tmp_path / "skills"
    source.mkdir()
    (source / "double.py").write_text(DOUBLE)
    (source / "triple.py").write_text(DOUBLE.replace("2 *", "3 *").replace("Double", "Triple"))
    boot = cli(
        "-m",
        "py_code_mode.cli.store",
        "bootstrap",
        "--source",
        str(source),
        "--target",
        redis_url,
        "--prefix",
        "myapp",
    )
    assert boot.returncode == 0, boot.stderr
    assert (
        "  Added: double" in boot.stdout
        and f"Bootstrapped 2 skills to {redis_url} (prefix: myapp)" in boot.stdout
    )
    listed = cli(
        "-m", "py_code_mode.store", "list", "--target", redis_url, "--prefix", "myapp"
    ).stdout
    assert "  double: Double a number." in listed and f"2 skills in {redis_url}" in listed
    # What the CLI wrote is what a session with the same prefix sees.
    assert [
        s.name for s in RedisStorage(url=redis_url, prefix="myapp").get_skill_library().list()
    ] == ["double", "triple"]
    RedisStorage(url=redis_url, prefix="myapp").get_skill_library().create("agent_made", DOUBLE)
    (source / "triple.py").write_text(DOUBLE.replace("2 *", "4 *"))
    (source / "local_only.py").write_text(DOUBLE)
    diff = cli(
        "-m",
        "py_code_mode",
        "store",
        "diff",
        "--source",
        str(source),
        "--target",
        redis_url,
        "--prefix",
        "myapp",
    ).stdout
    assert diff.splitlines() == [
        "+ agent_made (agent-created)",
        "= double",
        "- local_only (removed from store)",
        "~ triple (modified)",
    ]
    dest = tmp_path / "pulled"
    pulled = cli(
        "-m",
        "py_code_mode",
        "store",
        "pull",
        "--target",
        redis_url,
        "--prefix",
        "myapp",
        "--dest",
        str(dest),
    )
    assert "Pulled 3 skills to" in pulled.stdout and (dest / "agent_made.py").read_text() == DOUBLE
    deps = cli(
        "-m",
        "py_code_mode",
        "store",
        "bootstrap",
        "--type",
        "deps",
        "--deps",
        "six",
        "tabulate>=0.9",
        "--target",
        redis_url,
        "--prefix",
        "myapp",
    )
    assert "Bootstrapped 2 deps" in deps.stdout
    assert cli(
        "-m",
        "py_code_mode",
        "store",
        "list",
        "--type",
        "deps",
        "--target",
        redis_url,
        "--prefix",
        "myapp",
    ).stdout.startswith("  six")
    bad = cli("-m", "py_code_mode", "store", "list", "--target", "s3://bucket")
    assert bad.returncode == 2 and "not supported" in bad.stderr


def test_cli_run_with_redis(redis_url: str, tmp_path: Path) -> None:
    run = cli(
        "-m",
        "py_code_mode",
        "run",
        "-c",
        "artifacts.save('k', 7)\nartifacts.load('k')",
        "--base",
        str(tmp_path),
        "--redis",
        redis_url,
        "--prefix",
        "clirun",
    )
    assert run.returncode == 0 and run.stdout.strip() == "7", run.stderr
    assert RedisStorage(url=redis_url, prefix="clirun").get_artifact_store().load("k") == 7


async def test_redis_stopped_mid_session(tmp_path: Path) -> None:
    require("redis")
    binary = shutil.which("redis-server")
    assert binary is not None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        url = f"redis://:hunter2@127.0.0.1:{port}/0".replace(":hunter2@", "@")
        storage = RedisStorage(url=url, prefix="gone")
        async with Session(storage=storage) as session:
            assert (await session.run("artifacts.save('a', 1)\nartifacts.load('a')")).value == 1
            proc.terminate()
            proc.wait(timeout=10)
            result = await session.run("artifacts.load('a')")
            assert result.error is not None and result.error.startswith("StorageUnavailable")
            assert f"127.0.0.1:{port}" in result.error
            with pytest.raises(StorageUnavailable):
                storage.get_artifact_store().save("b", 2)
            assert (await session.run("1 + 1")).value == 2  # the session goes on
    finally:
        if proc.poll() is None:
            proc.kill()


def test_password_never_shown() -> None:
    storage = RedisStorage(url="redis://user:s3cret@127.0.0.1:1/0", prefix="p")
    with pytest.raises(StorageUnavailable) as info:
        storage.ping()
    assert "s3cret" not in str(info.value) and "***" in str(info.value)
