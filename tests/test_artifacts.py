"""Artifacts: round trips, listing, names, and the reference's on-disk format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from py_code_mode import ArtifactNameError, ArtifactNotFoundError, FileStorage, Session
from py_code_mode.artifacts import FileArtifactStore


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("{'a': [1, 2, {'b': None}]}", {"a": [1, 2, {"b": None}]}),
        ("[1, 'two', 3.5]", [1, "two", 3.5]),
        ("'plain text'", "plain text"),
        ("b'\\x00\\xffraw'", b"\x00\xffraw"),
        ("42", 42),
        ("2.5", 2.5),
        ("True", True),
        ("None", None),
    ],
)
async def test_data_round_trips_in_code(session: Session, literal: str, expected: object) -> None:
    saved = await session.run(f"artifacts.save('item', {literal}, description='thing')")
    assert saved.is_ok, saved.error
    loaded = await session.run("artifacts.load('item')")
    assert loaded.is_ok, loaded.error
    assert loaded.value == expected
    assert type(loaded.value) is type(expected)


async def test_save_returns_a_record_readable_both_ways(session: Session) -> None:
    result = await session.run(
        "a = artifacts.save('r.json', {'x': 1}, description='desc')\n(a.name, a['description'], a.get('path'))"
    )
    assert result.is_ok, result.error
    name, description, path = result.value
    assert (name, description) == ("r.json", "desc")
    assert path.endswith("artifacts/r.json")


async def test_list_exists_get_delete(session: Session) -> None:
    await session.run("artifacts.save('one', 1)\nartifacts.save('dir/two', 'x')")
    names = await session.run("sorted(a.name for a in artifacts.list())")
    assert names.value == ["dir/two", "one"]
    assert (await session.run("artifacts.exists('one'), artifacts.exists('zzz')")).value == (
        True,
        False,
    )
    assert (await session.run("artifacts.get('zzz') is None")).value is True
    await session.run("artifacts.delete('one')\nartifacts.delete('never-existed')")
    assert (await session.run("[a.name for a in artifacts.list()]")).value == ["dir/two"]


async def test_missing_artifact_raises_not_found_or_returns_default(session: Session) -> None:
    result = await session.run("artifacts.load('missing')")
    assert result.error == "ArtifactNotFoundError: Artifact not found: missing"
    caught = await session.run(
        "from py_code_mode.errors import ArtifactNotFoundError\n"
        "try:\n    artifacts.load('missing')\nexcept ArtifactNotFoundError as e:\n    r = e.artifact_name\nr"
    )
    assert caught.value == "missing"
    assert (await session.run("artifacts.load('missing', default={'n': 0})")).value == {"n": 0}


BAD_NAMES = [
    ("../escape", "path traversal"),
    ("a/../../escape", "path traversal"),
    ("/etc/passwd", "absolute path"),
    ("a\\b", "backslash"),
    ("nul\x00byte", "NUL"),
    ("", "empty"),
    ("   ", "empty"),
    ("x" * 256, "longer than 255"),
    ("a//b", "empty"),
    ("line\nbreak", "control character"),
    (".artifacts.json", "reserved"),
]


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
def test_bad_names_are_refused_and_nothing_is_written(
    tmp_path: Path, name: str, reason: str
) -> None:
    store = FileArtifactStore(tmp_path / "artifacts")
    store.save("keep", {"safe": True})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ArtifactNameError, match=reason):
        store.save(name, "data")
    with pytest.raises(ValueError):  # also a ValueError, as in the reference
        store.load(name)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert store.load("keep") == {"safe": True}


async def test_bad_name_from_code_is_an_error_result(session: Session, base: Path) -> None:
    result = await session.run("artifacts.save('../../outside', 'x')")
    assert result.error is not None and result.error.startswith("ArtifactNameError")
    assert not (base.parent / "outside").exists()


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "artifacts")
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "artifacts" / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ArtifactNameError, match="outside"):
        store.save("link/file", "x")
    assert not (tmp_path / "elsewhere" / "file").exists()


def test_index_uses_the_reference_format(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    store.save("scan.json", {"hosts": 3}, description="nmap", metadata={"tool": "nmap"})
    index = json.loads((tmp_path / ".artifacts.json").read_text())
    entry = index["scan.json"]
    assert entry["description"] == "nmap"
    assert entry["metadata"] == {"tool": "nmap", "_data_type": "json"}
    assert "created_at" in entry
    assert json.loads((tmp_path / "scan.json").read_text()) == {"hosts": 3}


def test_reference_folder_without_type_loads_json_by_extension(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text('{"a": 1}')
    (tmp_path / ".artifacts.json").write_text('{"old.json": {"description": "", "metadata": {}}}')
    store = FileArtifactStore(tmp_path)
    assert store.load("old.json") == {"a": 1}
    assert [a.name for a in store.list()] == ["old.json"]


def test_register_indexes_a_hand_written_file(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    (tmp_path / "report.txt").write_text("hello")
    artifact = store.register("report.txt", description="by hand")
    assert artifact.description == "by hand"
    assert store.load("report.txt") == "hello"
    with pytest.raises(ArtifactNotFoundError):
        store.register("absent.txt")


def test_overwrite_replaces_data(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    store.save("n", [1])
    store.save("n", "now text")
    assert store.load("n") == "now text"
    assert len(store.list()) == 1


def test_no_temp_files_are_left_behind(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    for i in range(5):
        store.save(f"f{i}", {"i": i})
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


async def test_facade_methods(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path))
    saved = await session.save_artifact("notes", "text", description="d", metadata={"k": "v"})
    assert saved["name"] == "notes" and saved["metadata"] == {"k": "v"}
    assert isinstance(saved["created_at"], str)
    listed = await session.list_artifacts()
    assert listed[0]["name"] == "notes"
    assert listed[0]["metadata"]["_data_type"] == "text"
    assert set(listed[0]) == {"name", "path", "description", "metadata", "created_at"}
    assert await session.load_artifact("notes") == "text"
    await session.delete_artifact("notes")
    await session.delete_artifact("notes")  # missing: ignored
    with pytest.raises(ArtifactNotFoundError):
        await session.load_artifact("notes")
    assert await session.load_artifact("notes", default=None) is None


async def test_artifacts_persist_across_sessions(base: Path, executor_kind: str) -> None:
    from conftest import make_executor

    async with Session(storage=FileStorage(base), executor=make_executor(executor_kind)) as s:
        await s.run("artifacts.save('state', {'step': 3})")
    async with Session(storage=FileStorage(base), executor=make_executor(executor_kind)) as s:
        assert (await s.run("artifacts.load('state')['step']")).value == 3


WRITER = """
import sys
from py_code_mode.artifacts import FileArtifactStore
store = FileArtifactStore(sys.argv[1])
for i in range(60):
    store.save(f"{sys.argv[2]}/{i}", {"writer": sys.argv[2], "i": i}, description=str(i))
