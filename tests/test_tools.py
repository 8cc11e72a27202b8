"""Tools in code under both executors: CLI tools from YAML (every field), Python callables,
discovery, and each error a model can run into."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import error, make_executor, value
from py_code_mode import FileStorage, Session
from py_code_mode.tools import ToolRegistry
from py_code_mode.tools.adapters import CLICommandBuilder, parse_cli_tool_yaml

TOOLS = {
    "echo.yaml": """
name: echo
description: Print text to standard output
command: echo
tags: [text, shell]
timeout: 10
schema:
  options:
    no_newline: {type: boolean, short: n, description: do not print the trailing newline}
  positional:
    - {name: words, type: array, required: true, description: what to print}
recipes:
  say:
    description: Print some words
    params:
      words: {}
  hello:
    description: Print hello
    preset: {words: [hello]}
""",
    "wc.yaml": """
name: wc
description: Count lines, words and bytes of the input
command: wc
schema:
  options:
    lines: {type: boolean, short: l}
recipes:
  count_lines:
    description: Count lines of the text given as input
    preset: {lines: true}
""",
    "sleepy.yaml": """
name: sleepy
description: Sleep for a while
command: sleep
timeout: 0.5
schema:
  positional:
    - {name: seconds, type: number, required: true}
recipes:
  nap:
    params:
      seconds: {default: .inf}   # `sleep inf`: only the timeout's kill ends it
""",
    "printf.yaml": """
name: printf
description: Format text
schema:
  options:
    var: {type: string, flag: "-v"}
  positional:
    - {name: format, required: true}
    - {name: args, type: array}
recipes:
  fmt:
    description: Format values
""",
    "falsy.yaml": """
name: falsy
description: Always fails
command: sh
schema:
  options:
    command: {type: string, short: c}
recipes:
  fail:
    preset: {command: "echo broken >&2; exit 3"}
