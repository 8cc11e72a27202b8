"""bench/load.py's quick mode: a few agents on both servers, nothing lost (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_load_benchmark_answers_every_run_and_reads_back_every_artifact(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--quick", "--settle", "30",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {r["server"] for r in rows} == {"mcp", "server"}
    for row in rows:
        assert row["sessions_up"] == row["sessions"] == 3, row
        assert row["runs_sent"] >= 3, row  # every agent ran at least once
        assert row["runs_sent"] == row["runs_answered"] == row["runs_correct"], row
        assert row["artifacts_verified"] == row["runs_sent"], row
        assert row["errors"] == {} and row["setup_errors"] == {}, row
        assert row["leaked_workers"] == 0, row  # each agent's worker exited when it left
        # Each agent's worker was in the server's tree while it ran.
        assert row["memory_loaded"]["processes"] > row["memory_idle_server"]["processes"], row
