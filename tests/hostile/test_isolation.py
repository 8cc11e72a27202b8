"""What sandboxed (and subprocess) code must not reach, with the host as root and as an
ordinary user: the host's environment, host sockets, files outside the sandbox's allow-list, a
host-side build of a package the code chose, credentials of the host's tools. And a worker
never outlives its host, whatever kills the host.

Each host runs in its own process (hosts.py): as this process's user, or as an unprivileged uid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hosts import HOSTS, Host, make_host

from conftest import require
from py_code_mode import FileStorage, SandboxExecutor, Session, SubprocessExecutor
from py_code_mode.execution import SandboxConfig, SubprocessConfig


@pytest.fixture
def _sandbox() -> None:
    require("sandbox")


needs_sandbox = pytest.mark.usefixtures("_sandbox")


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> Iterator[Host]:
    with make_host(request.param) as made:
        yield made


def _scratch_dir(parent: Path, host: Host, mode: int = 0o755) -> Path | None:
    """A fresh folder under ``parent`` owned by the host user, or None if we cannot write there."""
    if not os.access(parent, os.W_OK):
        return None
    path = parent / f"pcm-isolation-{secrets.token_hex(4)}"
    return host.mkdir(path, mode)


# --- environment ------------------------------------------------------------------------------


@needs_sandbox
def test_sandbox_cannot_read_the_host_environment(host: Host) -> None:
    key = f"sk-pcm-{secrets.token_hex(8)}"
    base = host.mkdir(host.scratch / "base")
    code = (
        "import os\nseen = {'os.environ': repr(dict(os.environ))}\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit() or pid in ('self', 'thread-self'):\n"
        "        try:\n"
        "            seen[pid] = open(f'/proc/{pid}/environ', 'rb').read().decode('utf-8', 'replace')\n"
        "        except OSError as exc:\n"
        "            seen[pid] = type(exc).__name__\n"
        "seen"
    )
    [result] = host.run_session(
        {"executor": "sandbox", "base": str(base), "cells": [code]},
        extra_env={"OPENAI_API_KEY": key},
    )
    assert result["error"] is None, result["error"]
    seen = result["value"]
    assert "1" in seen, sorted(seen)  # the sandbox's pid 1 (bubblewrap) was looked at
    leaks = {where: text[:200] for where, text in seen.items() if key in text}
    assert leaks == {}, f"the host's OPENAI_API_KEY is readable in the sandbox: {leaks}"


class _TokenEcho(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = json.dumps({"auth": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("kind", ["subprocess", "sandbox"])
async def test_tool_credentials_stay_on_the_host(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``${VAR}`` in an HTTP tool's headers is expanded on the host; worker code never sees
    it in ``os.environ``. The config's explicit ``env`` does reach the worker."""
    if kind == "sandbox":
        require("sandbox")
    token = f"tok-{secrets.token_hex(8)}"
    monkeypatch.setenv("PCM_API_TOKEN", token)
    monkeypatch.setenv("PCM_UNRELATED_SECRET", token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEcho)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "api.yaml").write_text(
        f"name: api\ntype: http\nbase_url: http://127.0.0.1:{server.server_port}\n"
        'headers: {Authorization: "Bearer ${PCM_API_TOKEN}"}\ntimeout: 5\n'
        "endpoints:\n  whoami:\n    path: /whoami\n"
    )
    options = {"tools_path": tools, "env": {"PCM_GIVEN": "by-the-operator"}}
    executor = (
        SubprocessExecutor(SubprocessConfig(**options))  # type: ignore[arg-type]
        if kind == "subprocess"
        else SandboxExecutor(SandboxConfig(**options))  # type: ignore[arg-type]
    )
    try:
        async with Session(storage=FileStorage(tmp_path / "base"), executor=executor) as session:
            seen = await session.run(
                f"import os\n[k for k, v in os.environ.items() if {token!r} in v]"
            )
            given = await session.run("import os\nos.environ.get('PCM_GIVEN')")
            called = await session.run("tools.api.whoami()['auth']")
            path = await session.run("import os\nbool(os.environ.get('PATH'))")
    finally:
        server.shutdown()
    assert seen.error is None and seen.value == [], seen.error or seen.value
    assert given.value == "by-the-operator", given.error
    assert called.value == f"Bearer {token}", called.error
    assert path.value is True


# --- host sockets -----------------------------------------------------------------------------