""",
    "broken.yaml": "name: [not, a, string]\n",
    "bad-name.yaml": "name: has space\ncommand: true\n",
    "notyaml.yaml": "name: x\n  : : :\n",
    "unknown_type.yaml": "name: weird\ntype: carrier-pigeon\n",
}


@pytest.fixture
def tool_base(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    (base / "tools").mkdir(parents=True)
    for name, text in TOOLS.items():
        (base / "tools" / name).write_text(text)
    return base


def double(x: int) -> int:
    """Double a number.

    Args:
        x: The number.
    """
    return 2 * x


async def slow_add(a: int, b: int = 1) -> int:
    """Add, asynchronously."""
    return a + b


@pytest.fixture
async def tsession(tool_base: Path, executor_kind: str) -> AsyncIterator[Session]:
    session = Session(storage=FileStorage(tool_base), executor=make_executor(executor_kind))
    session.register_tool(double, tags=["math"])
    session.register_tool(slow_add)
    async with session:
        yield session


async def test_bad_files_are_reported_and_the_others_load(tsession: Session) -> None:
    names = await value(tsession, "[t.name for t in tools.list()]")
    assert names == ["double", "echo", "falsy", "printf", "sleepy", "slow_add", "wc"]
    errors = tsession.executor.registry.load_errors  # type: ignore[union-attr]
    assert any(e.startswith("broken.yaml: name") for e in errors)
    assert any(e.startswith("bad-name.yaml: name") and "identifier" in e for e in errors)
    assert any(e.startswith("notyaml.yaml: not valid YAML") for e in errors)
    assert any(
        e.startswith("unknown_type.yaml: unknown tool type 'carrier-pigeon'") for e in errors
    )


async def test_recipe_preset_and_params(tsession: Session) -> None:
    assert await value(tsession, "tools.echo.say(words=['a', 'b'])") == "a b\n"
    assert await value(tsession, "tools.echo.hello()") == "hello\n"
    assert await value(tsession, "tools.echo.hello(no_newline=True)") == "hello"


async def test_raw_tool_call(tsession: Session) -> None:
    assert await value(tsession, "tools.echo(words=['raw'], no_newline=True)") == "raw"


async def test_shell_metacharacters_are_passed_literally(tsession: Session, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    out = await value(
        tsession, f"tools.echo.say(words=['$(touch {marker})', '; rm -rf /', '`id`'])"
    )
    assert out == f"$(touch {marker}) ; rm -rf / `id`\n"
    assert not marker.exists()


async def test_input_goes_to_stdin(tsession: Session) -> None:
    assert (await value(tsession, "tools.wc.count_lines(input='a\\nb\\nc\\n')")).strip() == "3"  # type: ignore[union-attr]


async def test_verbatim_flag_and_array_positional(tsession: Session) -> None:
    assert await value(tsession, "tools.printf.fmt(format='%s-%s', args=['x', 'y'])") == "x-y"


async def test_default_param_is_applied_and_timeout_kills(tsession: Session) -> None:
    message = await error(tsession, "tools.sleepy.nap()")
    assert message == "ToolTimeoutError: Tool 'sleepy' timed out after 0.5s"
    assert await value(tsession, "tools.sleepy.nap(seconds=0)") == ""


async def test_nonzero_exit_carries_stderr(tsession: Session) -> None:
    message = await error(tsession, "tools.falsy.fail()")
    assert message == "ToolCallError: Tool 'falsy' failed: exit code 3: broken"


async def test_unknown_tool_recipe_and_argument(tsession: Session) -> None:
    assert (await error(tsession, "tools.nope")).startswith(
        "ToolNotFoundError: Tool 'nope' not found. Available: double, echo"
    )
    assert await error(tsession, "tools.echo.shout()") == (
        "ToolNotFoundError: Tool 'echo.shout' not found. Available: echo.say, echo.hello"
    )
    assert "unknown argument(s) color" in await error(
        tsession, "tools.echo.say(words=['x'], color='red')"
    )
    assert (
        await error(tsession, "tools.echo.say()")
        == "ToolCallError: Tool 'echo' failed: missing required argument 'words'"
    )
    caught = await value(
        tsession, "try:\n    tools.nope\nexcept AttributeError as e:\n    r = type(e).__name__\nr"
    )
    assert caught == "ToolNotFoundError"


async def test_python_callables(tsession: Session) -> None:
    assert await value(tsession, "tools.double(x=21)") == 42
    assert await value(tsession, "tools.double.double(x=2)") == 4
    assert await value(tsession, "tools.slow_add(a=1, b=2)") == 3
    assert "wrong arguments" in await error(tsession, "tools.double(y=1)")


async def test_sync_and_async_calls_everywhere(tsession: Session) -> None:
    assert await value(tsession, "await tools.echo.hello.call_async(no_newline=True)") == "hello"
    assert await value(tsession, "await tools.double.call_async(x=1)") == 2
    assert await value(tsession, "tools.echo.hello.call_sync(no_newline=True)") == "hello"
    assert await value(tsession, "async def f():\n    return tools.double(x=5)\nawait f()") == 10


async def test_listing_and_description(tsession: Session) -> None:
    tool = await value(
        tsession,
        "t = [t for t in tools.list() if t.name == 'echo'][0]\n(t['description'], t['tags'])",
    )
    assert tool == ("Print text to standard output", ["shell", "text"])
    recipes = await value(tsession, "[(r.name, r['description']) for r in tools.echo.list()]")
    assert recipes == [("say", "Print some words"), ("hello", "Print hello")]
    stub = await value(tsession, "tools.describe('double')")
    assert "def double(x: int)" in stub and "x: The number." in stub  # type: ignore[operator]
    assert "class echo:" in await value(tsession, "tools.describe()")  # type: ignore[operator]


async def test_search_matches_names_descriptions_and_tags(tsession: Session) -> None:
    assert (await value(tsession, "tools.search('count the lines of a text')[0]['name']")) == "wc"
    assert (await value(tsession, "tools.search('math', limit=1)[0]['name']")) == "double"


async def test_facade(tsession: Session) -> None:
    listed = await tsession.list_tools()
    echo = next(t for t in listed if t["name"] == "echo")
    assert echo["tags"] == ["shell", "text"]
    assert echo["callables"][0] == {
        "name": "say",
        "description": "Print some words",
        "parameters": [
            {
                "name": "words",
                "type": "array",
                "required": True,
                "default": None,
                "description": "what to print",
            }
        ],
    }
    assert (await tsession.search_tools("print hello"))[0]["name"] == "echo"


async def test_skills_call_tools(tsession: Session) -> None:
    source = (
        "async def run(n: int) -> int:\n    return tools.double(x=n) + len(tools.echo.hello())\n"
    )
    await value(tsession, f"skills.create('use_tools', {source!r})")
    assert await value(tsession, "skills.use_tools(n=3)") == 12


def test_argv_is_built_in_declaration_order() -> None:
    definition = parse_cli_tool_yaml(
        "name: curl\nschema:\n  options:\n    silent: {type: boolean, short: s}\n"
        "    header: {type: array, short: H}\n    max_time: {type: integer}\n"
        "  positional:\n    - {name: url, required: true}\n"
        "recipes:\n  get:\n    preset: {silent: true}\n    params:\n      url: {}\n"
    )
    argv, stdin = CLICommandBuilder(definition).build(
        "get", {"url": "https://x", "max_time": 5, "header": ["A: 1", "B: 2"]}
    )
    assert argv == ["curl", "-s", "-H", "A: 1", "-H", "B: 2", "--max_time", "5", "https://x"]
    assert stdin is None


async def test_tools_under_a_plain_file_storage_base(tool_base: Path) -> None:
    async with Session(storage=FileStorage(tool_base)) as session:
        assert (await session.run("tools.echo.hello()")).value == "hello\n"


async def test_registry_without_tools_folder(tmp_path: Path) -> None:
    registry = await ToolRegistry.from_dir(tmp_path / "missing")
    assert registry.list_tools() == []
