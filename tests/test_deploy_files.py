"""deploy/ files agree with each other (no Docker or cluster needed; tests/test_deploy.py runs
the compose topology itself)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_compose_services_and_nginx_ports_agree() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "server-1", "server-2", "proxy"}
    assert all(s["network_mode"] == "host" for s in services.values())
    nginx = (DEPLOY / "nginx.conf").read_text()
    upstream = re.findall(r"server 127\.0\.0\.1:(\d+)", nginx)
    server_ports = []
    for name in ("server-1", "server-2"):
        command = services[name]["command"]
        assert command[:2] == ["py-code-mode", "serve"]
        assert command[command.index("--host") + 1] == "127.0.0.1"
        port = command[command.index("--port") + 1]
        server_ports.append(re.fullmatch(r"\$\{PCM_SERVER_\d_PORT:-(\d+)\}", port).group(1))  # type: ignore[union-attr]
        assert "--token-file" in command and services[name]["read_only"] is True
    assert upstream == server_ports
    assert re.search(r"hash \$pcm_session consistent;", nginx)
    assert "listen 127.0.0.1:8080;" in nginx


def test_compose_file_is_valid_for_the_compose_tool(tmp_path: Path) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        from conftest import required_capabilities

        if "docker" in required_capabilities():  # .ci/run installs it
            pytest.fail("docker-compose is required (PY_CODE_MODE_REQUIRE) but not installed")
        pytest.skip("docker-compose is not installed")
    token = tmp_path / "token"
    token.write_text("x")
    proc = subprocess.run(
        [tool, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        env={"PATH": "/usr/bin:/bin", "PCM_TOKEN_FILE": str(token)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_kubernetes_manifests_are_consistent() -> None:
    folder = DEPLOY / "kubernetes"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((folder / name).read_text()) if d]
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(
        [*kustomization["resources"], "kustomization.yaml"]
    )
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
    # Every Service selects pods that some workload labels.
    labels = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in docs
        if d["kind"] in ("StatefulSet", "Deployment")
    ]
    for (kind, _), doc in by_kind.items():
        if kind == "Service":
            assert doc["spec"]["selector"] in labels
    servers = by_kind[("StatefulSet", "session-server")]
    nginx = by_kind[("ConfigMap", "session-proxy")]["data"]["nginx.conf"]
    names = re.findall(r"server (session-server-\d+)\.session-server:8080", nginx)
    assert names == [f"session-server-{i}" for i in range(servers["spec"]["replicas"])]
    args = servers["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["py-code-mode", "serve"] and "--token-file" in args
    assert "redis://redis:6379/0" in args
