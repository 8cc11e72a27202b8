"""Skill add / get / search with RedisStorage versus FileStorage, at 1,000 skills.

Starts its own redis-server on a free port (Debian's `redis-server` must be installed).
Prints a table and writes JSON.

    python bench/storage.py [--skills 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from py_code_mode import FileStorage, RedisStorage

HERE = Path(__file__).resolve().parent


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL)  # fmt: skip
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def source(i: int) -> str:
    return f"def run(x: int) -> int:\n    '''Handle record kind {i} for the billing pipeline.'''\n    return x + {i}\n"


def measure(storage: Any, n: int) -> dict[str, float]:
    library = storage.get_skill_library()
    adds = []
    for i in range(n):
        t0 = time.perf_counter()
        library.create(f"skill_{i}", source(i))
        adds.append(time.perf_counter() - t0)
    gets = []
    for i in range(0, n, max(1, n // 200)):
        t0 = time.perf_counter()
        library.get(f"skill_{i}")
        gets.append(time.perf_counter() - t0)
    library.search("billing record", 5)  # build the index
    searches = []
    for i in range(100):
        t0 = time.perf_counter()
        library.search(f"billing record kind {i}", 5)
        searches.append(time.perf_counter() - t0)
    return {
        "add_p50_ms": statistics.median(adds) * 1000,
        "get_p50_ms": statistics.median(gets) * 1000,
        "search_p50_ms": statistics.median(searches) * 1000,
        "search_p95_ms": sorted(searches)[94] * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skills", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "storage.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pcm-storage-bench-"))
    proc, url = start_redis(work)
    try:
        rows = {
            "file": measure(FileStorage(work / "base"), args.skills),
            "redis": measure(RedisStorage(url=url, prefix="bench"), args.skills),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.skills} skills")
    print(
        f"{'backend':<8} {'add p50 ms':>11} {'get p50 ms':>11} {'search p50 ms':>14} {'search p95 ms':>14}"
    )
    for name, r in rows.items():
        print(
            f"{name:<8} {r['add_p50_ms']:>11.2f} {r['get_p50_ms']:>11.3f} {r['search_p50_ms']:>14.2f} {r['search_p95_ms']:>14.2f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"skills": args.skills, "rows": rows}, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