"""


def test_two_processes_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name])
        for name in ("alpha", "beta")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    store = FileArtifactStore(tmp_path)
    names = {a.name for a in store.list()}
    assert names == {f"{w}/{i}" for w in ("alpha", "beta") for i in range(60)}
    assert store.load("beta/59") == {"writer": "beta", "i": 59}
    json.loads((tmp_path / ".artifacts.json").read_text())  # the index is intact JSON


# --- issue 22: the parsed index is reused, writes are counted --------------------------------

OTHER_PROCESS = """
import sys
from py_code_mode.artifacts import FileArtifactStore
store = FileArtifactStore(sys.argv[1])
store.save("shared", sys.argv[2])  # text now, where it was JSON
store.save("from-there", [1, 2])
"""


def test_the_cached_index_sees_another_processs_writes(tmp_path: Path) -> None:
    import subprocess
    import sys

    store = FileArtifactStore(tmp_path)
    store.save("shared", {"json": True})
    store.save("mine", 1)
    assert store.load("shared") == {"json": True}  # parsed once, now cached
    stamp = store.change_stamp()
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(tmp_path), "plain"], check=True)
    assert store.change_stamp() != stamp
    assert store.load("shared") == "plain"  # decoded as text: the new index was read
    assert [a.name for a in store.list()] == ["from-there", "mine", "shared"]
    store.save("after", "x")  # our write keeps the other process's entries
    index = json.loads((tmp_path / ".artifacts.json").read_text())
    assert set(index) == {"shared", "mine", "from-there", "after"}
    assert FileArtifactStore(tmp_path).load("from-there") == [1, 2]


def test_change_stamp_moves_with_every_write_and_only_then(tmp_path: Path) -> None:
    mine, other = FileArtifactStore(tmp_path), FileArtifactStore(tmp_path)  # two sessions
    empty = mine.change_stamp()
    other.save("a", {"x": 1})
    after_save = mine.change_stamp()
    assert after_save != empty
    mine.load("a"), mine.list(), mine.get("a"), mine.exists("a")
    mine.delete("never-saved")
    assert mine.change_stamp() == after_save  # reading, or deleting nothing, writes nothing
    other.save("a", {"x": 1})  # the same content again is still a write (a new created_at)
    assert mine.change_stamp() not in (empty, after_save)
    seen = mine.change_stamp()
    (tmp_path / "hand.txt").write_text("by hand")
    other.register("hand.txt")
    assert mine.change_stamp() != seen
    seen = mine.change_stamp()
    other.delete("a")
    assert mine.change_stamp() != seen


def test_a_writer_that_keeps_no_counter_is_seen(tmp_path: Path) -> None:
    """The reference project writes the index without our counter: its identity, time and size
    still change the stamp, and the new content is read."""
    store = FileArtifactStore(tmp_path)
    store.save("ours.json", {"a": 1})
    stamp = store.change_stamp()
    (tmp_path / "theirs.json").write_text('{"b": 2}')
    index = json.loads((tmp_path / ".artifacts.json").read_text())
    index["theirs.json"] = {"description": "", "metadata": {"_data_type": "json"}}
    tmp = tmp_path / "index.tmp"
    tmp.write_text(json.dumps(index, indent=2))  # the reference's own formatting
    tmp.replace(tmp_path / ".artifacts.json")
    assert store.change_stamp() != stamp
    assert store.load("theirs.json") == {"b": 2}
    assert [a.name for a in store.list()] == ["ours.json", "theirs.json"]


def test_the_index_is_one_artifact_per_line(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    for name in ("b", "a", "ünï"):
        store.save(name, name, metadata={"k": [1, 2]})
    store.save("b", "again")  # an overwrite keeps its place
    text = (tmp_path / ".artifacts.json").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}" and len(lines) == 5
    assert [json.loads("{" + line.rstrip(",") + "}").popitem()[0] for line in lines[1:-1]] == [
        "b",
        "a",
        "ünï",
    ]
    store.delete("b")
    store.delete("a")
    store.delete("ünï")
    assert json.loads((tmp_path / ".artifacts.json").read_text()) == {}
