"""One storage contract, the same tests for FileStorage and RedisStorage (a real redis-server)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import make_executor, value
from py_code_mode import ArtifactNameError, ArtifactNotFoundError, Session
from py_code_mode.errors import SkillValidationError

DOUBLE = 'def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'


def reopen(storage: Any) -> Any:
    """A fresh storage object over the same data (another process would see this)."""
    from py_code_mode import FileStorage, RedisStorage

    if isinstance(storage, FileStorage):
        return FileStorage(storage.root)
    return RedisStorage(redis=storage.client, prefix=storage.prefix)


@pytest.mark.parametrize("data", [{"a": [1, 2]}, "text", b"\x00bytes", 42, None, [1.5, True]])
def test_artifact_round_trip(storage: Any, data: Any) -> None:
    store = storage.get_artifact_store()
    saved = store.save("dir/item", data, description="d", metadata={"k": "v"})
    assert saved.name == "dir/item" and saved.metadata == {"k": "v"}
    assert reopen(storage).get_artifact_store().load("dir/item") == data


def test_artifact_listing_and_delete(storage: Any) -> None:
    store = storage.get_artifact_store()
    store.save("b", 1)
    store.save("a", "x", description="first")
    assert [a.name for a in store.list()] == ["a", "b"]
    assert store.get("a").description == "first"  # type: ignore[union-attr]
    assert store.exists("a") and not store.exists("zz")
    store.delete("a")
    store.delete("never")
    assert [a.name for a in store.list()] == ["b"]
    with pytest.raises(ArtifactNotFoundError):
        store.load("a")
    assert store.load("a", default="dflt") == "dflt"


@pytest.mark.parametrize("name", ["../x", "/abs", "a\\b", "", "x" * 300])
def test_bad_artifact_names_write_nothing(storage: Any, name: str) -> None:
    store = storage.get_artifact_store()
    with pytest.raises(ArtifactNameError):
        store.save(name, 1)
    assert store.list() == []


def test_skills_versions_and_stats(storage: Any) -> None:
    library = storage.get_skill_library()
    library.create("double", DOUBLE, "Twice")
    library.create("double", DOUBLE.replace("2 * x", "x + x"))
    with pytest.raises(SkillValidationError):
        library.create("double", "def run(:")
    again = reopen(storage).get_skill_library()
    assert again.get("double").source == DOUBLE.replace("2 * x", "x + x")  # type: ignore[union-attr]
    assert [v["version"] for v in again.history("double")] == [1, 2]
    assert again.rollback("double", 1).description == "Twice"
    library.record_usage("double", True, 3.0)
    if hasattr(library.store, "flush_stats"):
        library.store.flush_stats()
    assert reopen(storage).get_skill_library().stats()["double"].calls == 1
    assert library.delete("double") and not library.delete("double")
    assert library.list() == []


def test_history_shows_each_versions_own_description_and_save_time(storage: Any) -> None:
    """An earlier version described by its docstring keeps that description in the history,
    and its time is when it was saved, not when it was replaced."""
    library = storage.get_skill_library()
    library.create("calc", DOUBLE)
    first_saved = library.get("calc").updated_at
    library.create("calc", DOUBLE.replace("Double", "Triple").replace("2 * x", "3 * x"))
    versions = reopen(storage).get_skill_library().history("calc")
    assert [(v.version, v.description) for v in versions] == [
        (1, "Double a number."),
        (2, "Triple a number."),
    ]
    assert versions[0].saved_at == first_saved.isoformat()
    assert versions[0].saved_at <= versions[1].saved_at


def test_search_over_either_backend(storage: Any) -> None:
    library = storage.get_skill_library()
    library.create("parse_csv", 'def run(path: str):\n    """Parse a CSV file into rows."""\n')
    library.create("send_email", 'def run(to: str):\n    """Send an email message."""\n')
    assert library.search("read spreadsheet rows", 1)[0].name == "parse_csv"
    # A skill added through another storage object is found after a refresh.
    reopen(storage).get_skill_library().create(
        "resize_image", 'def run(w: int):\n    """Make a picture smaller."""\n'
    )
    library.refresh()
    assert library.search("shrink a photo", 1)[0].name == "resize_image"


def test_deps_record(storage: Any) -> None:
    from py_code_mode.deps import validate_spec
    from py_code_mode.deps.manager import deps_for

    manager = deps_for(storage, python="python3")
    manager.store.add(validate_spec("six==1.16"))
    manager.store.add(validate_spec("Six>=1.0"))
    assert manager.list() == ["six>=1.0"]
    assert manager.store.remove("six") and manager.list() == []


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
async def test_sessions_over_either_backend(storage: Any, kind: str) -> None:
    async with Session(storage=storage, executor=make_executor(kind)) as session:
        await value(session, f"skills.create('double', {DOUBLE!r})")
        assert await value(session, "skills.double(x=4)") == 8
        await value(session, "artifacts.save('r.json', {'ok': True})")
        assert await session.load_artifact("r.json") == {"ok": True}
        assert [s["name"] for s in await session.list_skills()] == ["double"]


def test_artifact_change_stamp(storage: Any) -> None:
    """A cheap stamp that another store object over the same data (another session or
    process) moves by saving or deleting, and that reads leave alone."""
    store, other = storage.get_artifact_store(), reopen(storage).get_artifact_store()
    first = store.change_stamp()
    assert store.change_stamp() == first
    other.save("x", {"n": 1})
    saved = store.change_stamp()
    assert saved != first
    store.load("x"), store.list(), store.get("x"), store.exists("x")
    assert store.change_stamp() == saved
    other.save("x", {"n": 2})
    again = store.change_stamp()
    assert again not in (first, saved)
    other.delete("x")
    assert store.change_stamp() not in (first, saved, again)
