"""``py-code-mode``: run code in a session over a base folder, from the shell.

Subcommands:

* ``run [-c CODE | FILE] --base DIR --executor inprocess|subprocess --timeout S [--json]``
* ``serve --host H --port P (--base DIR | --redis URL) --executor subprocess|sandbox
  (--token-file F | --token T | --auth-disabled)``: the session server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ..factory import EXECUTOR_CHOICES as EXECUTORS

DEFAULT_BASE = "~/.code-mode"


def _session(
    base: str, executor: str, timeout: float | None, redis: str | None = None, prefix: str = ""
) -> Any:
    from ..factory import create_session

    return create_session(
        base=base, redis=redis, prefix=prefix or None, executor=executor, timeout=timeout
    )


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return None


async def _run(args: argparse.Namespace) -> int:
    if args.code is not None:
        code = args.code
    elif args.file == "-":
        code = sys.stdin.read()
    else:
        try:
            code = Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"py-code-mode: cannot read {args.file}: {exc}", file=sys.stderr)
            return 2
    async with _session(args.base, args.executor, args.timeout, args.redis, args.prefix) as session:
        result = await session.run(code)
    if args.json:
        payload = result.model_dump(mode="python", exclude={"value"})
        payload["value"] = _jsonable(result.value)
        payload["is_ok"] = result.is_ok
        print(json.dumps(payload, indent=2, default=str))
    else:
        if result.stdout:
            sys.stdout.write(result.stdout)
            if not result.stdout.endswith("\n"):
                sys.stdout.write("\n")
        if result.stderr:
            sys.stderr.write(result.stderr)
        if result.error is not None:
            sys.stderr.write((result.traceback or result.error).rstrip("\n") + "\n")
        elif result.repr is not None:
            print(result.repr)
    return 0 if result.is_ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="py-code-mode",
        description="Run agent code in a session with tools, skills, artifacts and deps.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run code in a session and print its result")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("-c", "--code", help="the code to run")
    source.add_argument("file", nargs="?", help="a Python file to run ('-' reads standard input)")
    run.add_argument("--base", default=DEFAULT_BASE, help=f"base folder (default {DEFAULT_BASE})")
    run.add_argument("--executor", choices=EXECUTORS, default="subprocess")
    run.add_argument(
        "--timeout", type=float, default=None, help="seconds before the run is stopped"
    )
    run.add_argument("--json", action="store_true", help="print the full result as JSON")
    run.add_argument("--redis", help="keep skills, artifacts and deps in Redis at this URL")
    run.add_argument("--prefix", default="py_code_mode", help="Redis key prefix")
    run.set_defaults(handler=_run)

    demo = sub.add_parser(
        "demo", help="the main job: an offline agent story through each framework"
    )
    demo.add_argument(
        "--framework", choices=["langchain", "autogen", "llamaindex", "mcp", "all"], default="all"
    )
    demo.add_argument(
        "--base", default=None, help="keep the demo's data here (default: temp folders)"
    )
    demo.set_defaults(handler=None)

    repl = sub.add_parser("repl", help="an interactive session with the namespaces")
    repl.add_argument("--base", default=DEFAULT_BASE, help=f"base folder (default {DEFAULT_BASE})")
    repl.add_argument("--executor", choices=EXECUTORS, default="subprocess")
    repl.add_argument("--redis", help="keep skills, artifacts and deps in Redis at this URL")
    repl.add_argument("--prefix", default="py_code_mode", help="Redis key prefix")
    repl.set_defaults(handler=None)

    container = sub.add_parser("container", help="build the container worker image")
    container_sub = container.add_subparsers(dest="container_command", required=True)
    build = container_sub.add_parser(
        "build", help="build the image (docker/Dockerfile, classic builder)"
    )
    build.add_argument("--image", default="py-code-mode-tools:latest")
    build.add_argument(
        "--base", default="py-code-mode-base:bookworm", help="base image with python3"
    )
    build.add_argument(
        "--edge",
        action="store_true",
        help="also build py-code-mode-edge:bookworm (Redis and nginx from Debian, for deploy/)",
    )
    container.set_defaults(handler=None)

    from . import store as store_cmd

    store = sub.add_parser(
        "store", help="move skills between a folder and Redis (bootstrap, list, pull, diff)"
    )
    store_cmd.add_arguments(store)
    store.set_defaults(handler=None)

    from . import skills_cmd

    skills = sub.add_parser(
        "skills", help="list, search, show, add, remove, version and move skills"
    )
    skills_cmd.add_arguments(skills)
    skills.set_defaults(handler=None)

    from . import serve as serve_cmd

    serve = sub.add_parser(
        "serve", help="the session server: Sessions over HTTP, one per X-Session-ID"
    )
    serve_cmd.add_arguments(serve)
    serve.set_defaults(handler=None)

    from .mcp_server import add_arguments

    mcp = sub.add_parser("mcp", help="serve the catalog as an MCP server (stdio or --http)")
    add_arguments(mcp)
    mcp.set_defaults(handler=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "container":
        from ..execution.container import EDGE_IMAGE, build_base, build_image, image_present

        if not image_present(args.base):
            print(f"base image {args.base} missing: building it offline (docker/build-base.sh)")
            build_base(args.base)
        build_image(args.image, args.base)
        print(f"built {args.image}")
        if args.edge:
            build_base(EDGE_IMAGE, "redis-server,nginx-light")
            print(f"built {EDGE_IMAGE}")
        return 0
    if args.command == "store":
        from .store import run as store_run

        return store_run(args)
    if args.command == "repl":
        from .repl import main as repl_main

        return repl_main(args.base, args.executor, redis=args.redis, prefix=args.prefix)
    if args.command == "skills":
        from .skills_cmd import run as skills_run

        return skills_run(args)
    if args.command == "demo":
        from .demo import main as demo_main

        return demo_main(args.framework, args.base)
    if args.command == "serve":
        from .serve import run as serve_run

        return serve_run(args)
    if args.command == "mcp":
        from .mcp_server import serve

        return serve(args)
    return asyncio.run(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
