"""deploy/compose.yaml brought up with Docker: two session servers in containers, real Redis and
real nginx (from Debian's packages, built offline), all on the host network bound to 127.0.0.1.

Skipped, with the reason, only where no Docker daemon or no compose tool runs (.ci/run
installs both). Missing or stale images are built first (`py-code-mode container build
--edge` does the same).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from session_server import free_port

from py_code_mode.execution.container import (
    DEFAULT_IMAGE,
    EDGE_IMAGE,
    build_base,
    build_image,
    docker_problem,
    image_label,
    image_present,
    source_digest,
)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
TOKEN = "deploy-test-token-8d2e"
TRIPLE = "def run(x: int) -> int:\n    '''Triple a number.'''\n    return 3 * x\n"


def _compose() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return ["docker", "compose"] if probe.returncode == 0 else None


PROBLEM = docker_problem()
COMPOSE = _compose() if PROBLEM is None else None
if PROBLEM is None and COMPOSE is None:
    PROBLEM = "no compose tool (Debian: apt-get install docker-compose)"


@pytest.fixture(autouse=True)
def _compose_available() -> None:
    """Skip without Docker and a compose tool; fail instead where CI requires docker."""
    from conftest import required_capabilities

    if PROBLEM is None:
        return
    if "docker" in required_capabilities():
        pytest.fail(f"docker is required (PY_CODE_MODE_REQUIRE) but compose cannot run: {PROBLEM}")
    pytest.skip(f"cannot run compose: {PROBLEM}")


@dataclass
class Topology:
    proxy: str
    servers: dict[str, str]  # compose service name -> URL
    compose: list[str]
    env: dict[str, str]

    def client(self, url: str) -> httpx.Client:
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)

    def run(self, cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.compose, *cmd], env=self.env, capture_output=True, text=True, timeout=timeout
        )


def _ensure_images() -> None:
    if image_label(DEFAULT_IMAGE) != source_digest():
        build_image(DEFAULT_IMAGE)
    if not image_present(EDGE_IMAGE):
        build_base(EDGE_IMAGE, "redis-server,nginx-light")


def _wait_healthy(urls: list[str], deadline_s: float = 180) -> None:
    deadline = time.monotonic() + deadline_s
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        url = pending[0]
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    if pending:
        raise RuntimeError(f"not healthy: {pending}")


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    assert COMPOSE is not None
    _ensure_images()
    tmp = tmp_path_factory.mktemp("deploy")
    ports = {name: free_port() for name in ("proxy", "server-1", "server-2", "redis")}
    token = tmp / "token"
    token.write_text(TOKEN)
    token.chmod(0o644)  # the servers run as uid 65534
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    for default, name in (("8080", "proxy"), ("8081", "server-1"), ("8082", "server-2")):
        nginx = nginx.replace(f"127.0.0.1:{default}", f"127.0.0.1:{ports[name]}")
    conf = tmp / "nginx.conf"
    conf.write_text(nginx)
    conf.chmod(0o644)
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"pcmdeploy{os.getpid()}",
        "PCM_IMAGE": DEFAULT_IMAGE,
        "PCM_REDIS_IMAGE": EDGE_IMAGE,
        "PCM_NGINX_IMAGE": EDGE_IMAGE,
        "PCM_TOKEN_FILE": str(token),
        "PCM_NGINX_CONF": str(conf),
        "PCM_REDIS_PORT": str(ports["redis"]),
        "PCM_SERVER_1_PORT": str(ports["server-1"]),
        "PCM_SERVER_2_PORT": str(ports["server-2"]),
        "PCM_PREFIX": f"deploy{os.getpid()}",
    }
    topo = Topology(
        proxy=f"http://127.0.0.1:{ports['proxy']}",
        servers={n: f"http://127.0.0.1:{ports[n]}" for n in ("server-1", "server-2")},
        compose=[*COMPOSE, "-f", str(COMPOSE_FILE)],
        env=env,
    )
    up = topo.run(["up", "-d"])
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        _wait_healthy([*topo.servers.values(), topo.proxy])
        yield topo
    except BaseException:
        print(topo.run(["logs", "--no-color", "--tail", "80"], timeout=60).stdout)
        raise
    finally:
        topo.run(["down", "-v", "--timeout", "10"], timeout=180)


def execute(http: httpx.Client, code: str, sid: str) -> tuple[dict, str]:
    response = http.post("/execute", json={"code": code}, headers={"X-Session-ID": sid})
    assert response.status_code == 200, response.text
    return response.json(), response.headers.get("x-upstream", "")


def test_sessions_skills_and_a_stopped_server(topology: Topology) -> None:
    port_of = {url.rsplit(":", 1)[1]: name for name, url in topology.servers.items()}
    with topology.client(topology.proxy) as proxy:
        # 20 sessions through the proxy, spread over both servers by their ids.
        home: dict[str, str] = {}
        for i in range(20):
            out, upstream = execute(proxy, f"x = {i}\nimport os\nos.getpid()", f"sess-{i}")
            assert out["error"] is None, out
            home[f"sess-{i}"] = port_of[upstream.rsplit(":", 1)[-1]]
        assert set(home.values()) == {"server-1", "server-2"}, home
        # Each keeps its own state across runs, always on the same server.
        for i in range(20):
            out, upstream = execute(proxy, "x += 100\nx", f"sess-{i}")
            assert out["value"] == 100 + i
            assert port_of[upstream.rsplit(":", 1)[-1]] == home[f"sess-{i}"]
        # A request without an id gets one from the proxy, and the next one finds its session.
        first = proxy.post("/execute", json={"code": "y = 'kept'"})
        new_id = first.json()["session_id"]
        again, _ = execute(proxy, "y", new_id)
        assert again["value"] == "kept"

    # A skill created through one server is found and invoked through the other.
    with topology.client(topology.servers["server-1"]) as one:
        created = one.post("/api/skills", json={"name": "triple", "source": TRIPLE,
                                                "description": "Triple a number"})  # fmt: skip
        assert created.status_code == 200, created.text
        saved, _ = execute(one, "artifacts.save('shared-report', {'rows': 3})", "writer")
        assert saved["error"] is None
    with topology.client(topology.servers["server-2"]) as two:
        found = two.get("/api/skills/search", params={"query": "triple a number"}).json()
        assert found and found[0]["name"] == "triple"
        out, _ = execute(two, "skills.search('triple')[0]['name'], skills.triple(x=5)", "reader")
        assert out["value"] == ["triple", 15]
        out, _ = execute(two, "artifacts.load('shared-report')", "reader")
        assert out["value"] == {"rows": 3}

    # Stop server-1: only the sessions it held lose their variables.
    stopped = topology.run(["stop", "--timeout", "10", "server-1"], timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    with topology.client(topology.proxy) as proxy:
        for sid, server in home.items():
            out, upstream = execute(proxy, "globals().get('x')", sid)
            assert port_of[upstream.rsplit(":", 1)[-1]] == "server-2"
            i = int(sid.rsplit("-", 1)[1])
            assert out["value"] == (100 + i if server == "server-2" else None), (sid, server)
        out, _ = execute(proxy, "skills.triple(x=7), artifacts.load('shared-report')", "after")
        assert out["value"] == [21, {"rows": 3}]