def _listen(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(64)
    return sock


@pytest.fixture
def redis_socket(host: Host) -> Iterator[Path]:
    """A real redis-server of the host user, on a unix socket only (no TCP port)."""
    require("redis")
    binary = shutil.which("redis-server")
    assert binary is not None
    folder = _scratch_dir(Path("/var/tmp"), host) or host.mkdir(host.home / "redis")
    path = folder / "redis.sock"
    proc = host.popen(
        [binary, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "777",
         "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not path.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
        yield path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


_SOCKET_PROBE = """
import os, socket, stat
found, connected = [], []
def walk(top):
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if entry.path not in ('/proc', '/sys'):
                    walk(entry.path)
            elif not entry.is_file(follow_symlinks=False) and not entry.is_symlink():
                if stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode):
                    found.append(entry.path)
        except OSError:
            pass
walk('/')
for path in sorted(set(found) | set(TARGETS)):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        connected.append(path.replace('\\0', '@'))
    except OSError:
        pass
    finally:
        s.close()
{'found': found, 'connected': connected}
"""


@needs_sandbox
def test_sandbox_reaches_no_host_socket(host: Host, redis_socket: Path) -> None:
    """No filesystem socket of the host (Docker's, a local Redis's, world-connectable ones such
    as D-Bus's, the user's own) and no abstract one can be connected to from the sandbox."""
    listeners, targets, folders = [], [str(redis_socket)], []
    for parent in (Path("/run"), Path("/var/tmp"), Path("/dev/shm"), host.home, host.scratch):
        folder = _scratch_dir(parent, host)
        if folder is None:
            continue
        folders.append(folder)
        for name, mode in (("world.sock", 0o777), ("own.sock", 0o600)):
            path = folder / name
            listeners.append(_listen(str(path)))
            host.chown(path)
            path.chmod(mode)
            targets.append(str(path))
    abstract = f"\0pcm-isolation-{secrets.token_hex(4)}"
    listeners.append(_listen(abstract))
    targets.append(abstract)
    for known in ("/var/run/docker.sock", "/run/dbus/system_bus_socket", "/run/containerd/containerd.sock"):  # fmt: skip
        if os.path.exists(known):
            targets.append(known)
    base = host.mkdir(host.scratch / "base")
    try:
        [result] = host.run_session(
            {
                "executor": "sandbox",
                "base": str(base),
                "cells": [f"TARGETS = {targets!r}\n" + _SOCKET_PROBE],
                "timeout": 120,
            }
        )
    finally:
        for listener in listeners:
            listener.close()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    assert result["error"] is None, result["error"]
    assert result["value"]["connected"] == [], (
        f"host sockets reachable from the sandbox: {result['value']['connected']}"
    )


# --- files outside the allow-list -------------------------------------------------------------


@needs_sandbox
def test_sandbox_reads_no_file_outside_its_allow_list(host: Host) -> None:
    """The user's files (0600 and world-readable) wherever they live, and another agent's
    storage folder, are neither readable nor visible in the sandbox."""
    secret = f"secret-{secrets.token_hex(8)}"
    paths: list[Path] = []
    folders = [host.home]
    for parent in (Path("/var/tmp"), Path("/opt"), Path("/mnt"), host.scratch):
        folder = _scratch_dir(parent, host)
        if folder is not None:
            folders.append(folder)
    for folder in folders:
        paths.append(host.write(folder / ".env", f"OPENAI_API_KEY={secret}\n", 0o600))
        paths.append(host.write(folder / "notes.txt", secret, 0o644))
    # Another agent's storage folder, written by its own session (as the host user).
    other = folders[1] / "other-agent" if len(folders) > 1 else host.home / "other-agent"
    host.mkdir(other)
    host.run_session(
        {
            "executor": "subprocess",
            "base": str(other),
            "cells": [
                f"artifacts.save('plan.json', {{'key': {secret!r}}})",
                f"skills.create('private', 'def run():\\n    return {secret!r}\\n')",
            ],
        }
    )
    stored = [
        p for p in other.rglob("*") if p.is_file() and secret in p.read_text(errors="replace")
    ]
    assert stored, "the other agent's session stored nothing"
    paths += stored
    base = host.mkdir(host.scratch / "base")
    code = (
        f"import os\nout = {{}}\nfor path in {[str(p) for p in paths]!r}:\n"
        "    try:\n"
        "        out[path] = open(path).read()\n"
        "    except OSError as exc:\n"
        "        out[path] = type(exc).__name__ + (' (exists)' if os.path.lexists(path) else '')\n"
        "out"
    )
    try:
        [result] = host.run_session({"executor": "sandbox", "base": str(base), "cells": [code]})
    finally:
        for folder in folders[1:]:
            shutil.rmtree(folder, ignore_errors=True)
    assert result["error"] is None, result["error"]
    read = {p: v[:80] for p, v in result["value"].items() if secret in v}
    assert read == {}, f"files outside the sandbox's allow-list were read: {read}"
    visible = {p: v for p, v in result["value"].items() if "exists" in v}
    assert visible == {}, f"files outside the sandbox's allow-list are visible: {visible}"


# --- the workspace ----------------------------------------------------------------------------


@needs_sandbox
def test_workspace_stays_writable_after_the_spare_and_a_restart(host: Host) -> None:
    base = host.mkdir(host.scratch / "base")
    results = host.run_session(
        {
            "executor": "sandbox",
            "base": str(base),
            "wait_spare": True,  # the warm spare has started before the first write
            "cells": [
                "open('/tmp/workspace/a.txt', 'w').write('one')",
                "import os\nos._exit(3)",  # the next cell runs in a fresh worker
                "import os\nopen('/tmp/workspace/a.txt', 'a').write('two')\n"
                "os.makedirs('/tmp/workspace/sub', exist_ok=True)\n"
                "open('/tmp/workspace/sub/b.txt', 'w').write('x')\n"
                "open('/tmp/workspace/a.txt').read()",
            ],
        }
    )
    assert results[0]["error"] is None, results[0]["error"]
    assert results[1]["error"] is not None and "worker process died" in results[1]["error"]
    assert results[2]["error"] is None, results[2]["error"]
    assert results[2]["value"] == "onetwo"


# --- deps: no package code runs on the host ---------------------------------------------------


def _deps_job(host: Host, executor: str) -> tuple[dict[str, object], Path, str]:
    """A wheelhouse with an sdist that marks any build of it, and a wheel; cells that add both."""
    from wheels import build_sdist, build_wheel

    suffix = secrets.token_hex(3)
    evil, good = f"evilpkg_{suffix}", f"goodpkg_{suffix}"
    wheelhouse = host.mkdir(host.scratch / "wheelhouse", 0o755)
    marker = host.scratch / "marker"
    build_sdist(wheelhouse, evil, marker)
    build_wheel(wheelhouse, good, body="VALUE = 42\n")
    for path in wheelhouse.iterdir():
        host.chown(path)
    base = host.mkdir(host.scratch / "base")
    job = {
        "executor": executor,
        "base": str(base),
        "installer": {"find_links": [str(wheelhouse)], "no_index": True, "timeout": 120},
        "cells": [
            f"deps.add({evil!r})",
            f"deps.add({good!r}).installed",
            f"import {good}\n{good}.VALUE",
        ],
        "timeout": 150,
    }
    return job, marker, good


@pytest.mark.parametrize("executor", ["subprocess", "sandbox", "container"])
def test_deps_add_never_builds_a_package_on_the_host(host: Host, executor: str) -> None:
    """``deps.add`` of a package that only has a source distribution is refused: building it
    would run its setup.py on the host. Wheels still install and import."""
    if executor == "sandbox":
        require("sandbox")
    if executor == "container":
        if host.switch:
            pytest.skip("the unprivileged test uid has no access to the Docker daemon")
        require("docker")
    job, marker, good = _deps_job(host, executor)
    refused, installed, imported = host.run_session(job, timeout=400)
    assert not marker.exists(), f"the package's setup.py ran on the host: {marker.read_text()}"
    assert refused["error"] is not None and "DependencyError" in refused["error"]
    assert "wheel" in refused["error"], refused["error"]
    assert installed["error"] is None, installed["error"]
    assert installed["value"] == [good.replace("_", "-")]
    assert imported["value"] == 42, imported["error"]


# --- a worker dies with its host --------------------------------------------------------------


def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    return children


def _start_time(pid: int) -> str | None:
    """The process's start time (None once it is gone or a zombie): identifies it across
    pid reuse."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _descendants(pid: int) -> dict[int, str]:
    children, out, queue = _proc_children(), {}, [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            started = _start_time(child)
            if started is not None:
                out[child] = started
            queue.append(child)
    return out


def _hangups_by_default() -> None:
    """Run in the CLI's process before it starts: a test run started under ``nohup`` passes
    SIGHUP on as ignored to every child, where a CLI in a closing terminal gets the default
    (terminate), the case this test is about."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name
)
@pytest.mark.parametrize("executor", ["subprocess", "sandbox"])
def test_worker_dies_with_a_killed_cli(host: Host, executor: str, sig: signal.Signals) -> None:
    if executor == "sandbox":
        require("sandbox")
    base = host.mkdir(host.scratch / "base")
    script = Path(sys.executable).with_name("py-code-mode")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "py_code_mode"]
    # The cell marks that it runs (in the host's cwd, or the sandbox's workspace under TMPDIR)
    # and then spins, as a runaway cell would.
    code = "open('started', 'w').close()\nwhile True:\n    pass"
    cli = host.popen(
        [*command, "run", "-c", code, "--base", str(base), "--executor", executor,
         "--timeout", "300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_hangups_by_default,
    )  # fmt: skip
    workers: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while not list(host.scratch.rglob("started")):
            assert cli.poll() is None, f"the CLI exited early: {cli.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the cell never started"
            time.sleep(0.05)
        workers = _descendants(cli.pid)
        assert workers, "the CLI has no worker process"
        os.kill(cli.pid, sig)
        cli.wait(timeout=30)
        deadline = time.monotonic() + 15
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = {p: s for p, s in workers.items() if _start_time(p) == s}
        survivors = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in alive}
        assert survivors == {}, f"processes outlived the killed CLI: {survivors}"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(timeout=30)
        for pid, started in workers.items():
            if _start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)
        assert cli.stderr is not None
        cli.stderr.close()


