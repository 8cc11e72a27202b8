"""The MCP server over HTTP requires a token by default (generated and printed when none is
given), serves without one only on loopback when told to, treats an empty token as a
configuration error, and keeps refusing wrong tokens, foreign Host/Origin and oversized
bodies. The server runs as a subprocess; requests are real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp_harness import TOKEN, http_client, http_server, run_cli, texts

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_a_token_is_generated_and_required_when_none_is_given(tmp_path: Path) -> None:
    with http_server(tmp_path / "base", token=None) as server:
        token = server.generated_token()
        assert len(token) >= 32
        assert server.url in server.stderr_text()
        async with httpx.AsyncClient(timeout=30) as http:
            anonymous = await http.post(server.url, json=INIT, headers=ACCEPT)
            assert anonymous.status_code == 401
        async with http_client(server.url, token=token) as client:
            assert texts(await client.call_tool("run_code", {"code": "6 * 7"})) == "42"


@pytest.fixture(autouse=True)
def no_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PY_CODE_MODE_MCP_TOKEN", raising=False)


async def test_no_token_serves_loopback_without_one(tmp_path: Path) -> None:
    with http_server(tmp_path / "base", "--no-token", token=None) as server:
        assert "Bearer" not in server.stderr_text()
        async with http_client(server.url, token=None) as client:
            assert texts(await client.call_tool("run_code", {"code": "6 * 7"})) == "42"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--no-token", "--host", "0.0.0.0"], {}, "loopback"),
        (["--no-token", "--host", "192.168.1.10"], {}, "loopback"),
        (["--token", ""], {}, "--token is empty"),
        (["--token", "   "], {}, "--token is empty"),
        ([], {"PY_CODE_MODE_MCP_TOKEN": ""}, "PY_CODE_MODE_MCP_TOKEN is empty"),
        (["--token", "x", "--no-token"], {}, "conflict"),
    ],
)
def test_unsafe_or_empty_token_settings_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    proc = run_cli("--base", str(tmp_path), "--http", "--port", "1", *args, env=env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with http_server(tmp_path_factory.mktemp("guarded") / "base") as server:
        yield server.url


WRONG = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Bearer  {TOKEN}"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
    {"Authorization": f"Token {TOKEN}"},
    {"X-Api-Key": TOKEN},
    {"Cookie": f"token={TOKEN}"},
]


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
@pytest.mark.parametrize("headers", WRONG, ids=[str(i) for i in range(len(WRONG))])
async def test_wrong_tokens_in_every_form_get_401(
    guarded: str, method: str, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.request(
            method, guarded, json=INIT if method == "POST" else None, headers={**ACCEPT, **headers}
        )
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"


async def test_a_token_in_the_url_or_twice_is_refused(guarded: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        in_url = await http.post(f"{guarded}?token={TOKEN}", json=INIT, headers=ACCEPT)
        assert in_url.status_code == 401
        twice = await http.post(
            guarded,
            json=INIT,
            headers=[
                *ACCEPT.items(),
                ("Authorization", "Bearer wrong"),
                ("Authorization", f"Bearer {TOKEN}"),
            ],
        )
        assert twice.status_code == 401


async def test_the_right_token_passes_in_any_scheme_case(guarded: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for scheme in ("Bearer", "bearer", "BEARER"):
            answer = await http.post(
                guarded, json=INIT, headers={**ACCEPT, "Authorization": f"{scheme} {TOKEN}"}
            )
            assert answer.status_code == 200, answer.text


async def test_foreign_host_and_origin_are_refused(guarded: str) -> None:
    auth = {**ACCEPT, "Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=30) as http:
        host = await http.post(guarded, json=INIT, headers={**auth, "Host": "evil.example:80"})
        assert host.status_code == 421
        origin = await http.post(
            guarded, json=INIT, headers={**auth, "Origin": "http://evil.example"}
        )
        assert origin.status_code == 403


async def test_every_loopback_address_gets_dns_rebinding_protection(tmp_path: Path) -> None:
    auth = {**ACCEPT, "Authorization": f"Bearer {TOKEN}"}
    with http_server(tmp_path / "base", host="127.0.0.2") as server:
        own = server.url.split("/")[2]
        async with httpx.AsyncClient(timeout=30) as http:
            foreign = await http.post(server.url, json=INIT, headers={**auth, "Host": "evil:80"})
            assert foreign.status_code == 421
            origin = await http.post(
                server.url, json=INIT, headers={**auth, "Origin": "http://evil"}
            )
            assert origin.status_code == 403
            assert (await http.post(server.url, json=INIT, headers=auth)).status_code == 200
        assert own.startswith("127.0.0.2:")


async def test_oversized_bodies_get_413(guarded: str) -> None:
    auth = {**ACCEPT, "Authorization": f"Bearer {TOKEN}"}
    body = (
        b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "'
        + b"a" * (5 * 1024 * 1024)
        + b'"}}'
    )
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(guarded, content=body, headers=auth)
        assert answer.status_code == 413
