"""``py-code-mode serve``: the session server (Sessions over HTTP, one per X-Session-ID)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigurationError

DEFAULT_BASE = Path("~/.code-mode")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--base", help=f"base folder of the shared storage (default {DEFAULT_BASE})")
    where.add_argument("--redis", help="keep skills, artifacts and deps in Redis at this URL")
    parser.add_argument("--prefix", default=None, help="Redis key prefix")
    parser.add_argument("--tools", help="folder of tool YAML files (default: {base}/tools)")
    parser.add_argument("--executor", choices=["subprocess", "sandbox"], default=None,
                        help="where each session's code runs (default subprocess)")  # fmt: skip
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument(
        "--token",
        help="bearer token clients must send (visible in the process list: prefer "
        "--token-file or $CONTAINER_AUTH_TOKEN)",
    )
    auth.add_argument("--token-file", help="read the bearer token from this file")
    auth.add_argument(
        "--auth-disabled", action="store_true", default=None,
        help="serve without authentication (local development only)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run (default 30)")
    parser.add_argument(
        "--max-timeout", type=float, default=None, help="cap on any run's timeout (default 300)"
    )
    parser.add_argument(
        "--max-sessions", type=int, default=None, help="sessions held at once (default 64)"
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=None,
        help="seconds before an unused session is closed (default 3600)",
    )  # fmt: skip
    parser.add_argument("--max-body-bytes", type=int, default=None, help="request body limit")
    parser.add_argument("--max-code-bytes", type=int, default=None, help="code size limit")
    parser.add_argument(
        "--no-runtime-deps", action="store_true", help="forbid deps.add/remove from code"
    )
    parser.add_argument(
        "--no-warm-spare", action="store_true",
        help="do not keep a spare worker per session (half the processes; slower recovery)",
    )  # fmt: skip
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")


def settings_from(args: argparse.Namespace) -> object:
    """ServerSettings from the environment, then the flags (flags win)."""
    from ..server.settings import ServerSettings, read_token_file

    settings = ServerSettings.from_env(default_base=DEFAULT_BASE.expanduser())
    token = args.token
    if args.token_file:
        token = read_token_file(args.token_file)
    if args.redis:
        settings.base = None
    settings = settings.replace(
        base=Path(args.base).expanduser() if args.base else None,
        redis=args.redis,
        prefix=args.prefix,
        tools=Path(args.tools).expanduser() if args.tools else None,
        executor=args.executor,
        token=token,
        auth_disabled=args.auth_disabled,
        timeout=args.timeout,
        max_timeout=args.max_timeout,
        max_sessions=args.max_sessions,
        idle_timeout=args.idle_timeout,
        max_body_bytes=args.max_body_bytes,
        max_code_bytes=args.max_code_bytes,
    )
    if args.base:
        settings.redis = None
    if args.auth_disabled and token is None:
        settings.token = None  # an explicit --auth-disabled wins over $CONTAINER_AUTH_TOKEN
    if args.no_runtime_deps:
        settings.allow_runtime_deps = False
    if args.no_warm_spare:
        settings.executor_options = {**settings.executor_options, "warm_spare": False}
    return settings.validate()


def run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("py-code-mode serve needs the server extra: pip install 'py-code-mode[server]'",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        settings = settings_from(args)
    except ConfigurationError as exc:
        print(f"py-code-mode serve: {exc}", file=sys.stderr)
        return 2
    from ..server.app import serve

    if args.host not in ("127.0.0.1", "localhost", "::1") and settings.auth_disabled:  # type: ignore[attr-defined]
        print(f"py-code-mode serve: WARNING: no authentication on {args.host}", file=sys.stderr)
    os.environ.pop("CONTAINER_AUTH_TOKEN", None)
    serve(settings, host=args.host, port=args.port, access_log=not args.no_access_log)  # type: ignore[arg-type]
    return 0
