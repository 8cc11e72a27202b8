"""The ``skills`` namespace inside code, the same under both executors."""

from __future__ import annotations

import re
from pathlib import Path

from py_code_mode import Session

DOUBLE = 'def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'


async def create(session: Session, name: str, source: str, description: str = "") -> None:
    result = await session.run(f"skills.create({name!r}, {source!r}, {description!r})")
    assert result.is_ok, result.error


async def test_create_then_call_by_attribute_and_by_invoke(session: Session) -> None:
    await create(session, "double", DOUBLE)
    assert (await session.run("skills.double(x=21)")).value == 42
    assert (await session.run("skills.double(4)")).value == 8
    assert (await session.run("skills.invoke('double', x=5)")).value == 10


async def test_invoke_first_parameter_does_not_clash_with_a_name_argument(session: Session) -> None:
    await create(session, "greet", "def run(name: str) -> str:\n    return 'hi ' + name\n")
    assert (await session.run("skills.invoke('greet', name='ada')")).value == "hi ada"


async def test_listing_search_get_and_describe(session: Session) -> None:
    await create(session, "double", DOUBLE)
    await create(
        session, "shout", "def run(text: str) -> str:\n    return text.upper()\n", "Upper-case text"
    )
    listed = await session.run("[(s.name, s['description'], s.params) for s in skills.list()]")
    assert listed.value == [
        ("double", "Double a number.", {"x": "integer"}),
        ("shout", "Upper-case text", {"text": "string"}),
    ]
    found = await session.run("skills.search('multiply a number by two', limit=1)[0].name")
    assert found.value == "double"
    got = await session.run("s = skills.get('double')\n(s.name, s.source, skills.get('none'))")
    assert got.value == ("double", DOUBLE, None)
    described = await session.run("skills.describe('double')")
    assert described.value.startswith("def double(x: int) -> int:")
    assert '"""Double a number."""' in described.value


async def test_delete(session: Session) -> None:
    await create(session, "double", DOUBLE)
    assert (await session.run("skills.delete('double'), skills.delete('double')")).value == (
        True,
        False,
    )
    result = await session.run("skills.double(x=1)")
    assert result.error == "SkillNotFoundError: Skill not found: double"


async def test_unknown_skill_is_an_attribute_error_and_a_value_error(session: Session) -> None:
    result = await session.run(
        "out = []\nfor exc in (AttributeError, ValueError):\n    try:\n        skills.missing\n"
        "    except exc:\n        out.append(exc.__name__)\nout"
    )
    assert result.value == ["AttributeError", "ValueError"]
    assert (
        await session.run("skills.invoke('missing')")
    ).error == "SkillNotFoundError: Skill not found: missing"


async def test_wrong_arguments_name_the_skill_and_its_signature(session: Session) -> None:
    await create(session, "double", DOUBLE)
    result = await session.run("skills.double(y=1)")
    assert result.error is not None
    assert result.error.startswith("SkillValidationError: skills.double() got wrong arguments")
    assert "expected double(x: int) -> int" in result.error


async def test_bad_skill_from_code_is_refused_and_nothing_is_written(
    session: Session, base: Path
) -> None:
    result = await session.run("skills.create('bad', 'def run(:', '')")
    assert result.error is not None and result.error.startswith("SkillSyntaxError")
    assert not (base / "skills" / "bad.py").exists()


async def test_skill_exception_traceback_points_into_the_skill(session: Session) -> None:
    await create(session, "boom", "def run():\n    value = 1\n    raise ValueError('bad input')\n")
    result = await session.run("skills.boom()")
    assert result.error == "ValueError: bad input"
    assert result.traceback is not None
    # One file name per skill version (<skill:boom@hash>): linecache is process-wide.
    assert re.search(r'File "<skill:boom@[0-9a-f]+>", line 3, in run', result.traceback)
    assert "raise ValueError('bad input')" in result.traceback
    assert "worker.py" not in result.traceback and "namespace.py" not in result.traceback


async def test_nested_sync_and_async_skills_five_levels_deep(session: Session) -> None:
    await create(session, "level0", "def run(x: int) -> int:\n    return x + 1\n")
    for i in range(1, 6):
        kind = "async def" if i % 2 else "def"
        await create(
            session,
            f"level{i}",
            f"{kind} run(x: int) -> int:\n    return skills.level{i - 1}(x=x) + 1\n",
        )
    assert (await session.run("skills.level5(x=0)")).value == 6
    assert (
        await session.run("import asyncio\nawait asyncio.sleep(0)\nskills.level5(x=10)")
    ).value == 16
    inner = "async def f():\n    return skills.level5(x=1)\nawait f()"
    assert (await session.run(inner)).value == 7


async def test_async_skill_with_await_inside(session: Session) -> None:
    await create(
        session,
        "slow_double",
        "import asyncio\nasync def run(x: int) -> int:\n    await asyncio.sleep(0.01)\n    return 2 * x\n",
    )
    assert (await session.run("skills.slow_double(x=3)")).value == 6


async def test_skills_use_artifacts_and_helper_skills(session: Session) -> None:
    await create(session, "helper", "def run(n: int) -> list:\n    return list(range(n))\n")
    await create(
        session,
        "store_range",
        "def run(n: int) -> int:\n    data = skills.invoke('helper', n=n)\n"
        "    artifacts.save('range.json', data)\n    return len(artifacts.load('range.json'))\n",
    )
    assert (await session.run("skills.store_range(n=4)")).value == 4
    assert (await session.run("artifacts.load('range.json')")).value == [0, 1, 2, 3]


async def test_run_may_ask_for_an_injected_namespace(session: Session) -> None:
    await create(
        session, "count_artifacts", "def run(artifacts) -> int:\n    return len(artifacts.list())\n"
    )
    await session.run("artifacts.save('a', 1)")
    assert (await session.run("skills.count_artifacts()")).value == 1


async def test_unbounded_recursion_is_stopped_with_a_clear_error(session: Session) -> None:
    await create(session, "forever", "def run(n: int = 0):\n    return skills.forever(n=n + 1)\n")
    result = await session.run("skills.forever()")
    assert result.error is not None
    assert "nested more than 16 levels deep" in result.error
    assert (await session.run("1 + 1")).value == 2


async def test_history_and_rollback_from_code(session: Session) -> None:
    await create(session, "double", DOUBLE)
    await create(session, "double", "def run(x: int) -> int:\n    return 3 * x\n")
    assert (await session.run("skills.double(x=2)")).value == 6
    versions = await session.run("[v['version'] for v in skills.history('double')]")
    assert versions.value == [1, 2]
    await session.run("skills.rollback('double', 1)")
    assert (await session.run("skills.double(x=2)")).value == 4


async def test_usage_is_recorded(session: Session, base: Path) -> None:
    await create(session, "double", DOUBLE)
    await session.run("skills.double(x=1)\nskills.double(x=2)")
    await session.run("skills.double(x='a' * 0)")
    stats = session.storage.get_skill_library().stats()["double"]  # type: ignore[attr-defined]
    assert stats.calls == 3


async def test_reset_keeps_skills(session: Session) -> None:
    await create(session, "double", DOUBLE)
    await session.reset()
    assert (await session.run("skills.double(x=1)")).value == 2
