"""Session facade methods for skills (reference shapes), without going through code."""

from __future__ import annotations

from pathlib import Path

import pytest

from py_code_mode import FileStorage, Session
from py_code_mode.errors import SkillValidationError

DOUBLE = 'def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'


async def test_facade_works_without_start(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path))
    added = await session.add_skill("double", DOUBLE, "Multiply by two")
    assert added == {
        "name": "double",
        "description": "Multiply by two",
        "parameters": [
            {"name": "x", "type": "integer", "description": "", "required": True, "default": None}
        ],
        "source": DOUBLE,
    }
    assert await session.list_skills() == [{k: v for k, v in added.items() if k != "source"}]
    assert (await session.search_skills("times two"))[0]["name"] == "double"
    assert (await session.get_skill("double"))["source"] == DOUBLE  # type: ignore[index]
    assert await session.get_skill("nope") is None
    assert await session.remove_skill("double") is True
    assert await session.remove_skill("double") is False


async def test_facade_refuses_bad_skills(tmp_path: Path) -> None:
    session = Session(storage=FileStorage(tmp_path))
    with pytest.raises(ValueError):
        await session.add_skill("bad name", DOUBLE, "")
    with pytest.raises(SyntaxError):
        await session.add_skill("bad", "def run(:", "")
    with pytest.raises(SkillValidationError):
        await session.add_skill("bad", "x = 1", "")
    assert await session.list_skills() == []


async def test_invoke_history_and_rollback(session: Session) -> None:
    await session.add_skill("double", DOUBLE, "")
    await session.add_skill("double", "def run(x: int) -> int:\n    return 3 * x\n", "")
    result = await session.invoke_skill("double", x=5)
    assert result.value == 15
    assert [v["version"] for v in await session.skill_history("double")] == [1, 2]
    rolled = await session.rollback_skill("double", 1)
    assert rolled["version"] == 3
    assert (await session.invoke_skill("double", x=5)).value == 10
    failed = await session.invoke_skill("double", y=1)
    assert failed.error is not None and "wrong arguments" in failed.error
