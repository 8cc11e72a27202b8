"""The story every framework's scripted agent plays: code that calls a tool, saved as a skill,
then found by search and invoked — as a catalog call and as the skill's own tool."""

from __future__ import annotations

SKILL = (
    "def run(text: str) -> int:\n"
    "    '''Count the words in a text.'''\n"
    "    return tools.word_count(text=text)\n"
)

TASK_ONE = [
    ("run_code", {"code": "tools.word_count(text='one two three')"}),
    (
        "create_skill",
        {"name": "count_words", "source": SKILL, "description": "Count the words in a text"},
    ),
]
TASK_TWO = [
    ("search_skills", {"query": "how many words are in a sentence"}),
    ("invoke_skill", {"name": "count_words", "arguments": {"text": "x y"}}),
    ("count_words", {"text": "p q r s"}),
]


def word_count(text: str) -> int:
    """Count words.

    Args:
        text: The text.
    """
    return len(text.split())


def check_results(results: dict[str, str]) -> None:
    """What the tools must have answered, whatever the framework."""
    assert results["run_code"] == "3", results
    assert '"name": "count_words"' in results["create_skill"], results
    assert '"name": "count_words"' in results["search_skills"], results
    assert results["invoke_skill"] == "2", results
    assert results["count_words"] == "4", results
