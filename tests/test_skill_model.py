"""Skill validation and the JSON schema built from a skill's source (statically)."""

from __future__ import annotations

import pytest

from py_code_mode.errors import SkillValidationError
from py_code_mode.schema import parse_docstring, schema_from_callable
from py_code_mode.skills import parse_skill

GOOD = '''"""Fetch a repository's metadata."""

def run(owner: str, repo: str, limit: int = 10) -> dict:
    return {"owner": owner, "repo": repo, "limit": limit}
'''


def test_a_valid_skill_is_described() -> None:
    skill, schema = parse_skill("fetch_repo", GOOD)
    assert skill.description == "Fetch a repository's metadata."
    assert skill.signature == "fetch_repo(owner: str, repo: str, limit: int = 10) -> dict"
    assert skill.params == {"owner": "string", "repo": "string", "limit": "integer"}
    assert skill.input_schema["required"] == ["owner", "repo"]
    assert skill.input_schema["properties"]["limit"] == {"type": "integer", "default": 10}
    assert not skill.is_async


def test_sync_and_async_run_are_both_accepted() -> None:
    assert parse_skill("a", "async def run():\n    return 1")[0].is_async
    assert not parse_skill("b", "def run():\n    return 1")[0].is_async


def test_explicit_description_wins_over_docstrings() -> None:
    skill, _ = parse_skill("fetch_repo", GOOD, "Custom text")
    assert skill.description == "Custom text" and skill.explicit_description


def test_description_falls_back_to_the_run_docstring() -> None:
    skill, _ = parse_skill("x", 'def run():\n    """From run.\n\n    More."""\n    return 1')
    assert skill.description == "From run."


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("list[str]", {"type": "array", "items": {"type": "string"}}),
        ("dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}),
        ("Optional[int]", {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        ("int | None", {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        ("Literal['a', 'b']", {"enum": ["a", "b"]}),
        ("typing.List[float]", {"type": "array", "items": {"type": "number"}}),
        ("tuple[int, ...]", {"type": "array", "items": {"type": "integer"}}),
        ("'bool'", {"type": "boolean"}),
        ("Any", {}),
    ],
)
def test_annotation_schemas(annotation: str, expected: dict) -> None:
    source = f"import typing\nfrom typing import *\ndef run(x: {annotation}):\n    return x"
    skill, _ = parse_skill("s", source)
    assert skill.input_schema["properties"]["x"] == expected


def test_pydantic_model_defined_in_the_skill_becomes_a_definition() -> None:
    source = (
        "from pydantic import BaseModel\n"
        "class Point(BaseModel):\n    x: int\n    y: int = 0\n"
        "def run(p: Point):\n    return p"
    )
    skill, _ = parse_skill("s", source)
    assert skill.input_schema["properties"]["p"] == {"$ref": "#/$defs/Point"}
    point = skill.input_schema["$defs"]["Point"]
    assert point["properties"] == {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}}
    assert point["required"] == ["x"]


@pytest.mark.parametrize(
    "docstring",
    [
        '"""Do it.\n\n    Args:\n        url (str): The address\n            to fetch.\n        n: How many.\n    """',
        '"""Do it.\n\n    Parameters\n    ----------\n    url : str\n        The address\n        to fetch.\n    n : int\n        How many.\n    """',
        '"""Do it.\n\n    :param url: The address\n        to fetch.\n    :param int n: How many.\n    """',
    ],
    ids=["google", "numpy", "sphinx"],
)
def test_parameter_descriptions_from_docstrings(docstring: str) -> None:
    skill, _ = parse_skill("s", f"def run(url: str, n: int = 1):\n    {docstring}\n    return url")
    props = skill.input_schema["properties"]
    assert props["url"]["description"] == "The address to fetch."
    assert props["n"]["description"] == "How many."
    assert skill.description == "Do it."


def test_injected_namespace_parameters_are_not_shown() -> None:
    skill, _ = parse_skill("s", "def run(tools, url: str):\n    return url")
    assert list(skill.input_schema["properties"]) == ["url"]


def test_kwargs_allow_extra_properties() -> None:
    skill, _ = parse_skill("s", "def run(a: int, **rest):\n    return a")
    assert skill.input_schema["additionalProperties"] is True


BAD_SKILLS = [
    ("", "def run(): pass", "must not be empty"),
    ("has-dash", "def run(): pass", "identifier"),
    ("../evil", "def run(): pass", "identifier"),
    ("x" * 65, "def run(): pass", "longer than 64"),
    ("class", "def run(): pass", "keyword"),
    ("list", "def run(): pass", "reserved"),
    ("_private", "def run(): pass", "identifier"),
    ("ok", "", "empty"),
    ("ok", "def run(:\n  pass", "line 1"),
    ("ok", "def other():\n    pass", "def run"),
    ("ok", "run = lambda: 1", "assigned"),
    ("ok", "def run(*args):\n    pass", "varargs"),
    ("ok", "import socket\ndef run(s: socket.socket):\n    pass", "socket.socket"),
    ("ok", "x" * (600 * 1024), "larger than"),
    ("ok", "def run():\n    pass\x00", "NUL"),
]


@pytest.mark.parametrize(("name", "source", "message"), BAD_SKILLS)
def test_bad_skills_are_refused_with_a_clear_error(name: str, source: str, message: str) -> None:
    with pytest.raises(SkillValidationError, match=message) as info:
        parse_skill(name, source)
    assert isinstance(info.value, ValueError)


def test_syntax_error_is_also_a_syntax_error_with_its_line() -> None:
    with pytest.raises(SyntaxError) as info:
        parse_skill("ok", "def run():\n    return (")
    assert info.value.line == 2 or info.value.lineno == 2  # type: ignore[attr-defined]


def test_validation_executes_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "ran"
    parse_skill("s", f"open({str(marker)!r}, 'w').write('x')\ndef run():\n    return 1")
    assert not marker.exists()


def test_schema_from_a_live_callable() -> None:
    def fetch(url: str, retries: int = 3, tags: list[str] | None = None) -> str:
        """Fetch a page.

        Args:
            url: Where to go.
        """
        return url

    schema = schema_from_callable(fetch)
    js = schema.json_schema()
    assert js["required"] == ["url"]
    assert js["properties"]["url"] == {"type": "string", "description": "Where to go."}
    assert js["properties"]["retries"]["default"] == 3
    assert schema.description == "Fetch a page."


def test_docstring_without_sections() -> None:
    assert parse_docstring("Just a summary.") == ("Just a summary.", {})