# --- what the allow-list shows ----------------------------------------------------------------


@needs_sandbox
async def test_operator_paths_are_shown_and_the_storage_inside_them_is_not(tmp_path: Path) -> None:
    """``ro_paths`` exposes a folder read-only; a storage folder inside it stays masked, and the
    deps overlay inside that storage folder is back on the worker's path."""
    from wheels import build_wheel

    from py_code_mode.deps import PackageInstaller

    shared = tmp_path / "shared"
    (shared / "data").mkdir(parents=True)
    (shared / "data" / "table.csv").write_text("a,b\n1,2\n")
    wheelhouse = build_wheel(tmp_path / "wheels", "pcm_masked_dep").parent
    installer = PackageInstaller(find_links=[str(wheelhouse)], no_index=True, timeout=120)
    config = SandboxConfig(ro_paths=(str(shared),), deps_installer=installer)
    storage = FileStorage(shared / "agent")
    async with Session(storage=storage, executor=SandboxExecutor(config)) as session:
        await session.run("artifacts.save('plan.json', {'secret': 1})")
        data = await session.run(f"open({str(shared / 'data' / 'table.csv')!r}).read()")
        listing = await session.run(f"import os\nos.listdir({str(shared / 'agent')!r})")
        write = await session.run(f"open({str(shared / 'data' / 'new.txt')!r}, 'w')")
        added = await session.run("deps.add('pcm_masked_dep').installed")
        imported = await session.run("import pcm_masked_dep\npcm_masked_dep.VALUE")
    assert data.value == "a,b\n1,2\n", data.error
    assert listing.error is None and listing.value == [".deps"], listing.error or listing.value
    assert write.error is not None and "Read-only file system" in write.error
    assert added.value == ["pcm-masked-dep"], added.error
    assert imported.value == 42, imported.error


@needs_sandbox
async def test_a_different_interpreter_brings_its_own_library_folders(tmp_path: Path) -> None:
    """The allow-list follows the worker's interpreter (asked once), not the host's."""
    other = shutil.which("python3", path="/usr/bin:/usr/local/bin")
    if other is None or Path(other).resolve() == Path(sys.executable).resolve():
        pytest.skip("no second Python interpreter on this machine")
    config = SandboxConfig(python_executable=other)
    async with Session(storage=FileStorage(tmp_path), executor=SandboxExecutor(config)) as session:
        result = await session.run("import sys, json, sqlite3\nsys.executable, sys.prefix")
    assert result.error is None, result.error
    assert result.value[0] == other


@needs_sandbox
async def test_network_true_shares_the_hosts_network(tmp_path: Path) -> None:
    """``network=True`` is the documented exception: the host's network namespace (its
    loopback services included) and its name resolution."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    code = (
        f"import socket\nsocket.create_connection(('localhost', {port}), timeout=5).close()\n'ok'"
    )
    try:
        async with Session(
            storage=FileStorage(tmp_path), executor=SandboxExecutor(SandboxConfig(network=True))
        ) as session:
            result = await session.run(code)
    finally:
        listener.close()
    assert result.value == "ok", result.error
