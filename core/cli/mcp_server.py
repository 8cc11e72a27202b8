"""``py-code-mode-mcp`` (and ``python -m py_code_mode.cli.mcp_server``): the MCP server with the
reference project's flags, plus ``--http``/``--host``/``--port``/``--token`` and ``--executor``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from py_code_mode.factory import EXECUTOR_CHOICES

DEFAULT_BASE = "~/.code-mode"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", help="base folder: storage, plus tools/ when it exists")
    parser.add_argument("--storage", help="storage folder (FileStorage)")
    parser.add_argument("--tools", help="folder of tool YAML files")
    parser.add_argument(
        "--redis", help="Redis URL for shared storage (takes precedence over --storage)"
    )
    parser.add_argument("--prefix", default="py-code-mode", help="Redis key prefix")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per run (default: unlimited)"
    )
    parser.add_argument(
        "--no-runtime-deps", action="store_true", help="forbid deps.add/remove from code"
    )
    parser.add_argument(
        "--no-sync-deps", action="store_true", help="do not install recorded deps at start"
    )
    parser.add_argument("--executor", choices=EXECUTOR_CHOICES, default="subprocess")
    parser.add_argument(
        "--http", action="store_true", help="serve streamable HTTP instead of stdio"
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument(
        "--token", default=None, help="bearer token required over HTTP (or PY_CODE_MODE_MCP_TOKEN)"
    )
    parser.add_argument("--max-sessions", type=int, default=16, help="concurrent client sessions")
    parser.add_argument(
        "--read-only", action="store_true", help="offer only operations that write nothing"
    )


def session_factory(args: argparse.Namespace) -> Callable[[], Any]:
    """Sessions as the flags describe them, all made by ``create_session``."""
    from py_code_mode.factory import base_folder, create_session, create_storage

    tools = Path(args.tools).expanduser() if args.tools else None
    root = None if args.redis else base_folder(args.storage or args.base or DEFAULT_BASE)
    if tools is None and args.base and (Path(args.base).expanduser() / "tools").is_dir():
        tools = Path(args.base).expanduser() / "tools"

    def make() -> Any:
        return create_session(
            storage=create_storage(root, redis=args.redis, prefix=args.prefix),
            executor=args.executor,
            timeout=args.timeout,
            tools=tools,
            allow_runtime_deps=not args.no_runtime_deps,
            sync_deps_on_start=not args.no_sync_deps,
        )

    return make


def serve(args: argparse.Namespace) -> int:
    from py_code_mode.catalog import OPERATIONS
    from py_code_mode.integrations.mcp_server import CodeModeMCPServer

    operations = [
        n for n in OPERATIONS if not (args.no_runtime_deps and n in ("add_dep", "remove_dep"))
    ]
    server = CodeModeMCPServer(
        session_factory(args),
        operations=operations,
        read_only=args.read_only,
        max_sessions=args.max_sessions,
    )
    if args.http:
        token = args.token or os.environ.get("PY_CODE_MODE_MCP_TOKEN")
        asyncio.run(server.run_http(args.host, args.port, token))
    else:
        asyncio.run(server.run_stdio())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="py-code-mode-mcp", description="py-code-mode as an MCP server"
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
