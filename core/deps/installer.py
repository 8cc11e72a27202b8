"""Installs packages into a per-base overlay folder, never into the host's environment.

pip installs into a fresh staging folder next to the overlay (``--target``); only a successful
install is moved into the overlay, so a failed or timed-out install leaves it as it was. The
interpreter that runs pip is the executor's, so packages match the code that imports them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from .._fileio import file_lock
from ..errors import DependencyError
from ..types import Record

ALLOWED_EXTRA_ARGS = frozenset({"--quiet", "-q", "--no-cache-dir", "--upgrade", "-U", "--no-deps"})

_PRESENT = """
import json, sys, importlib.metadata as md
from pip._vendor.packaging.requirements import Requirement
paths = json.loads(sys.argv[1]) + sys.path
found = []
for spec in json.loads(sys.argv[2]):
    try:
        req = Requirement(spec)
        dist = next(iter(md.distributions(name=req.name, path=paths)), None)
        if dist is not None and req.specifier.contains(dist.version, prereleases=True):
            found.append(spec)
    except Exception:
        pass
print(json.dumps(found))
"""


class SyncResult(Record):
    """What an install did: ``installed``, ``already_present``, ``failed`` (lists of specs)."""

    installed: list[str] = Field(default_factory=list)
    already_present: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "installed": self.installed,
            "already_present": self.already_present,
            "failed": self.failed,
        }


def _tail(text: str, lines: int = 12, limit: int = 2000) -> str:
    tail = "\n".join(text.strip().splitlines()[-lines:])
    return tail[-limit:]


class PackageInstaller:
    """pip into an overlay folder, with a timeout and capped output.

    ``allow_source_builds``: whether pip may build source distributions. Building one runs the
    package's own code (``setup.py``, its build backend) on the host, as the host's user, with
    the host's environment, so executors that run code outside the host process install wheels
    only (``--only-binary :all:``) unless the operator sets this to True. None: the executor's
    default (wheels only for subprocess, sandbox and container executors; in-process code is
    trusted anyway).
    """

    def __init__(
        self,
        target: Path | str | None = None,
        *,
        python: str | None = None,
        timeout: float = 120.0,
        find_links: Sequence[str] = (),
        index_url: str | None = None,
        no_index: bool = False,
        extra_args: Sequence[str] | None = None,
        allow_source_builds: bool | None = None,
    ) -> None:
        extra = list(extra_args or [])
        bad = [a for a in extra if a not in ALLOWED_EXTRA_ARGS]
        if bad:
            raise ValueError(
                f"extra_args not allowed: {bad}; allowed: {sorted(ALLOWED_EXTRA_ARGS)}"
            )
        self._target = Path(target) if target is not None else None
        self.python = python or sys.executable
        self.timeout = timeout
        self.find_links = list(find_links)
        self.index_url = index_url
        self.no_index = no_index
        self.extra_args = extra
        self.allow_source_builds = allow_source_builds

    @property
    def target(self) -> Path:
        """The overlay folder (a temporary one if none was given or bound)."""
        if self._target is None:
            self._target = Path(tempfile.mkdtemp(prefix="py-code-mode-deps-"))
        return self._target

    def bound(
        self, *, python: str, target: Path | None, source_builds: bool = True
    ) -> PackageInstaller:
        """A copy for one executor: its interpreter, the storage's overlay unless this
        installer was given its own target, and the executor's ``source_builds`` default unless
        the operator chose."""
        allow = self.allow_source_builds
        return PackageInstaller(
            self._target or target, python=python, timeout=self.timeout, find_links=self.find_links,
            index_url=self.index_url, no_index=self.no_index, extra_args=self.extra_args,
            allow_source_builds=source_builds if allow is None else allow,
        )  # fmt: skip

    def present(self, specs: Iterable[str]) -> list[str]:
        """The specs already satisfied for the executor (its environment plus the overlay)."""
        specs = list(specs)
        if not specs:
            return []
        try:
            out = subprocess.run(
                [self.python, "-c", _PRESENT, json.dumps([str(self.target)]), json.dumps(specs)],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            return list(json.loads(out.stdout or "[]"))
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return []

    def install(self, specs: Iterable[str]) -> SyncResult:
        """Install what is missing; raises DependencyError (pip's last lines) on failure."""
        specs = list(dict.fromkeys(specs))
        present = self.present(specs)
        todo = [s for s in specs if s not in present]
        if not todo:
            return SyncResult(already_present=present)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.target.parent))
        command = [
            self.python, "-m", "pip", "install", "--target", str(staging), "--no-input",
            "--disable-pip-version-check", "--no-warn-script-location", "--no-compile",
        ]  # fmt: skip
        for link in self.find_links:
            command += ["--find-links", link]
        if self.index_url:
            command += ["--index-url", self.index_url]
        if self.no_index:
            command.append("--no-index")
        wheels_only = self.allow_source_builds is False
        if wheels_only:
            command += ["--only-binary", ":all:"]
        command += [*self.extra_args, *todo]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            raise DependencyError(
                f"installing {', '.join(todo)} timed out after {self.timeout}s; nothing was changed",
                operation="install",
            ) from None
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise DependencyError(
                f"cannot run pip with {self.python}: {exc}", operation="install"
            ) from exc
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            said = _tail(proc.stderr or proc.stdout)
            hint = ""
            if wheels_only and "matching distribution" in said:
                hint = (
                    "\nOnly wheels are installed here: building a source distribution would run "
                    "the package's own code on the host. An operator can allow that with "
                    "PackageInstaller(allow_source_builds=True), or provide a wheel (find_links)."
                )
            raise DependencyError(
                f"installing {', '.join(todo)} failed; nothing was changed. pip said:\n{said}{hint}",
                operation="install",
            )
        self._merge(staging)
        return SyncResult(installed=todo, already_present=present)

    def _merge(self, staging: Path) -> None:
        """Move a finished install into the overlay (entries replace their older copies)."""
        self.target.mkdir(parents=True, exist_ok=True)
        with file_lock(self.target / ".lock"):
            for entry in staging.iterdir():
                dest = self.target / entry.name
                if dest.is_dir() and not dest.is_symlink():
                    shutil.rmtree(dest)
                elif dest.exists() or dest.is_symlink():
                    dest.unlink()
                os.replace(entry, dest)
        shutil.rmtree(staging, ignore_errors=True)
