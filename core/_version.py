"""The installed distribution's version (one lookup for the CLI, the servers and the API)."""

from __future__ import annotations

from functools import cache


@cache
def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("py-code-mode")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"
