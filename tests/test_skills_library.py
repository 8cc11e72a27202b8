"""SkillLibrary over FileStorage: files, history, rollback, search and its index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from py_code_mode import FileStorage
from py_code_mode.errors import SkillNotFoundError, SkillValidationError, StorageReadError
from py_code_mode.skills import SkillLibrary

DOUBLE = 'def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'


@pytest.fixture
def library(tmp_path: Path) -> SkillLibrary:
    return FileStorage(tmp_path).get_skill_library()


def test_create_writes_the_source_file_as_the_reference_does(
    tmp_path: Path, library: SkillLibrary
) -> None:
    library.create("double", DOUBLE)
    assert (tmp_path / "skills" / "double.py").read_text() == DOUBLE
    assert [s.name for s in library.list()] == ["double"]


def test_explicit_description_persists_across_a_fresh_library(
    tmp_path: Path, library: SkillLibrary
) -> None:
    library.create("double", DOUBLE, "Multiply by two")
    again = FileStorage(tmp_path).get_skill_library()
    assert again.get("double").description == "Multiply by two"  # type: ignore[union-attr]


def test_a_bad_update_keeps_the_previous_version(library: SkillLibrary) -> None:
    library.create("double", DOUBLE)
    with pytest.raises(SkillValidationError):
        library.create("double", "def run(:")
    assert library.get("double").source == DOUBLE  # type: ignore[union-attr]
    assert len(library.history("double")) == 1


def test_history_and_rollback(library: SkillLibrary) -> None:
    library.create("double", DOUBLE)
    library.create("double", "def run(x: int) -> int:\n    return x + x\n", "v2")
    library.create("double", "def run(x: int) -> int:\n    return x * 2\n", "v3")
    versions = library.history("double")
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[-1]["current"] and not versions[0]["current"]
    restored = library.rollback("double", 1)
    assert restored.version == 4
    assert restored.source == DOUBLE
    assert [v.version for v in library.history("double")] == [1, 2, 3, 4]
    with pytest.raises(SkillValidationError, match="no version 9"):
        library.rollback("double", 9)


def test_saving_the_same_content_does_not_add_a_version(library: SkillLibrary) -> None:
    library.create("double", DOUBLE)
    library.create("double", DOUBLE)
    assert len(library.history("double")) == 1


def test_delete_keeps_history_so_a_skill_can_come_back(library: SkillLibrary) -> None:
    library.create("double", DOUBLE)
    assert library.delete("double") is True
    assert library.delete("double") is False
    assert library.get("double") is None
    assert library.rollback("double", 1).source == DOUBLE


def test_unknown_skill_history(library: SkillLibrary) -> None:
    with pytest.raises(SkillNotFoundError):
        library.history("never")


def test_hand_dropped_file_is_listed_and_found_by_search(
    tmp_path: Path, library: SkillLibrary
) -> None:
    library.create("double", DOUBLE)
    assert library.search("double a number", 1)[0].name == "double"
    skills = tmp_path / "skills"
    (skills / "weather_report.py").write_text(
        '"""Get the weather forecast for a city."""\n\ndef run(city: str) -> str:\n    return city\n'
    )
    (skills / "_helper.py").write_text("x = 1")  # private: ignored
    (skills / "broken.py").write_text("def run(:")  # invalid: skipped in listings
    library.store._scan_key = None  # type: ignore[attr-defined]
    assert [s.name for s in library.list()] == ["double", "weather_report"]
    assert library.search("forecast for a town", 1)[0].name == "weather_report"
    with pytest.raises(StorageReadError):
        library.get("broken")


def test_search_ranks_by_meaning_and_by_words(library: SkillLibrary) -> None:
    library.create(
        "fetch_github_repo",
        'def run(owner: str):\n    """Fetch repository metadata from GitHub."""\n',
    )
    library.create("parse_csv", 'def run(path: str):\n    """Parse a CSV file into rows."""\n')
    library.create("send_email", 'def run(to: str):\n    """Send an email message."""\n')
    assert library.search("github analysis", 1)[0].name == "fetch_github_repo"
    assert library.search("read spreadsheet rows", 1)[0].name == "parse_csv"
    assert library.search("mail someone", 1)[0].name == "send_email"
    assert len(library.search("anything", 2)) == 2
    assert library.search("", 5)  # an empty query lists skills instead of failing


def test_corrupt_index_is_rebuilt(tmp_path: Path, library: SkillLibrary) -> None:
    library.create("double", DOUBLE)
    assert library.search("double", 1)[0].name == "double"
    index_dir = tmp_path / ".code-mode" / "index"
    for file in index_dir.rglob("*"):
        if file.is_file() and not file.name.endswith(".lock"):
            file.write_bytes(b"garbage")
    fresh = FileStorage(tmp_path).get_skill_library()
    assert fresh.search("double a number", 1)[0].name == "double"


def test_adding_a_skill_only_embeds_that_skill(library: SkillLibrary) -> None:
    for i in range(5):
        library.create(f"skill_{i}", f'def run():\n    """Skill number {i}."""\n')
    library.refresh()
    index = library._index  # type: ignore[attr-defined]
    seen: list[int] = []
    real = index._batch
    index._batch = lambda docs: (seen.append(len(docs)), real(docs))[1]
    library.create("skill_new", 'def run():\n    """A new one."""\n')
    library.refresh()
    assert seen == [1]


def test_usage_statistics(library: SkillLibrary) -> None:
    library.create("double", DOUBLE)
    library.record_usage("double", True, 2.0)
    library.record_usage("double", False, 4.0)
    stats = library.stats()["double"]
    assert (stats.calls, stats.failures, stats.mean_duration_ms) == (2, 1, 3.0)
    assert stats.last_used is not None


WRITER = """
import sys
from py_code_mode import FileStorage
lib = FileStorage(sys.argv[1]).get_skill_library()
for i in range(15):
    lib.create(f"{sys.argv[2]}_{i}", f'def run():\\n    \"\"\"{sys.argv[2]} number {i}.\"\"\"\\n    return {i}\\n')
    if i % 5 == 0:
        lib.search("number", 3)
"""


def test_two_processes_writing_skills_and_searching(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), who], stderr=subprocess.PIPE)
        for who in ("alpha", "beta")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()
    library = FileStorage(tmp_path).get_skill_library()
    names = {s.name for s in library.list()}
    assert names == {f"{w}_{i}" for w in ("alpha", "beta") for i in range(15)}
    library.refresh()
    index = library._search_index()  # type: ignore[attr-defined]
    table = index._open()
    assert sorted(index._read_hashes(table)) == sorted(names)
    assert table.count_rows() == len(names)  # one row per skill: no duplicates
    assert library.search("beta number 7", 1)[0].name == "beta_7"
