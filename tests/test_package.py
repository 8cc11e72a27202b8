"""Packaging promises: a fast, framework-free import and the reference's public names."""

from __future__ import annotations

import subprocess
import sys

import pytest

import py_code_mode
from py_code_mode import errors
from py_code_mode.worker.wire import decode_data, encode_data

HEAVY = [
    "lancedb",
    "wordllama",
    "autogen_agentchat",
    "langchain_core",
    "llama_index",
    "pydantic",
    "redis",
    "mcp",
]


def test_import_loads_nothing_heavy() -> None:
    code = f"import sys, py_code_mode\nprint([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_reference_names_are_importable() -> None:
    for name in [
        "Session",
        "FileStorage",
        "ExecutionResult",
        "Executor",
        "Capability",
        "InProcessExecutor",
        "InProcessConfig",
        "SubprocessExecutor",
        "SubprocessConfig",
        "SUBPROCESS_AVAILABLE",
        "CONTAINER_AVAILABLE",
        "ContainerExecutor",
        "ContainerConfig",
        "CodeModeError",
        "ToolNotFoundError",
        "ToolCallError",
        "ToolTimeoutError",
        "ArtifactNotFoundError",
        "ArtifactWriteError",
        "SkillNotFoundError",
        "SkillValidationError",
        "SkillExecutionError",
        "DependencyError",
        "StorageError",
        "StorageReadError",
        "StorageWriteError",
        "ConfigurationError",
        "JsonSchema",
    ]:
        assert hasattr(py_code_mode, name), name
    assert py_code_mode.SUBPROCESS_AVAILABLE is True
    assert py_code_mode.__version__ != "0.1.0"
    with pytest.raises(AttributeError):
        py_code_mode.DoesNotExist  # noqa: B018


def test_execution_result_positional_constructor() -> None:
    result = py_code_mode.ExecutionResult(5, "out", None, 1.5, {"k": 1})
    assert (result.value, result.stdout, result.error) == (5, "out", None)
    assert result.execution_time_ms == 1.5 and result.backend_info == {"k": 1}
    assert result.is_ok
    assert not py_code_mode.ExecutionResult(error="E: x").is_ok


def test_every_error_is_a_code_mode_error_and_keeps_builtin_bases() -> None:
    assert issubclass(errors.ArtifactNameError, ValueError)
    assert issubclass(errors.SkillNotFoundError, AttributeError)
    assert issubclass(errors.SkillNotFoundError, ValueError)
    assert issubclass(errors.RuntimeDepsDisabledError, RuntimeError)
    for cls in errors.ERRORS_BY_NAME.values():
        assert issubclass(cls, errors.CodeModeError)


@pytest.mark.parametrize(
    "error",
    [
        errors.ToolNotFoundError("curl", ["jq", "git"]),
        errors.ToolCallError("curl", {"url": "x"}, "exit 7"),
        errors.ArtifactNotFoundError("gone"),
        errors.StorageReadError("corrupt", path="/x"),
        errors.SkillValidationError("no run", skill_name="s", line=3),
    ],
)
def test_errors_cross_the_wire_as_the_same_type(error: errors.CodeModeError) -> None:
    again = errors.error_from_wire(error.to_wire())
    assert type(again) is type(error)
    assert str(again) == str(error)
    for key, value in error._wire_attrs().items():
        assert getattr(again, key) == value


def test_tool_not_found_message_lists_available() -> None:
    err = errors.ToolNotFoundError("x", [f"t{i}" for i in range(25)])
    assert str(err).startswith("Tool 'x' not found. Available: t0, t1")
    assert str(err).endswith("(and 5 more)")


@pytest.mark.parametrize(
    "value",
    [
        None,
        1,
        2.5,
        "s",
        [1, [2]],
        {"a": {"b": [None]}},
        b"\x00",
        (1, (2,)),
        {1, 2},
        {1: "a", (1, 2): "b"},
        {"$t": "not a tag"},
    ],
)
def test_wire_codec_round_trips(value: object) -> None:
    assert decode_data(encode_data(value)) == value


def test_wire_decoder_refuses_malformed_tags() -> None:
    with pytest.raises(ValueError):
        decode_data({"$t": "bytes", "v": 5})
    with pytest.raises(ValueError):
        decode_data({"$t": "evil", "v": []})


async def test_container_executor_without_docker_fails_at_start_not_construction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from py_code_mode import ContainerConfig, ContainerExecutor, FileStorage
    from py_code_mode.errors import WorkerError

    executor = ContainerExecutor(ContainerConfig(docker="docker-binary-that-does-not-exist"))
    with pytest.raises(WorkerError, match="docker client is not installed"):
        await executor.start(FileStorage(tmp_path))
