"""``py-code-mode-mcp`` (and ``python -m py_code_mode.cli.mcp_server``): the MCP server with the
reference project's flags, plus ``--http``/``--host``/``--port``/``--token``/``--no-token``,
``--executor``, ``--max-sessions``, ``--idle-timeout``, ``--shared-session`` and ``--read-only``.

Over HTTP a token is always required unless ``--no-token`` (loopback only): without ``--token``
or ``PY_CODE_MODE_MCP_TOKEN`` one is generated and printed on stderr, as Jupyter does."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from py_code_mode.errors import ConfigurationError
from py_code_mode.factory import EXECUTOR_CHOICES

DEFAULT_BASE = "~/.code-mode"
#: Seconds a run may take unless --timeout says otherwise (0: no limit).
DEFAULT_TIMEOUT = 60.0
TOKEN_ENV = "PY_CODE_MODE_MCP_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", help="base folder: storage, plus tools/ when it exists")
    parser.add_argument("--storage", help="storage folder (FileStorage)")
    parser.add_argument("--tools", help="folder of tool YAML files")
    parser.add_argument(
        "--redis", help="Redis URL for shared storage (takes precedence over --storage)"
    )
    parser.add_argument("--prefix", default="py-code-mode", help="Redis key prefix")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds a run may take before it is stopped (default {DEFAULT_TIMEOUT:g}; 0: no limit)",
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
        "--token",
        default=None,
        help=f"bearer token required over HTTP (or {TOKEN_ENV}; generated and printed if neither)",
    )
    parser.add_argument(
        "--no-token",
        action="store_true",
        help="serve HTTP without a token (loopback hosts only: anyone on this machine can run code)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=16,
        help="client sessions (each a Python session) at once over HTTP (default 16)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=1800.0,
        help="seconds without a call before an HTTP client's session is closed (default 1800; 0: never)",
    )
    parser.add_argument(
        "--shared-session",
        action="store_true",
        help="serve every client from one shared session (they see each other's variables)",
    )
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
            timeout=args.timeout or None,
            tools=tools,
            allow_runtime_deps=not args.no_runtime_deps,
            sync_deps_on_start=not args.no_sync_deps,
        )

    return make


def http_token(args: argparse.Namespace) -> tuple[str | None, bool]:
    """The token HTTP requests must carry, and whether it was generated here.

    ``--token`` wins over the environment; an empty one is a configuration error (not "every
    request gets 401"); none at all generates one unless ``--no-token``."""
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    if token is not None and not token.strip():
        source = "--token" if args.token is not None else TOKEN_ENV
        raise ConfigurationError(
            f"{source} is empty: give a real token, or unset it to have one generated"
        )
    if token is None and not args.no_token:
        return secrets.token_urlsafe(32), True
    return token, False


def serve(args: argparse.Namespace) -> int:
    """Run the server the flags describe; 2 for a configuration error (message on stderr)."""
    try:
        return _serve(args)
    except ConfigurationError as exc:
        print(f"py-code-mode-mcp: error: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from py_code_mode.catalog import OPERATIONS
    from py_code_mode.integrations.mcp_server import CodeModeMCPServer, check_http_settings

    if args.timeout < 0 or args.idle_timeout < 0:
        raise ConfigurationError("--timeout and --idle-timeout take seconds >= 0 (0: no limit)")
    token, generated = http_token(args) if args.http else (None, False)
    if args.http:
        check_http_settings(args.host, token, args.no_token)
    operations = [
        n for n in OPERATIONS if not (args.no_runtime_deps and n in ("add_dep", "remove_dep"))
    ]
    server = CodeModeMCPServer(
        session_factory(args),
        operations=operations,
        read_only=args.read_only,
        max_sessions=args.max_sessions,
        idle_timeout=args.idle_timeout or None,
        shared_session=args.shared_session,
    )
    if args.http:
        host = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{host}:{args.port}/mcp"
        print(f"py-code-mode MCP server: {url}", file=sys.stderr)
        if generated:
            print(
                f"No token was given, so clients must send this generated one:\n"
                f"    Authorization: Bearer {token}\n"
                f"(choose your own with --token or {TOKEN_ENV})",
                file=sys.stderr,
                flush=True,
            )
        asyncio.run(server.run_http(args.host, args.port, token, allow_no_token=args.no_token))
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
