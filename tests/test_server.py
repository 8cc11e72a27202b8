"""The session server, as a real process on 127.0.0.1, driven over real HTTP (httpx)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from session_server import (
    DOUBLE,
    PY,
    TOKEN,
    RunningServer,
    base_with_echo_tool,
    free_port,
    serve,
    wait_healthy,
)
from wheels import build_wheel


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("server")
    base_with_echo_tool(tmp)
    wheels = tmp / "wheels"
    build_wheel(wheels, "tinypkg_served", "1.0", "VALUE = 'served'\n")
    build_wheel(wheels, "tinypkg_operator", "1.0", "VALUE = 'operator'\n")
    pip = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    with serve(
        tmp, "--max-body-bytes", "200000", "--max-code-bytes", "50000", "--timeout", "600",
        env=pip,
    ) as running:  # fmt: skip
        yield running


def run(http: httpx.Client, code: str, sid: str | None = None, **extra: object) -> dict:
    headers = {"X-Session-ID": sid} if sid else {}
    response = http.post("/execute", json={"code": code, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# --- starting -------------------------------------------------------------------------------


def test_refuses_to_start_without_auth(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CONTAINER_AUTH_TOKEN"}
    proc = subprocess.run(
        [PY, "-m", "py_code_mode", "serve", "--base", str(tmp_path), "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "refusing to start without authentication" in proc.stderr
    assert "--auth-disabled" in proc.stderr and "--token-file" in proc.stderr


def test_reference_module_path_refuses_without_auth_then_serves_with_env(tmp_path: Path) -> None:
    """``uvicorn py_code_mode.execution.container.server:app`` with the reference's env."""
    env = {k: v for k, v in os.environ.items() if k != "CONTAINER_AUTH_TOKEN"}
    env["PY_CODE_MODE_BASE"] = str(tmp_path / "base")
    port = free_port()
    argv = [PY, "-m", "uvicorn", "py_code_mode.execution.container.server:app",
            "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode != 0
    assert "refusing to start without authentication" in refused.stderr + refused.stdout
    env.update({"CONTAINER_AUTH_TOKEN": TOKEN, "DEFAULT_TIMEOUT": "7"})
    with (
        serve(tmp_path, argv=[*argv[:-1], "{port}"], env=env, token=TOKEN) as running,
        running.client() as http,
    ):
        out = run(http, "import os\n(os.environ.get('CONTAINER_AUTH_TOKEN'), 6 * 7)")
        # The token never reaches the code's environment.
        assert out["value"] == [None, 42] and out["error"] is None
        slow = run(http, "import time\ntime.sleep(30)")
        assert "timed out after 7" in slow["error"]


def test_health_needs_no_auth_and_openapi_lists_the_routes(server: RunningServer) -> None:
    health = httpx.get(f"{server.url}/health", timeout=30)
    assert health.status_code == 200
    assert health.json()["status"] == "healthy" and health.json()["uptime_seconds"] >= 0
    spec = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    for path in ("/execute", "/reset", "/info", "/install_deps", "/uninstall_deps",
                 "/api/tools", "/api/tools/search", "/api/skills", "/api/skills/{name}",
                 "/api/artifacts", "/api/artifacts/{name}", "/api/deps", "/api/deps/add"):  # fmt: skip
        assert path in spec["paths"], path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


# --- auth -------------------------------------------------------------------------------------


def test_auth_refuses_missing_or_wrong_tokens_and_never_shows_the_token(
    server: RunningServer,
) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN}):  # fmt: skip
        refused = httpx.post(
            f"{server.url}/execute", json={"code": "1"}, headers=headers, timeout=30
        )
        assert refused.status_code == 401
        assert TOKEN not in refused.text
        assert httpx.get(f"{server.url}/info", headers=headers, timeout=30).status_code == 401
    # Unknown paths need the token too (fail closed); the API description does not.
    assert httpx.get(f"{server.url}/nowhere", timeout=30).status_code == 401
    assert httpx.get(f"{server.url}/docs", timeout=30).status_code == 200
    # Auth comes before the body is read: no token, a huge body, still 401.
    huge = httpx.post(f"{server.url}/execute", content=b"x" * 300_000, timeout=30)
    assert huge.status_code == 401
    with server.client() as http:
        assert http.get("/nowhere").status_code == 404
        out = run(http, "import os\nsorted(k for k, v in os.environ.items() if 't0ken' in v)")
        assert out["value"] == []
        assert TOKEN not in http.get("/info").text
        bad = http.post("/api/skills", json={"name": "x y", "source": DOUBLE})
        assert bad.status_code == 400 and TOKEN not in bad.text
    assert TOKEN not in server.output()


