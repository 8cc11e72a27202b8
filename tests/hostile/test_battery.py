"""The hostile battery: each case against each executor that claims to protect against it.

The host keeps running, the stores are intact (checksums before and after), the next run on
that session works, and another session is unaffected. Cases an executor does not protect
against are its documented limits (docs/security.md) and are not run here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cases import ALL, CASES, Case
from harness import attack
from hosts import make_host

from conftest import require


@pytest.mark.parametrize("kind", ALL)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_hostile_case(case: Case, kind: str, tmp_path: Path) -> None:
    if kind not in case.protects:
        pytest.skip(
            f"{kind} does not protect against {case.name!r} (documented in docs/security.md)"
        )
    if kind == "sandbox":
        require("sandbox")
    report = await attack(case, kind, tmp_path)
    assert report["held"], report["detail"]


def test_sandbox_battery_with_an_unprivileged_host() -> None:
    """The sandbox column again, with the host running as an ordinary user (bubblewrap then
    works in a user namespace) instead of root."""
    if os.geteuid() != 0:
        pytest.skip("the tests run as an unprivileged user: the battery above is that host")
    require("sandbox")
    names = [c.name for c in CASES if "sandbox" in c.protects]
    with make_host("user") as host:
        reports = host.run_battery("sandbox", names)
    failed = {name: r["detail"] for name, r in reports.items() if not r["held"]}
    assert sorted(reports) == sorted(names)
    assert failed == {}, failed
