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
    "numpy",
    "simsimd",
    "Stemmer",
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
        errors.MissingPackageError("lancedb", "search", "pip install lancedb"),
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


# --- the metadata declares what the code imports -------------------------------------------------

# Imported only when OPENAI_API_KEY asks the demo for a real model; the demo names the package.
# overrides: lancedb's dependency on Python 3.11, which the search index patches while lancedb
# imports it, only when it is installed.
OPTIONAL_IMPORTS = {
    "langchain_openai",
    "autogen_ext.models.openai",
    "llama_index.llms.openai",
    "overrides",
}


def _imported_modules() -> dict[str, str]:
    """Every absolute third-party import in the package (module -> a file importing it)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    found: dict[str, str] = {}
    for folder in ("core", "integrations"):
        for file in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top != "py_code_mode":
                        found.setdefault(module, str(file.relative_to(root)))
    return found


def _providers(module: str) -> set[str]:
    """Distributions installing ``module`` (namespace packages such as llama_index: the one
    whose files hold the submodule)."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    candidates = metadata.packages_distributions().get(module.split(".")[0], [])
    if len(candidates) > 1:
        path = module.replace(".", "/")
        candidates = [
            dist
            for dist in candidates
            if any(str(f).startswith(path) for f in metadata.distribution(dist).files or ())
        ]
    return {canonicalize_name(dist) for dist in candidates}


def _declared() -> set[str]:
    """Distributions pyproject.toml declares: dependencies and every extra but ``dev``."""
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads(
        (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    )["project"]
    lines = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "dev":
            lines += requirements
    return {canonicalize_name(Requirement(line).name) for line in lines}


def test_every_imported_distribution_is_declared() -> None:
    declared = _declared()
    missing = []
    for module, where in _imported_modules().items():
        if module in OPTIONAL_IMPORTS:
            continue
        providers = _providers(module)
        if not providers & declared:
            missing.append(f"{module} ({where}) from {sorted(providers) or 'nothing installed'}")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


# --- a missing dependency is one clear error -------------------------------------------------------

WITHOUT_LANCEDB = """
import asyncio, importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "lancedb":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
from py_code_mode import FileStorage, InProcessExecutor, Session, SubprocessExecutor

SKILL = 'def run(repo: str) -> str:\\n    \\"\\"\\"Analyse a GitHub repository.\\"\\"\\"\\n    return repo\\n'

async def main():
    executor = InProcessExecutor() if sys.argv[1] == "inprocess" else SubprocessExecutor()
    async with Session(storage=FileStorage("base"), executor=executor) as session:
        created = await session.run(f"skills.create('analyze_repo', {SKILL!r})")
        assert created.is_ok, created.error
        print((await session.run("skills.search('github analysis')")).error)

asyncio.run(main())
"""


@pytest.mark.parametrize("kind", ["inprocess", "subprocess"])
def test_search_without_lancedb_is_one_clear_error(kind: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_LANCEDB, kind],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("MissingPackageError: "), proc.stdout + proc.stderr
    assert "'lancedb'" in proc.stdout and "pip install" in proc.stdout, proc.stdout
    assert "rebuilding" not in proc.stderr, proc.stderr