# --- sessions -----------------------------------------------------------------------------------


def test_execute_keeps_state_per_session_id(server: RunningServer) -> None:
    with server.client() as http:
        first = run(http, "x = 20\nprint('hi')\nx * 2")
        assert first["value"] == 40 and first["stdout"] == "hi\n" and first["error"] is None
        assert first["execution_time_ms"] >= 0
        sid = first["session_id"]
        assert len(sid) >= 16
        again = run(http, "x + 1", sid)
        assert again["value"] == 21 and again["session_id"] == sid
        other = run(http, "globals().get('x')", "client-chosen-id")
        assert other["value"] is None and other["session_id"] == "client-chosen-id"
        assert run(http, "x = 'mine'", "client-chosen-id")["error"] is None
        assert run(http, "x", sid)["value"] == 20
        exact = run(http, "(1, {2}, b'\\x00', {3: 'k'})", sid)
        assert exact["value"] == [1, [2], "b'\\x00'", {"3": "k"}]
        assert exact["value_wire"] is not None and exact["repr"] == "(1, {2}, b'\\x00', {3: 'k'})"
        obj = run(http, "object()", sid)
        assert obj["value"].startswith("<object object") and obj["value_wire"] is None
        nan = run(http, "float('nan')", sid)
        assert nan["value"] == "nan"
        error = run(http, "1 / 0", sid)
        assert error["error"] == "ZeroDivisionError: division by zero"
        assert "ZeroDivisionError" in error["traceback"]
        bad_id = http.post("/execute", json={"code": "1"}, headers={"X-Session-ID": "a b/../c"})
        assert bad_id.status_code == 400 and "X-Session-ID" in bad_id.json()["detail"]


def test_reset_clears_variables_and_keeps_the_id(server: RunningServer) -> None:
    with server.client() as http:
        sid = run(http, "kept = 1")["session_id"]
        reset = http.post("/reset", headers={"X-Session-ID": sid})
        assert reset.json() == {"status": "reset", "session_id": sid}
        after = run(http, "kept", sid)
        assert after["error"] == "NameError: name 'kept' is not defined"
        assert after["session_id"] == sid
        assert run(http, "artifacts.save('survives', 1)\nkept = 2\nkept", sid)["value"] == 2


def test_timeout_and_worker_death_behave_as_in_a_local_session(server: RunningServer) -> None:
    with server.client() as http:
        sid = run(http, "kept = 'yes'")["session_id"]
        slow = run(http, "import time\ntime.sleep(60)", sid, timeout=1)
        assert slow["error"] == "TimeoutError: Execution timed out after 1 seconds"
        assert run(http, "kept", sid)["value"] == "yes"
        dead = run(http, "import os\nos._exit(3)", sid)
        assert "exit code 3" in dead["error"]
        fresh = run(http, "globals().get('kept', 'gone'), 1 + 1", sid)
        assert fresh["value"] == ["gone", 2] and fresh["error"] is None


def test_client_that_disconnects_mid_run_does_not_leave_the_worker_running(
    server: RunningServer,
) -> None:
    """The server runs with --timeout 600: only the disconnect can stop this loop."""
    with server.client() as http:
        sid = run(http, "n = 0")["session_id"]
    with server.client(timeout=2) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/execute", json={"code": "while True:\n    n += 1"},
                  headers={"X-Session-ID": sid})  # fmt: skip
    with server.client(timeout=60) as http:
        # The next run gets the worker (it would wait for the loop otherwise), and the state
        # the loop built survived the interrupt.
        after = run(http, "n > 0, 'next run'", sid)
        assert after["value"] == [True, "next run"]


