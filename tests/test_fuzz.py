"""Property tests (hypothesis): the name validators, the HTTP path-segment encoding and the
Redis key encoding never let a value escape; every catalog operation (what the MCP server and
the framework adapters offer) answers any input its JSON schema allows, and any JSON object,
with a result or an error result, never an exception, and loses nothing stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from pydantic import TypeAdapter, ValidationError

from py_code_mode import FileStorage, InProcessExecutor, Session
from py_code_mode.artifacts.file import FileArtifactStore
from py_code_mode.artifacts.protocol import validate_artifact_name
from py_code_mode.catalog import OPERATIONS, OperationResult, skills_as_operations
from py_code_mode.errors import ArtifactNameError, SkillValidationError
from py_code_mode.execution import InProcessConfig
from py_code_mode.skills.skill import validate_skill_name
from py_code_mode.storage.redis import encode_key_part
from py_code_mode.tools.adapters.http import encode_path_segment, fill_path
from py_code_mode.tools.models import ToolName

BOUNDED = settings(max_examples=150, deadline=None)

# Names an attacker would try, mixed with arbitrary text: path pieces are far likelier here than
# in uniform unicode, so the interesting cases come up within a modest budget.
_PIECES = [
    "..",
    ".",
    "/",
    "\\",
    ":",
    "%",
    "%2e",
    "%2F",
    "__",
    "~",
    "\x00",
    "\n",
    " ",
    "a",
    "é",
    "-",
]
hostile_text = st.one_of(
    st.text(),
    st.lists(st.sampled_from(_PIECES), max_size=12).map("".join),
    st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=8).map("".join),
)
not_text = st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.integers(), max_size=2))


def _inside(base: str, relative: str) -> bool:
    joined = os.path.normpath(os.path.join(base, relative))
    return joined == base or joined.startswith(base + os.sep)


# --- name validators ----------------------------------------------------------------------------


@BOUNDED
@given(st.one_of(hostile_text, not_text))
def test_skill_names_are_identifiers_or_refused(name: object) -> None:
    try:
        accepted = validate_skill_name(name)
    except SkillValidationError:
        return
    assert accepted == name and isinstance(name, str)
    assert name.isidentifier() and name.isascii()  # no '/', '.', ':' or '\\' can be in it
    assert _inside("/base/skills", f"{name}.py")


@BOUNDED
@given(st.one_of(hostile_text, not_text))
def test_artifact_names_stay_inside_the_folder_and_their_key(name: object) -> None:
    try:
        accepted = validate_artifact_name(name)
    except ArtifactNameError:
        return
    assert accepted == name and isinstance(name, str)
    assert _inside("/base/artifacts", name)
    assert PurePosixPath(name).parts[0] not in (".artifacts.json", ".artifacts.lock")
    part = encode_key_part(name)
    assert ":" not in part and part != "__index__"  # one segment of P:artifacts:<part>
    assert unquote(part) == name  # and it decodes back: two names never share a key


@settings(max_examples=60, deadline=None)
@given(hostile_text)
def test_artifact_store_never_writes_outside_its_folder(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "artifacts"
        store = FileArtifactStore(root)
        with contextlib.suppress(ArtifactNameError):
            store.save(name, "x")
        for dirpath, _, files in os.walk(tmp):
            for file in files:
                assert Path(dirpath, file).resolve().is_relative_to(root.resolve())


@BOUNDED
@given(hostile_text)
def test_tool_names_are_identifiers_or_refused(name: str) -> None:
    try:
        accepted = TypeAdapter(ToolName).validate_python(name)
    except ValidationError:
        return
    assert accepted == name and name.isidentifier()
    assert not any(c in name for c in "/\\.:%")


# --- HTTP path parameters -----------------------------------------------------------------------


@BOUNDED
@given(st.one_of(hostile_text, st.integers(), st.floats(allow_nan=False)))
def test_a_path_parameter_is_one_segment_or_refused(value: object) -> None:
    segment = encode_path_segment(value)
    assert unquote(segment) == str(value)
    assert not set(segment) - set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"
    )
    try:
        path = fill_path("/users/{user}/keys", {"user": value})
    except ValueError as exc:
        assert "path parameter 'user'" in str(exc)
        return
    parts = path.split("/")
    assert len(parts) == 4 and parts[1] == "users" and parts[3] == "keys"
    assert parts[2] not in ("", ".", "..")
    # httpx sends exactly this path: nothing is normalised away, no query or fragment appears.
    url = httpx.URL("http://127.0.0.1" + path)
    assert url.raw_path.decode() == path and url.query == b"" and url.fragment == ""


# --- the catalog: every operation, any input ----------------------------------------------------

DOUBLE = 'def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'
SEED_SKILL, SEED_ARTIFACT = "seeded_double", "seeded/kept.json"


@pytest.fixture(scope="module")
def fuzz_session() -> Any:
    """One in-process Session over a temp folder, with runtime deps off (no pip, no network),
    driven from a loop of its own so hypothesis can call it synchronously."""
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(
            storage=FileStorage(Path(tmp) / "base"),
            executor=InProcessExecutor(
                config=InProcessConfig(allow_runtime_deps=False, default_timeout=10)
            ),
        )
        loop.run_until_complete(session.start())
        loop.run_until_complete(session.add_skill(SEED_SKILL, DOUBLE, "Double a number."))
        loop.run_until_complete(session.save_artifact(SEED_ARTIFACT, {"kept": [1, 2]}))
        try:
            yield loop, session
        finally:
            loop.run_until_complete(session.close())
            loop.close()


def _nothing_lost(loop: asyncio.AbstractEventLoop, session: Session) -> None:
    skill = loop.run_until_complete(session.get_skill(SEED_SKILL))
    assert skill is not None and skill["source"] == DOUBLE
    assert loop.run_until_complete(session.load_artifact(SEED_ARTIFACT)) == {"kept": [1, 2]}


def _check(operation: Any, loop: asyncio.AbstractEventLoop, session: Session, args: Any) -> None:
    if operation.name in ("delete_skill", "create_skill") and args.get("name") == SEED_SKILL:
        return  # deliberately changing the seed is not losing it
    if operation.name == "save_artifact" and args.get("name") == SEED_ARTIFACT:
        return
    result = loop.run_until_complete(asyncio.wait_for(operation.call(session, args), 60))
    assert isinstance(result, OperationResult) and isinstance(result.text, str)
    json.dumps(result.text)  # what the MCP server sends must encode
    if result.is_error:
        assert result.text.startswith("Error"), result.text[:200]
    _nothing_lost(loop, session)


# Strings the schemas allow but uniform generation rarely reaches: names that collide in a
# tiny alphabet (a file where a folder should be), overlong and multi-byte names, path pieces.
hostile_strings = st.one_of(
    hostile_text,
    st.text(alphabet="ab/", min_size=1, max_size=5),
    st.text(alphabet="é", min_size=100, max_size=300),
    st.text(alphabet=st.characters(codec="ascii"), min_size=230, max_size=300),
    st.sampled_from([SEED_SKILL, SEED_ARTIFACT, "seeded", "seeded/kept.json/x", "\ud800"]),
)


def _inputs(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Objects the schema allows (each string sometimes swapped for a hostile one), and any
    small JSON object (the argument validation's side of the door)."""

    @st.composite
    def hostile(draw: st.DrawFn) -> Any:
        args = draw(from_schema(schema))
        return {
            k: draw(st.just(v) | hostile_strings) if isinstance(v, str) else v
            for k, v in args.items()
        }

    json_values = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
    return st.one_of(hostile(), st.dictionaries(st.text(max_size=8), json_values, max_size=3))


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_answers_any_input(name: str, fuzz_session: Any) -> None:
    loop, session = fuzz_session
    operation = OPERATIONS[name]

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_inputs(operation.input_schema()))
    def check(args: Any) -> None:
        _check(operation, loop, session, args)

    check()


