"""Skill search: index build time, query latency and quality at 1k, 10k and 100k skills.

Modes: BM25 only ("text"), vectors only ("vector") and the fused default ("hybrid"). Quality is
measured on a small labelled set (`LABELLED`: a skill, and queries that paraphrase what it does)
hidden among generated skills. Also: adding one skill to a library, and the first search in a
new process including imports. Prints tables and writes JSON.

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

# (name, description, [queries that should find it])
LABELLED: list[tuple[str, str, list[str]]] = [
    (
        "fetch_github_repo",
        "Fetch a GitHub repository's metadata: stars, forks and open issues",
        ["github analysis", "how popular is this repo on github"],
    ),
    (
        "summarize_article",
        "Summarize a long article into three bullet points",
        ["tl;dr of a news story", "shorten this text into key points"],
    ),
    (
        "resize_image",
        "Resize an image to a target width and height",
        ["make a picture smaller", "scale a photo down"],
    ),
    (
        "send_slack_message",
        "Post a message to a Slack channel",
        ["notify the team in slack", "chat message to a channel"],
    ),
    (
        "parse_csv_rows",
        "Parse a CSV file into a list of row dictionaries",
        ["read spreadsheet data", "load comma separated values"],
    ),
    (
        "translate_text",
        "Translate text into another language",
        ["convert english to french", "language translation"],
    ),
    (
        "compute_invoice_total",
        "Compute an invoice total with tax and discounts",
        ["sum up the bill including vat", "calculate how much the customer owes"],
    ),
    (
        "extract_pdf_text",
        "Extract the plain text from a PDF document",
        ["get words out of a pdf", "read a pdf file"],
    ),
    (
        "check_website_status",
        "Check whether a website is up and how fast it answers",
        ["is the site down", "ping a url for uptime"],
    ),
    (
        "geocode_address",
        "Turn a street address into latitude and longitude",
        ["coordinates for an address", "where on the map is this street"],
    ),
    (
        "weather_forecast",
        "Get the weather forecast for a city",
        ["will it rain tomorrow in paris", "temperature outlook for a town"],
    ),
    (
        "dedupe_contacts",
        "Remove duplicate contacts from an address book",
        ["merge repeated people in my contacts", "clean duplicate entries"],
    ),
    (
        "schedule_meeting",
        "Find a free slot and schedule a calendar meeting",
        ["book a call with someone", "set up an appointment"],
    ),
    (
        "stock_price_history",
        "Download historical stock prices for a ticker",
        ["share price chart data", "past prices of AAPL"],
    ),
    (
        "sentiment_score",
        "Score the sentiment of a review from negative to positive",
        ["is this feedback positive or negative", "mood of customer reviews"],
    ),
    (
        "convert_currency",
        "Convert an amount between currencies at today's rate",
        ["how many euros is 100 dollars", "exchange rate conversion"],
    ),
    (
        "git_changelog",
        "Write a changelog from the git commits since the last tag",
        ["release notes from commits", "what changed since the last version"],
    ),
    (
        "scan_open_ports",
        "Scan a host for open TCP ports",
        ["which ports are listening on a server", "network port scan"],
    ),
    (
        "compress_folder",
        "Compress a folder into a zip archive",
        ["zip up a directory", "make an archive of files"],
    ),
    (
        "detect_language",
        "Detect which language a text is written in",
        ["what language is this sentence", "identify the language of text"],
    ),
    (
        "generate_password",
        "Generate a strong random password",
        ["create a secure passphrase", "random credentials"],
    ),
    (
        "rename_photos_by_date",
        "Rename photos by the date they were taken",
        ["organize pictures by capture time", "sort image files chronologically"],
    ),
    (
        "sql_query_report",
        "Run a SQL query and format the rows as a report",
        ["database query to a table", "report from sql results"],
    ),
    (
        "word_count",
        "Count words and characters in a document",
        ["how long is this essay", "length of a text in words"],
    ),
    (
        "ocr_receipt",
        "Read the items and total from a photo of a receipt",
        ["scan a shopping receipt", "text from a receipt picture"],
    ),
    (
        "cluster_customers",
        "Group customers into segments by purchase behaviour",
        ["customer segmentation", "find groups of similar buyers"],
    ),
    (
        "monitor_disk_usage",
        "Report disk usage and warn when a volume is almost full",
        ["is the drive running out of space", "free storage left"],
    ),
    (
        "youtube_transcript",
        "Fetch the transcript of a YouTube video",
        ["subtitles of a video", "what is said in this clip"],
    ),
    (
        "validate_email_address",
        "Check that an email address is well formed and its domain exists",
        ["is this mail address valid", "verify an email"],
    ),
    (
        "plot_time_series",
        "Plot a time series as a line chart image",
        ["draw a graph over time", "chart of values by date"],
    ),
]

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


MODES = ["daily", "incremental", "secure", "batch", "streaming"]


def generated(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` distinct filler skills (name, description)."""
    rng = random.Random(seed)
    combos = list(itertools.product(VERBS, OBJECTS, FORMATS, SYSTEMS, MODES))
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


