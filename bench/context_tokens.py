"""How much context the tool definitions take, as the number of functions grows.

Compares what a model is shown: one native tool per function (the usual way) versus this
project's catalog alone, and the catalog plus skills rendered as tools (capped at 20). Tokens
are estimated as characters / 4 of the JSON tool definitions (no tokenizer download needed).

    python bench/context_tokens.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from py_code_mode import FileStorage, Session
from py_code_mode.catalog import OPERATIONS, skills_as_operations

HERE = Path(__file__).resolve().parent
SIZES = (10, 100, 1000)


def definition(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def tokens(definitions: list[dict[str, Any]]) -> int:
    return len(json.dumps(definitions)) // 4


def skill_source(i: int) -> str:
    return (
        f"def run(item_id: str, limit: int = 10, verbose: bool = False) -> dict:\n"
        f"    '''Fetch record batch {i} from the inventory service and summarize it.\n\n"
        f"    Args:\n        item_id: Which record to start from.\n        limit: How many records.\n"
        f"        verbose: Include every field.\n    '''\n    return {{}}\n"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "context_tokens.json")
    args = parser.parse_args()
    catalog = [definition(op.name, op.description, op.input_schema()) for op in OPERATIONS.values()]
    rows = []
    for n in SIZES:
        base = Path(tempfile.mkdtemp(prefix="pcm-ctx-"))
        session = Session(storage=FileStorage(base))
        library = session.storage.get_skill_library()  # type: ignore[attr-defined]
        for i in range(n):
            library.create(f"fetch_batch_{i}", skill_source(i))
        native = [definition(s.name, s.description, s.input_schema) for s in library.list()]
        as_tools = [
            definition(op.name, op.description, op.input_schema())
            for op in skills_as_operations(session)
        ]
        rows.append(
            {
                "functions": n,
                "one_tool_per_function": tokens(native),
                "catalog": tokens(catalog),
                "catalog_plus_skill_tools": tokens(catalog + as_tools),
            }
        )
    print("tokens ≈ characters / 4 of the JSON tool definitions a model is shown")
    print(f"{'functions':>9} {'one tool each':>14} {'catalog':>8} {'catalog + 20 skill tools':>25}")
    for r in rows:
        print(
            f"{r['functions']:>9} {r['one_tool_per_function']:>14} {r['catalog']:>8} {r['catalog_plus_skill_tools']:>25}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"estimate": "characters/4", "rows": rows}, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