def test_a_skill_offered_as_a_tool_answers_any_input(fuzz_session: Any) -> None:
    loop, session = fuzz_session
    (operation,) = [op for op in skills_as_operations(session) if op.name == SEED_SKILL]

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_inputs(operation.input_schema()))
    def check(args: Any) -> None:
        _check(operation, loop, session, args)

    check()


@settings(max_examples=80, deadline=None)
@given(hostile_text)
def test_redis_artifact_names_only_touch_their_own_key(redis_url: str, name: str) -> None:
    from py_code_mode import RedisStorage

    storage = RedisStorage(url=redis_url, prefix="fz")
    store, client = storage.get_artifact_store(), storage.client
    before = set(client.keys("*"))
    try:
        store.save(name, "x")
    except ArtifactNameError:
        assert set(client.keys("*")) == before
        return
    added = set(client.keys("*")) - before
    # Besides the artifact's own key: the index and the change counter (change_stamp).
    shared = {b"fz:artifacts:__index__", b"fz:artifacts:__version__"}
    assert added <= {f"fz:artifacts:{encode_key_part(name)}".encode(), *shared}
    assert client.type(b"fz:artifacts:__index__") == b"hash"
    assert store.load(name) == "x" and name in {a.name for a in store.list()}
    store.delete(name)
    assert not store.exists(name) and set(client.keys("*")) <= before | shared