def test_oversized_bodies_and_code_get_413(server: RunningServer) -> None:
    big = "x = 1\n" * 40_000  # 240 kB: over the 200 kB body limit
    with server.client() as http:
        declared = http.post("/execute", json={"code": big})
        assert declared.status_code == 413 and "200000 bytes" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            yield b'{"code": "'
            for _ in range(300):
                yield b"#" * 1000
            yield b'"}'

        streamed = http.post(
            "/execute", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        code = "# " + "y" * 60_000  # under the body limit, over the 50 kB code limit
        too_much_code = http.post("/execute", json={"code": code})
        assert too_much_code.status_code == 413
        assert "code too large" in too_much_code.json()["detail"]
        assert run(http, "'still serving'")["value"] == "still serving"


def test_session_limit_gives_503_then_idle_sessions_expire(tmp_path: Path) -> None:
    with (
        serve(tmp_path, "--max-sessions", "2", "--idle-timeout", "3") as small,
        small.client() as http,
    ):
        a = run(http, "v = 'a'")["session_id"]
        run(http, "v = 'b'", "second")
        full = http.post("/execute", json={"code": "1"}, headers={"X-Session-ID": "third"})
        if full.status_code == 200:
            pytest.skip("the machine was so slow that a session expired before the third")
        assert full.status_code == 503
        assert "maximum of 2 sessions" in full.json()["detail"]
        assert full.headers["retry-after"]
        # Poll more slowly than the idle timeout: a live answer refreshes the session, so
        # keep asking until the sweeper has closed it and the server says it expired.
        while True:
            time.sleep(4)
            answer = http.post("/execute", json={"code": "v"}, headers={"X-Session-ID": a})
            if answer.status_code == 410:
                break
            assert answer.json()["value"] == "a"
        detail = answer.json()["detail"]
        assert "expired" in detail and "variables are gone" in detail
        assert answer.json()["error"]["type"] == "SessionExpiredError"
        fresh = run(http, "globals().get('v', 'fresh')", a)
        assert fresh["value"] == "fresh"


def test_close_session_frees_its_slot(tmp_path: Path) -> None:
    with serve(tmp_path, "--max-sessions", "1") as small, small.client() as http:
        sid = run(http, "1")["session_id"]
        assert http.post("/execute", json={"code": "1"}).status_code == 503
        closed = http.delete("/session", headers={"X-Session-ID": sid})
        assert closed.json() == {"status": "closed", "session_id": sid}
        assert run(http, "2")["value"] == 2


# --- facade mirrors -----------------------------------------------------------------------------


def test_info_and_tools(server: RunningServer) -> None:
    with server.client() as http:
        info = http.get("/info").json()
        assert {"name": "echo", "description": "Print text to standard output"} in info["tools"]
        assert info["executor"] == "subprocess" and "timeout" in info["capabilities"]
        assert info["artifacts_path"].endswith("artifacts")
        tools = http.get("/api/tools").json()
        assert [t["name"] for t in tools] == ["echo"]
        found = http.get("/api/tools/search", params={"query": "print text"}).json()
        assert found[0]["name"] == "echo"
        assert run(http, "tools.echo(words=['a', 'b']).strip()")["value"] == "a b"


def test_skills_api_and_invoke(server: RunningServer) -> None:
    with server.client() as http:
        created = http.post(
            "/api/skills", json={"name": "double", "source": DOUBLE, "description": "Double it"}
        )
        assert created.status_code == 200 and created.json()["name"] == "double"
        assert "double" in [s["name"] for s in http.get("/api/skills").json()]
        assert (
            http.get("/api/skills/search", params={"query": "double"}).json()[0]["name"] == "double"
        )
        assert http.get("/api/skills/double").json()["source"] == DOUBLE
        assert http.get("/api/skills/missing").json() is None
        invoked = http.post("/api/skills/double/invoke", json={"args": {"x": 21}})
        assert invoked.json()["value"] == 42
        assert run(http, "skills.double(x=4)")["value"] == 8
        refused = http.post("/api/skills", json={"name": "bad", "source": "def nope(:\n"})
        assert refused.status_code == 400
        assert refused.json()["error"]["type"] in ("SkillSyntaxError", "SkillValidationError")
        assert http.delete("/api/skills/double").json() is True
        assert http.delete("/api/skills/double").json() is False


def test_artifacts_api(server: RunningServer) -> None:
    with server.client() as http:
        saved = http.post("/api/artifacts", json={"name": "cfg", "data": {"a": [1, 2]},
                                                  "description": "a config"})  # fmt: skip
        assert saved.json()["name"] == "cfg" and saved.json()["description"] == "a config"
        assert http.get("/api/artifacts/cfg").json() == {"a": [1, 2]}
        raw = http.post(
            "/api/artifacts", json={"name": "blob", "data": "AAEC", "encoding": "base64"}
        )
        assert raw.status_code == 200
        blob = http.get("/api/artifacts/blob")
        assert blob.headers["content-type"] == "application/octet-stream"
        assert blob.content == b"\x00\x01\x02"
        assert run(http, "artifacts.load('blob')")["value_wire"] == {"$t": "bytes", "v": "AAEC"}
        assert {"cfg", "blob"} <= {a["name"] for a in http.get("/api/artifacts").json()}
        assert http.get("/api/artifacts/nope").status_code == 404
        assert http.delete("/api/artifacts/cfg").status_code == 200
        assert http.delete("/api/artifacts/cfg").status_code == 404
        bad = http.post("/api/artifacts", json={"name": "../escape", "data": 1})
        assert bad.status_code == 400


def test_deps_api_installs_from_the_configured_index(server: RunningServer) -> None:
    with server.client(timeout=180) as http:
        added = http.post("/api/deps/add", json={"package": "tinypkg_served"})
        assert added.status_code == 200, added.text
        assert added.json()["installed"] == ["tinypkg-served"]
        assert "tinypkg-served" in http.get("/api/deps").json()
        assert run(http, "import tinypkg_served\ntinypkg_served.VALUE")["value"] == "served"
        operator = http.post("/install_deps", json={"packages": ["tinypkg_operator", "--evil"]})
        assert operator.json()["installed"] == ["tinypkg-operator"]
        assert operator.json()["failed"] == ["--evil"]
        assert run(http, "import tinypkg_operator\ntinypkg_operator.VALUE")["value"] == "operator"
        removed = http.post("/uninstall_deps", json={"packages": ["tinypkg-served", "never"]})
        assert removed.json()["removed"] == ["tinypkg-served"]
        assert removed.json()["not_found"] == ["never"]
        bad = http.post("/api/deps/add", json={"package": "--index-url=http://evil"})
        assert bad.status_code == 400


def test_runtime_deps_disabled_gives_403_but_the_operator_may_install(tmp_path: Path) -> None:
    build_wheel(tmp_path / "wheels", "tinypkg_locked", "1.0", "VALUE = 'locked'\n")
    pip = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "wheels")}
    with serve(tmp_path, "--no-runtime-deps", env=pip) as locked, locked.client() as http:
        refused = http.post("/api/deps/add", json={"package": "tinypkg_locked"})
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "RuntimeDepsDisabledError"
        in_code = run(http, "deps.add('tinypkg_locked')")
        assert in_code["error"].startswith("RuntimeDepsDisabledError")
        operator = http.post("/install_deps", json={"packages": ["tinypkg_locked"]})
        assert operator.json()["installed"] == ["tinypkg-locked"]
        assert run(http, "import tinypkg_locked\ntinypkg_locked.VALUE")["value"] == "locked"