def documents(n: int) -> dict[str, SearchDocument]:
    docs = {}
    for name, description, _ in LABELLED:
        docs[name] = _doc(name, description)
    for name, description in generated(max(0, n - len(LABELLED))):
        docs[name] = _doc(name, description)
    return docs


def _doc(name: str, description: str) -> SearchDocument:
    skill, _ = parse_skill(
        name, f'def run(value: str):\n    """{description}."""\n    return value\n'
    )
    return SearchDocument(name, skill.search_text(), skill.embedding_text(), skill.content_hash)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def quality(index: HybridIndex, mode: str) -> dict[str, float]:
    hits, reciprocal, total = 0, 0.0, 0
    for name, _, queries in LABELLED:
        for query in queries:
            ranked = [n for n, _ in index.search(query, 5, mode=mode)]
            total += 1
            if name in ranked:
                hits += 1
                reciprocal += 1.0 / (ranked.index(name) + 1)
    return {"recall@5": hits / total, "mrr": reciprocal / total}


def latency(index: HybridIndex, mode: str, queries: int) -> dict[str, float]:
    pool = [q for _, _, qs in LABELLED for q in qs]
    for q in pool[:5]:
        index.search(q, 5, mode=mode)  # warm-up
    times = []
    for i in range(queries):
        t0 = time.perf_counter()
        index.search(pool[i % len(pool)], 5, mode=mode)
        times.append(time.perf_counter() - t0)
    return {"p50_ms": statistics.median(times) * 1000, "p95_ms": percentile(times, 0.95) * 1000}


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
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.7, 0.85])
    parser.add_argument("--json", type=Path, default=HERE / "results" / "skill_search.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pcm-skill-bench-"))
    report: dict[str, Any] = {"sizes": {}, "weights": {}, "library": {}}
    try:
        for n in args.sizes:
            docs = documents(n)
            index = HybridIndex(work / f"index-{n}", "skills")
            t0 = time.perf_counter()
            index.sync(docs)
            build = time.perf_counter() - t0
            row: dict[str, Any] = {"build_s": build}
            for mode in ("text", "vector", "hybrid"):
                row[mode] = {**latency(index, mode, args.queries), **quality(index, mode)}
            if n == args.sizes[0]:
                for weight in args.weights:
                    index.vector_weight = weight
                    report["weights"][str(weight)] = quality(index, "hybrid")
                index.vector_weight = 0.7
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

    print(f"\n{'skills':>8} {'mode':<7} {'p50 ms':>8} {'p95 ms':>8} {'recall@5':>9} {'MRR':>6}")
    for n, row in report["sizes"].items():
        for mode in ("text", "vector", "hybrid"):
            r = row[mode]
            print(
                f"{n:>8} {mode:<7} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['recall@5']:>9.2f} {r['mrr']:>6.2f}"
            )
    print("\nfusion weight of the vector ranking (hybrid, smallest size):")
    for weight, q in report["weights"].items():
        print(f"  {weight}: recall@5 {q['recall@5']:.2f}, MRR {q['mrr']:.2f}")
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
