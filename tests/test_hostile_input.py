"""Hostile input at the doors into the host: CLI and HTTP tool arguments, Redis keys, the store
CLI's pull and the skills import. Each test plays the attacker against real components (real
commands, a real HTTP server on 127.0.0.1, a real redis-server, real folders)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from py_code_mode import FileStorage, RedisStorage
from py_code_mode.errors import ArtifactNameError, ToolCallError
from py_code_mode.tools.adapters.cli import CLIAdapter, CLICommandBuilder, parse_cli_tool_yaml
from py_code_mode.tools.adapters.http import HTTPAdapter

# --- CLI tools: a positional value is never an option ------------------------------------------

SORT = """
name: sorter
command: sort
schema:
  options:
    reverse: {type: boolean, short: r}
  positional:
    - {name: file, type: string, required: true}
recipes:
  sorted:
    params:
      file: {}
  backwards:
    preset: {reverse: true}
    params:
      file: {}
"""

CAT = """
name: cat
command: cat
schema:
  positional:
    - {name: files, type: array}
"""


async def test_cli_positional_starting_with_dash_cannot_become_an_option(tmp_path: Path) -> None:
    victim = tmp_path / "written-by-sort"
    adapter = CLIAdapter([parse_cli_tool_yaml(SORT)])
    for recipe in ("sorted", "backwards", None):  # every recipe, and the raw tool
        with pytest.raises(ToolCallError, match="-o"):
            await adapter.call_tool("sorter", recipe, {"file": f"-o{victim}"})
        assert not victim.exists()


def test_cli_argv_puts_positionals_after_double_dash_only_when_needed() -> None:
    builder = CLICommandBuilder(parse_cli_tool_yaml(SORT))
    # Ordinary values keep the reference project's argv exactly.
    assert builder.build("backwards", {"file": "a.txt"})[0] == ["sort", "-r", "a.txt"]
    assert builder.build("backwards", {"file": "-x"})[0] == ["sort", "-r", "--", "-x"]
    cat = CLICommandBuilder(parse_cli_tool_yaml(CAT))
    assert cat.build(None, {"files": ["a", "--help"]})[0] == ["cat", "--", "a", "--help"]


async def test_cli_dash_values_still_name_files_and_stdin(tmp_path: Path) -> None:
    definition = parse_cli_tool_yaml(CAT)
    definition.cwd = str(tmp_path)
    (tmp_path / "-n").write_text("a file named -n\n")
    adapter = CLIAdapter([definition])
    assert await adapter.call_tool("cat", None, {"files": ["-n"]}) == "a file named -n\n"
    assert await adapter.call_tool("cat", None, {"files": ["-"], "input": "from stdin"}) == (
        "from stdin"
    )


# --- HTTP tools: each path parameter is one encoded segment -------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append((self.path, self.headers.get("Authorization")))
        data = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder_url() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _api(url: str) -> HTTPAdapter:
    return HTTPAdapter.from_config(
        {
            "name": "api",
            "type": "http",
            "base_url": url,
            "headers": {"Authorization": "Bearer operator-secret"},
            "timeout": 10,
            "endpoints": {"keys": {"path": "/users/{user}/keys"}},
        }
    )


async def test_http_path_parameters_stay_one_segment(recorder_url: str) -> None:
    adapter = _api(recorder_url)
    try:
        for hostile in ("../../admin", "..", ".", ""):
            with pytest.raises(ToolCallError, match="path parameter 'user'"):
                await adapter.call_tool("api", "keys", {"user": hostile})
        assert _Recorder.seen == []  # refused before any request left the host
        answers = [
            (await adapter.call_tool("api", "keys", {"user": value}))["path"]
            for value in ("victim/admin?x=", "%2e%2e", "a b#frag", "ü", "ok")
        ]
    finally:
        await adapter.close()
    assert answers == [
        "/users/victim%2Fadmin%3Fx%3D/keys",
        "/users/%252e%252e/keys",
        "/users/a%20b%23frag/keys",
        "/users/%C3%BC/keys",
        "/users/ok/keys",
    ]
    assert all(path.startswith("/users/") and path.count("/") == 3 for path, _ in _Recorder.seen)


# --- Redis keys: one prefix's names never reach another prefix's keys ---------------------------


def test_redis_artifact_named_like_the_index_is_refused(redis_url: str) -> None:
    store = RedisStorage(url=redis_url, prefix="hostile_index").get_artifact_store()
    store.save("kept", "data")
    for reserved in ("__index__", "__skills__", "__tools__"):
        with pytest.raises(ArtifactNameError, match="reserved"):
            store.save(reserved, "x")
    store.save("after", 1)
    assert [a.name for a in store.list()] == ["after", "kept"]


def test_redis_artifact_names_cannot_reach_another_prefix(redis_url: str) -> None:
    victim = RedisStorage(url=redis_url, prefix="rt:artifacts:team")
    victim.get_skill_library().create(
        "double", 'def run(x: int) -> int:\n    """Double."""\n    return 2 * x\n'
    )
    attacker = RedisStorage(url=redis_url, prefix="rt").get_artifact_store()
    attacker.save("team:skills:__skills__", "overwrite")
    attacker.save("team:deps", "x")
    assert attacker.load("team:skills:__skills__") == "overwrite"
    assert [s.name for s in victim.get_skill_library().list()] == ["double"]
    assert sorted(a.name for a in attacker.list()) == ["team:deps", "team:skills:__skills__"]
    attacker.delete("team:skills:__skills__")
    assert [s.name for s in victim.get_skill_library().list()] == ["double"]


def test_redis_prefixes_that_would_overlap_another_layout_are_refused(redis_url: str) -> None:
    # P:artifacts:deps (an artifact "deps" of prefix P) would be the deps set of "P:artifacts".
    for prefix in ("team:artifacts", "team:skills:__history__", "x:__index__"):
        with pytest.raises(ValueError, match="prefix"):
            RedisStorage(url=redis_url, prefix=prefix)
    RedisStorage(url=redis_url, prefix="skills")  # the store CLI's default stays usable


def test_redis_reads_artifacts_written_in_the_reference_layout(redis_url: str) -> None:
    storage = RedisStorage(url=redis_url, prefix="legacy")
    client = storage.client
    entry = {"description": "old", "created_at": "2024-01-01T00:00:00+00:00",
             "metadata": {"_data_type": "json"}}  # fmt: skip
    for name in ("plain", "run:1", "100%"):
        client.set(f"legacy:artifacts:{name}", json.dumps({"n": name}))
        client.hset("legacy:artifacts:__index__", name, json.dumps(entry))
    store = storage.get_artifact_store()
    assert sorted(a.name for a in store.list()) == ["100%", "plain", "run:1"]
    for name in ("plain", "run:1", "100%"):
        assert store.load(name) == {"n": name} and store.exists(name)
        assert store.get(name).description == "old"
    store.save("run:1", {"n": "new"})  # rewritten under the encoded key; the old key goes
    assert store.load("run:1") == {"n": "new"}
    assert client.get("legacy:artifacts:run:1") is None
    store.delete("100%")
    assert client.get("legacy:artifacts:100%") is None and not store.exists("100%")
    assert store.load("plain") == {"n": "plain"}  # names that need no encoding keep their key
    assert client.get("legacy:artifacts:plain") is not None


# --- store pull: names read from Redis are validated like FileStorage's --------------------------


def test_store_pull_refuses_names_that_leave_the_destination(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from py_code_mode.cli import store

    client = RedisStorage(url=redis_url, prefix="pullh").client
    outside = tmp_path / "outside"
    record = {"description": "", "source": "def run():\n    return 1\n"}
    for name in ("../escaped", str(outside), "good", "a/b"):
        client.hset("pullh:skills:__skills__", name, json.dumps(record))
    dest = tmp_path / "dest"
    code = store.main(["pull", "--target", redis_url, "--prefix", "pullh", "--dest", str(dest)])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in dest.iterdir()) == ["good.py"]
    assert not (tmp_path / "escaped.py").exists() and not Path(f"{outside}.py").exists()
    assert "'../escaped'" in err and "'a/b'" in err and "Skill name" in err


# --- skills import: links never lead out of the imported folder --------------------------------


def test_skills_import_refuses_links_out_of_the_folder(tmp_path: Path) -> None:
    from py_code_mode.cli.skills_cmd import import_skills

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text('def run():\n    """Not yours."""\n    return "secret"\n')
    (outside / "SKILL.md").write_text("---\nname: lured\n---\n")
    (outside / "lured.py").write_text('def run():\n    """Lured."""\n')
    folder = tmp_path / "import"
    (folder / "linked").mkdir(parents=True)
    (folder / "linked" / "SKILL.md").write_text("---\nname: linked\ndescription: x\n---\n")
    (folder / "linked" / "linked.py").symlink_to(outside / "secret.py")
    (folder / "dirlink").symlink_to(outside, target_is_directory=True)
    (folder / "escape").mkdir()
    (folder / "escape" / "SKILL.md").write_text("---\nname: ../../outside/secret\n---\n")
    (folder / "fine").mkdir()
    (folder / "fine" / "SKILL.md").write_text("---\nname: fine\n---\n")
    (folder / "fine" / "fine.py").write_text('def run():\n    """Fine."""\n    return 1\n')
    (folder / "fine" / "helper.py").symlink_to(folder / "fine" / "fine.py")  # stays inside

    library = FileStorage(tmp_path / "base").get_skill_library()
    imported, problems = import_skills(library, folder)
    assert imported == ["fine"]
    assert sorted(p.split(":")[0] for p in problems) == ["dirlink", "escape", "linked"]
    assert all("outside the imported folder" in p or "Skill name" in p for p in problems)
    assert [s.name for s in library.list()] == ["fine"]
