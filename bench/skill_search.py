"""Skill search: quality per query slice, index build time and query latency at 1k, 10k and
100k skills.

Modes: BM25 only ("text"), vectors only ("vector") and the fused default ("hybrid"). Quality is
measured on the labelled set in ``search_set.py`` (156 skills in look-alike groups, 352 queries
in slices: paraphrase, exact, partial, typo, multi, legacy), per split: ranking parameters are
chosen on ``tune`` and reported on ``heldout``. Quality is measured on the set alone and again
with generated filler skills around it (``--sizes``). Also: adding one skill to a library, and
the first search in a new process including imports. Prints tables and writes JSON.

    python bench/skill_search.py [--sizes 1000 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from py_code_mode import FileStorage
from py_code_mode.search import HybridIndex, SearchDocument
from py_code_mode.skills import parse_skill

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from search_set import QUERIES, SKILLS, SLICES, LabelledQuery  # noqa: E402

MODES = ("text", "vector", "hybrid")
SPLITS = ("heldout", "tune")

VERBS = [
    "fetch",
    "parse",
    "convert",
    "export",
    "import",
    "validate",
    "render",
    "sync",
    "merge",
    "split",
    "archive",
    "encrypt",
    "decrypt",
    "index",
    "rank",
    "filter",
    "normalize",
    "aggregate",
    "upload",
    "download",
]
OBJECTS = [
    "invoice",
    "order",
    "ticket",
    "user",
    "log",
    "metric",
    "report",
    "image",
    "video",
    "document",
    "sensor",
    "payment",
    "message",
    "event",
    "record",
    "table",
    "config",
    "backup",
    "certificate",
    "schema",
]
FORMATS = ["json", "xml", "yaml", "parquet", "csv", "html", "markdown", "protobuf", "avro", "excel"]
SYSTEMS = [
    "s3",
    "postgres",
    "redis",
    "kafka",
    "sftp",
    "bigquery",
    "elastic",
    "mongo",
    "ftp",
    "azure",
    "gcs",
    "mysql",
    "sqlite",
    "dynamo",
    "snowflake",
    "cassandra",
    "rabbitmq",
    "nats",
    "clickhouse",
    "hdfs",
]


FILLER_MODES = ["daily", "incremental", "secure", "batch", "streaming"]


def generated(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` distinct filler skills (name, description)."""
    rng = random.Random(seed)
    combos = list(itertools.product(VERBS, OBJECTS, FORMATS, SYSTEMS, FILLER_MODES))
    rng.shuffle(combos)
    if n > len(combos):
        raise SystemExit(f"at most {len(combos)} generated skills")
    out = []
    for verb, obj, fmt, system, mode in combos[:n]:
        out.append(
            (
                f"{mode}_{verb}_{obj}_{fmt}_{system}",
                f"{verb.capitalize()} {obj} data as {fmt} with {system}, {mode}",
            )
        )
    return out


def labelled_documents() -> dict[str, SearchDocument]:
    """The labelled set's skills as the library indexes them."""
    docs = {}
    for item in SKILLS:
        skill, _ = parse_skill(item.name, item.source)
        docs[item.name] = _document(skill)
    return docs


def documents(n: int) -> dict[str, SearchDocument]:
    """The labelled skills plus generated fillers, ``n`` in all (at least the labelled set)."""
    docs = labelled_documents()
    for name, description in generated(max(0, n - len(docs))):
        docs[name] = _doc(name, description)
    return docs


def _document(skill: Any) -> SearchDocument:
    return SearchDocument(
        skill.name, skill.search_text(), skill.embedding_text(), skill.content_hash
    )


def _doc(name: str, description: str) -> SearchDocument:
    skill, _ = parse_skill(
        name, f'def run(value: str):\n    """{description}."""\n    return value\n'
    )
    return _document(skill)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def score(ranked: list[str], query: LabelledQuery) -> tuple[float, float, float]:
    """(recall@5: share of the relevant skills in the top 5; reciprocal rank of the first
    relevant one; 1 if the top result is relevant)."""
    top = ranked[:5]
    recall = sum(1 for name in query.relevant if name in top) / len(query.relevant)
    rr = next((1.0 / (i + 1) for i, name in enumerate(top) if name in query.relevant), 0.0)
    return recall, rr, 1.0 if top and top[0] in query.relevant else 0.0


