"""Let another (unprivileged) user reach files inside a checkout that may sit in a private
folder (``mktemp -d`` makes 0700 ones): tests that run the package as ``nobody`` or a test
uid need to traverse to the interpreter and the package."""

from __future__ import annotations

import contextlib
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import py_code_mode

PACKAGE_DIR = Path(py_code_mode.__file__).resolve().parent


def interpreter_and_package() -> list[Path]:
    """What a subprocess of this interpreter running ``py_code_mode`` must reach."""
    real = Path(sys.executable).resolve()
    return [Path(sys.prefix), Path(sys.base_prefix), real.parent, PACKAGE_DIR]


@contextlib.contextmanager
def reachable(paths: list[Path]) -> Iterator[None]:
    """Add o+x to the directories on the way to ``paths`` that lack it, and take it back."""
    changed: list[tuple[Path, int]] = []
    try:
        for path in paths:
            for parent in [*reversed(path.parents), path]:
                if not parent.is_dir():
                    continue
                mode = stat.S_IMODE(parent.stat().st_mode)
                if not mode & stat.S_IXOTH:
                    parent.chmod(mode | stat.S_IXOTH)
                    changed.append((parent, mode))
        yield
    finally:
        for path, mode in reversed(changed):
            with contextlib.suppress(OSError):
                path.chmod(mode)
