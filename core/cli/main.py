"""``py-code-mode``: run code in a session over a base folder, from the shell.

Subcommands: ``run``, ``repl``, ``mcp``, ``serve`` (the session server), ``skills``, ``store``,
``demo``, ``container``. ``--base DIR`` may stand before or after the subcommand. Bad input (a
base folder that is a file, a timeout that is not a positive number, a sandbox that cannot
start) ends in one line on stderr and exit code 2, never a traceback.
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


def timeout_arg(text: str) -> float:
    """``--timeout``: a finite number of seconds > 0."""
    from ..errors import ConfigurationError
    from ..factory import validate_timeout

    try:
        seconds = validate_timeout(float(text))
    except (ValueError, ConfigurationError) as exc:
        message = str(exc) if isinstance(exc, ConfigurationError) else f"not a number: {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    assert seconds is not None
    return seconds


def exit_code(result: Any) -> int:
    """The process exit code for a run, as ``python -c`` would give: 0, 1 on an error, and
    ``sys.exit(n)`` in the code exits ``n``."""
    error = result.error
    if error is None:
        return 0
    if error.split(":")[0] == "KeyboardInterrupt":
        return 130  # as a shell reports a process ended by Ctrl-C
    if error == "SystemExit" or error.startswith("SystemExit:"):
        argument = error.partition(":")[2].strip()
        if argument in ("", "None"):
            return 0
        try:
            return int(argument)
        except ValueError:
            return 1
    return 1


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return None


def _printer(streamed: dict[str, list[str]]) -> Any:
    """An ``on_output`` that prints as the code prints, and remembers what it printed."""

    def on_output(stream: str, text: str) -> None:
        streamed[stream].append(text)
        target = sys.stdout if stream == "stdout" else sys.stderr
        target.write(text)
        target.flush()

    return on_output


def _unstreamed(text: str, pieces: list[str]) -> str:
    """``text`` without the part already printed while it streamed."""
    printed = "".join(pieces)
    return text.replace(printed, "", 1) if printed and printed in text else text


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
    from .repl import ctrl_c_interrupts

    async with _session(args.base, args.executor, args.timeout, args.redis, args.prefix) as session:
        streamed: dict[str, list[str]] = {"stdout": [], "stderr": []}
        task = asyncio.ensure_future(
            session.run(code, on_output=None if args.json else _printer(streamed))
        )
        with ctrl_c_interrupts(asyncio.get_running_loop(), session, task):
            try:
                result = await task
            except asyncio.CancelledError:
                print("py-code-mode run: stopped (Ctrl-C)", file=sys.stderr)
                return 130
    code_exit = exit_code(result)
    if args.json:
        payload = result.model_dump(mode="python", exclude={"value"})
        payload["value"] = _jsonable(result.value)
        payload["is_ok"] = result.is_ok
        print(json.dumps(payload, indent=2, default=str))
    else:
        # What was printed as the code ran is not printed again: only the rest (the truncation
        # marker, output that did not stream such as a worker's C-level writes, notices).
        if result.stdout:
            rest = _unstreamed(result.stdout, streamed["stdout"])
            sys.stdout.write(rest)
            if not result.stdout.endswith("\n"):
                sys.stdout.write("\n")
        if result.stderr:
            sys.stderr.write(_unstreamed(result.stderr, streamed["stderr"]))
        if result.error is not None and not (
            code_exit == 0 or result.error.startswith("SystemExit:")
        ):
            sys.stderr.write((result.traceback or result.error).rstrip("\n") + "\n")
        elif result.error is not None and code_exit == 1:  # sys.exit("message")
            sys.stderr.write(result.error.partition(":")[2].strip() + "\n")
        elif result.repr is not None:
            print(result.repr)
    return code_exit


def _container_build(args: argparse.Namespace) -> int:
    """``container build``: works from a checkout and from a pip install alike."""
    import subprocess

    from ..errors import ConfigurationError
    from ..execution.container import (
        EDGE_IMAGE,
        build_base,
        build_image,
        docker_problem,
        image_present,
    )

    problem = docker_problem()
    if problem is not None:
        raise ConfigurationError(f"cannot build: {problem}")
    try:
        if not image_present(args.base_image):
            print(f"base image {args.base_image} missing: building it offline (build-base.sh)")
            build_base(args.base_image)
        build_image(args.image, args.base_image)
        print(f"built {args.image}")
        if args.edge:
            build_base(EDGE_IMAGE, "redis-server,nginx-light")
            print(f"built {EDGE_IMAGE}")
    except subprocess.CalledProcessError as exc:  # its own output, above, says why
        argv = exc.cmd if isinstance(exc.cmd, list) else [str(exc.cmd)]
        command = " ".join(str(a) for a in argv[:2])
        raise ConfigurationError(f"`{command}` failed with exit code {exc.returncode}") from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .._version import package_version

    parser = argparse.ArgumentParser(
        prog="py-code-mode",
        description="Run agent code in a session with tools, skills, artifacts and deps.",
    )
    parser.add_argument("--version", action="version", version=f"py-code-mode {package_version()}")
    parser.add_argument("--base", default=None, help=f"base folder (default {DEFAULT_BASE})")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run code in a session and print its result")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("-c", "--code", help="the code to run")
    source.add_argument("file", nargs="?", help="a Python file to run ('-' reads standard input)")
    base_option(run)
    run.add_argument("--executor", choices=EXECUTORS, default="subprocess")
    run.add_argument(
        "--timeout", type=timeout_arg, default=None, help="seconds before the run is stopped"
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
    base_option(demo, "keep the demo's data here (default: temp folders, removed afterwards)")
    demo.add_argument("-v", "--verbose", action="store_true", help="show library logs too")
    demo.set_defaults(handler=None)

    repl = sub.add_parser("repl", help="an interactive session with the namespaces")
    base_option(repl)
    repl.add_argument("--executor", choices=EXECUTORS, default="subprocess")
    repl.add_argument("--redis", help="keep skills, artifacts and deps in Redis at this URL")
    repl.add_argument("--prefix", default="py_code_mode", help="Redis key prefix")
    repl.set_defaults(handler=None)

    container = sub.add_parser("container", help="build the container worker image")
    container_sub = container.add_subparsers(dest="container_command", required=True)
    build = container_sub.add_parser(
        "build", help="build the image (the packaged Dockerfile, classic builder, no registry)"
    )
    build.add_argument("--image", default="py-code-mode-tools:latest")
    build.add_argument(
        "--base-image",
        "--base",
        dest="base_image",
        default="py-code-mode-base:bookworm",
        help="base image with python3",
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
    _base_given_before_counts(serve)
    serve.set_defaults(handler=None)

    from .mcp_server import add_arguments

    mcp = sub.add_parser("mcp", help="serve the catalog as an MCP server (stdio or --http)")
    add_arguments(mcp)
    _base_given_before_counts(mcp)
    mcp.set_defaults(handler=None)
    return parser


def _base_given_before_counts(parser: argparse.ArgumentParser) -> None:
    """A subcommand's own ``--base`` wins; when absent, one given before it still counts."""
    for action in parser._actions:
        if action.dest == "base":
            action.default = argparse.SUPPRESS


def base_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--base`` after the subcommand; it wins over one given before it."""
    parser.add_argument(
        "--base",
        default=argparse.SUPPRESS,
        help=help or f"base folder (default {DEFAULT_BASE})",
    )


def main(argv: list[str] | None = None) -> int:
    """The ``py-code-mode`` command. Bad input gives one line on stderr and exit code 2."""
    from ..errors import CodeModeError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except (CodeModeError, OSError) as exc:
        print(f"py-code-mode {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command not in ("demo", "mcp", "serve", "container") and args.base is None:
        args.base = DEFAULT_BASE
    if args.command == "container":
        return _container_build(args)
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

        return demo_main(args.framework, args.base, verbose=args.verbose)
    if args.command == "serve":
        from .serve import run as serve_run

        return serve_run(args)
    if args.command == "mcp":
        from .mcp_server import serve

        return serve(args)
    return asyncio.run(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
