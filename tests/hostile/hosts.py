"""The host side of a test, run as root or as an unprivileged user.

A developer laptop runs the host as an ordinary user; CI runs it as root. Both must hold, so the
isolation tests run their host (a Session, or ``py-code-mode run``) in a subprocess: as this
process's user (``root`` when the tests run as root), or under ``setpriv`` as a dedicated
unprivileged uid with a home folder of its own (``user``). When the tests already run as an
unprivileged user, ``user`` is that user and ``root`` is skipped.

To let the unprivileged uid run this interpreter, directories on the way to it that are not
searchable by others (``/root`` when Python lives in ``/root/.pyenv``) get the search bit
(``o+x``, never read) for the duration of the tests, then their mode back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reachable import interpreter_and_package, reachable

HOSTS = ("root", "user")
TEST_UID = int(os.environ.get("PCM_TEST_UID", "64123"))  # no passwd entry needed
HERE = Path(__file__).resolve().parent
HOST_SCRIPT = HERE / "host_script.py"


@dataclass
class Host:
    """Who the host runs as, its home folder and a scratch folder it owns."""

    kind: str
    uid: int
    gid: int
    home: Path
    scratch: Path
    switch: bool  # run through setpriv
    env: dict[str, str] = field(default_factory=dict)

    def chown(self, path: Path) -> None:
        if os.geteuid() == 0 and self.uid != 0:
            os.chown(path, self.uid, self.gid)

    def mkdir(self, path: Path, mode: int = 0o700) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        self.chown(path)
        path.chmod(mode)
        return path

    def write(self, path: Path, text: str, mode: int = 0o600) -> Path:
        path.write_text(text)
        self.chown(path)
        path.chmod(mode)
        return path

    def argv(self, argv: list[str]) -> list[str]:
        if not self.switch:
            return argv
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--inh-caps=-all", "--", *argv]  # fmt: skip

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The host process's environment: what a login gives, plus ``extra``."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.home),
            "TMPDIR": str(self.scratch),
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.env,
        }
        env.update(extra or {})
        return env

    def popen(self, argv: list[str], extra_env: dict[str, str] | None = None, **kw: Any) -> Any:
        return subprocess.Popen(
            self.argv(argv), env=self.environ(extra_env), cwd=str(self.scratch), **kw
        )

    def run_session(
        self, job: dict[str, Any], extra_env: dict[str, str] | None = None, timeout: float = 180
    ) -> list[dict[str, Any]]:
        """Start a Session as this host, run ``job['cells']``, return each result as a dict."""
        proc = subprocess.run(
            self.argv([sys.executable, str(HOST_SCRIPT), json.dumps(job)]),
            env=self.environ(extra_env), cwd=str(self.scratch), capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(f"the {self.kind} host failed ({proc.returncode}):\n{proc.stderr}")
        return list(json.loads(proc.stdout.strip().splitlines()[-1]))

    def run_battery(self, kind: str, names: list[str], timeout: float = 900) -> dict[str, Any]:
        """Run hostile cases against ``kind`` with this host; ``{case: {held, detail}}``."""
        proc = subprocess.run(
            self.argv([sys.executable, str(HERE / "battery_script.py"), kind, str(self.scratch),
                       *names]),
            env=self.environ({"PYTHONPATH": str(HERE)}), cwd=str(self.scratch),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(f"the {self.kind} host failed ({proc.returncode}):\n{proc.stderr}")
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def make_host(kind: str) -> Iterator[Host]:
    """A Host of ``kind`` with fresh home and scratch folders (removed afterwards)."""
    as_root = os.geteuid() == 0
    if kind == "root" and not as_root:
        import pytest

        pytest.skip("the tests do not run as root: the root host cannot be tried here")
    switch = kind == "user" and as_root
    if switch and shutil.which("setpriv") is None:
        import pytest

        pytest.skip("setpriv (util-linux) is needed to run the host as an unprivileged user")
    uid, gid = (TEST_UID, TEST_UID) if switch else (os.getuid(), os.getgid())
    # Not under pytest's tmp_path: /tmp/pytest-of-root is 0700, unreachable for the test uid.
    top = Path(tempfile.mkdtemp(prefix=f"pcm-host-{kind}-", dir="/var/tmp"))
    top.chmod(0o755)
    access = reachable([*interpreter_and_package(), HERE]) if switch else contextlib.nullcontext()
    host = Host(kind, uid, gid, top / "home", top / "scratch", switch)
    try:
        with access:
            host.mkdir(host.home)
            host.mkdir(host.scratch)
            yield host
    finally:
        shutil.rmtree(top, ignore_errors=True)