def summarize(rows: list[tuple[LabelledQuery, tuple[float, float, float]]]) -> dict[str, Any]:
    """Mean recall@5, MRR and recall@1 per split and slice (and ``all``)."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        per: dict[str, list[tuple[float, float, float]]] = {}
        for query, metrics in rows:
            if query.split == split:
                per.setdefault(query.kind, []).append(metrics)
                per.setdefault("all", []).append(metrics)
        out[split] = {
            kind: {
                "recall@5": statistics.fmean(m[0] for m in values),
                "mrr": statistics.fmean(m[1] for m in values),
                "recall@1": statistics.fmean(m[2] for m in values),
                "queries": len(values),
            }
            for kind, values in per.items()
        }
    return out


def quality(index: HybridIndex, mode: str) -> dict[str, Any]:
    rows = []
    for query in QUERIES:
        ranked = [n for n, _ in index.search(query.text, 5, mode=mode)]
        rows.append((query, score(ranked, query)))
    return summarize(rows)


def latency(index: HybridIndex, mode: str, queries: int) -> dict[str, float]:
    pool = [q.text for q in QUERIES]
    for q in pool[:5]:
        index.search(q, 5, mode=mode)  # warm-up
    times = []
    for i in range(queries):
        t0 = time.perf_counter()
        index.search(pool[i % len(pool)], 5, mode=mode)
        times.append(time.perf_counter() - t0)
    return {"p50_ms": statistics.median(times) * 1000, "p95_ms": percentile(times, 0.95) * 1000}


def print_quality(title: str, by_mode: dict[str, Any]) -> None:
    print(f"\n{title}")
    for split in SPLITS:
        print(f"  {split}: recall@5 / MRR / recall@1")
        print(f"    {'slice':<11}" + "".join(f"{m:>22}" for m in MODES))
        for kind in ["all", *SLICES]:
            cells = []
            for mode in MODES:
                r = by_mode[mode][split].get(kind)
                cells.append(
                    f"{r['recall@5']:.2f}/{r['mrr']:.2f}/{r['recall@1']:.2f} ({r['queries']:>3})"
                    if r
                    else "-"
                )
            print(f"    {kind:<11}" + "".join(f"{c:>22}" for c in cells))


def add_one_library(n: int, work: Path) -> dict[str, float]:
    """Time to create one skill and make it searchable in a library of ``n`` skill files."""
    base = work / f"lib-{n}"
    library = FileStorage(base).get_skill_library()
    skills_dir = base / "skills"
    skills_dir.mkdir(parents=True, exist_ok=True)
    for name, description in generated(n, seed=11):
        (skills_dir / f"{name}.py").write_text(
            f'def run(value: str):\n    """{description}."""\n    return value\n'
        )
    t0 = time.perf_counter()
    library.refresh()
    initial = time.perf_counter() - t0
    t0 = time.perf_counter()
    library.create(
        "brand_new_skill", 'def run(city: str):\n    """Count the bicycles parked in a city."""\n'
    )
    found = library.search("how many bikes are parked", 1)
    add = time.perf_counter() - t0
    assert found and found[0].name == "brand_new_skill", found
    return {"initial_index_s": initial, "add_one_and_search_ms": add * 1000}


FIRST_SEARCH = """
import sys, time
t0 = time.perf_counter()
from py_code_mode import FileStorage
lib = FileStorage(sys.argv[1]).get_skill_library()
hits = lib.search("how many bikes are parked", 1)
print(time.perf_counter() - t0, hits[0].name)
"""


def first_search_new_process(base: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_SEARCH, str(base)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    seconds, name = out.stdout.split()
    assert name == "brand_new_skill"
    return float(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--library-sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--json", type=Path, default=HERE / "results" / "skill_search.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pcm-skill-bench-"))
    report: dict[str, Any] = {"set": {}, "sizes": {}, "library": {}}
    try:
        index = HybridIndex(work / "index-set", "skills")
        index.sync(labelled_documents())
        report["set"] = {mode: quality(index, mode) for mode in MODES}
        for n in args.sizes:
            docs = documents(n)
            index = HybridIndex(work / f"index-{n}", "skills")
            t0 = time.perf_counter()
            index.sync(docs)
            build = time.perf_counter() - t0
            row: dict[str, Any] = {"build_s": build}
            for mode in MODES:
                row[mode] = {**latency(index, mode, args.queries), "quality": quality(index, mode)}
            extra = _doc("count_parked_bicycles", "Count the bicycles parked in a city")
            t0 = time.perf_counter()
            index.sync({**docs, extra.name: extra})
            row["add_one_ms"] = (time.perf_counter() - t0) * 1000
            report["sizes"][str(n)] = row
            print(
                f"{n:>7} skills: index built in {build:.1f} s; adding one: {row['add_one_ms']:.1f} ms"
            )
        for n in args.library_sizes:
            report["library"][str(n)] = add_one_library(n, work)
        if args.library_sizes:
            report["first_search_new_process_s"] = first_search_new_process(
                work / f"lib-{args.library_sizes[0]}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print_quality(f"labelled set alone ({len(SKILLS)} skills)", report["set"])
    for n, row in report["sizes"].items():
        print_quality(f"labelled set among {n} skills", {m: row[m]["quality"] for m in MODES})
    print(f"\n{'skills':>8} {'mode':<7} {'p50 ms':>8} {'p95 ms':>8} {'heldout R@5':>12} {'MRR':>6}")
    for n, row in report["sizes"].items():
        for mode in MODES:
            r = row[mode]
            q = r["quality"]["heldout"]["all"]
            print(
                f"{n:>8} {mode:<7} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
                f"{q['recall@5']:>12.2f} {q['mrr']:>6.2f}"
            )
    print("\nlibrary (skill files on disk):")
    for n, r in report["library"].items():
        print(
            f"  {n} skills: first index {r['initial_index_s']:.1f} s; create one + search it: "
            f"{r['add_one_and_search_ms']:.1f} ms"
        )
    if "first_search_new_process_s" in report:
        print(
            f"first search in a new process (imports included): {report['first_search_new_process_s']:.2f} s"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