def test_serve_with_redis_storage(tmp_path: Path, redis_url: str) -> None:
    prefix = f"srv{os.getpid()}"
    with (
        serve(tmp_path, "--redis", redis_url, "--prefix", prefix) as shared,
        shared.client() as http,
    ):
        triple = DOUBLE.replace("2 *", "3 *")
        assert run(http, f"skills.create('triple', {triple!r})")["error"] is None
        assert http.get("/api/skills/triple").json()["name"] == "triple"
        assert run(http, "skills.triple(x=3)")["value"] == 9
        assert http.get("/info").json()["artifacts_path"].startswith("redis:")


def test_cli_flags_win_over_the_environment(tmp_path: Path) -> None:
    env = {"CONTAINER_AUTH_TOKEN": "from-env", "PY_CODE_MODE_MAX_SESSIONS": "5"}
    port = free_port()
    argv = [PY, "-m", "py_code_mode", "serve", "--port", str(port), "--base", str(tmp_path),
            "--auth-disabled"]  # fmt: skip
    log = tmp_path / "log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **env})  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        open_ = httpx.post(f"http://127.0.0.1:{port}/execute", json={"code": "1"}, timeout=60)
        assert open_.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "from-env" not in log.read_text()


@pytest.mark.skipif(sys.platform != "linux", reason="bubblewrap is Linux-only")
def test_sandbox_executor_sessions(tmp_path: Path) -> None:
    from conftest import require

    require("sandbox")
    with serve(tmp_path, "--executor", "sandbox") as sandboxed, sandboxed.client() as http:
        out = run(http, "import os\nx = os.getuid()\nx != 0")
        assert out["value"] is True, out
        assert "network_isolation" in http.get("/info").json()["capabilities"]
