"""``py-code-mode repl``: an interactive session with ``tools``, ``skills``, ``artifacts`` and
``deps``. Multi-line input (a block ends at an empty line), history (readline, kept in
``~/.py_code_mode_history``), and ``%reset``, ``%skills``, ``%tools``, ``%help``, ``%exit``."""

from __future__ import annotations

import asyncio
import codeop
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HELP = """%reset   clear variables (namespaces stay)
%skills  list saved skills
%tools   list tools
%help    this text
%exit    leave (or Ctrl-D)"""


def _setup_history() -> None:
    try:
        import atexit
        import readline
    except ImportError:  # no readline on this platform: plain input still works
        return
    path = Path(os.environ.get("PY_CODE_MODE_HISTORY", "~/.py_code_mode_history")).expanduser()
    with contextlib.suppress(FileNotFoundError, OSError):
        readline.read_history_file(path)
    readline.set_history_length(2000)
    atexit.register(lambda: _save_history(readline, path))


def _save_history(readline: Any, path: Path) -> None:
    with contextlib.suppress(OSError):
        readline.write_history_file(path)


def read_cell(prompt: str = ">>> ", more: str = "... ") -> str | None:
    """One complete cell from the terminal; None at end of input."""
    lines: list[str] = []
    while True:
        try:
            line = input(more if lines else prompt)
        except EOFError:
            return "\n".join(lines) if lines else None
        lines.append(line)
        source = "\n".join(lines)
        if len(lines) == 1 and line.strip().startswith("%"):
            return source
        try:
            complete = codeop.compile_command(source, "<repl>", "exec") is not None
        except (SyntaxError, ValueError, OverflowError):
            return source  # let the session report it
        if complete and (len(lines) == 1 or not line.strip()):
            return source


class LeaveRepl(Exception):
    """``exit()``/``quit()``/``sys.exit(n)`` in a cell: leave with that exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


async def handle(session: Any, cell: str) -> bool:
    """Run one cell or magic; False to stop (raises LeaveRepl when the code exits)."""
    command = cell.strip()
    if command in ("%exit", "%quit"):
        return False
    if command == "%help":
        print(HELP)
    elif command == "%reset":
        await session.reset()
        print("variables cleared")
    elif command == "%skills":
        for skill in await session.list_skills():
            print(f"{skill['name']}: {skill['description']}")
    elif command == "%tools":
        for tool in await session.list_tools():
            print(f"{tool['name']}: {tool['description']}")
    elif command.startswith("%"):
        print(f"unknown command {command.split()[0]}; %help lists them")
    elif command:
        from .main import _printer, _unstreamed, exit_code

        streamed: dict[str, list[str]] = {"stdout": [], "stderr": []}
        result = await session.run(cell, on_output=_printer(streamed))  # prints as it runs
        if result.error is not None and result.error.split(":")[0] == "SystemExit":
            raise LeaveRepl(exit_code(result))
        rest = _unstreamed(result.stdout, streamed["stdout"])
        if rest:
            print(rest, end="" if rest.endswith("\n") else "\n")
        rest = _unstreamed(result.stderr, streamed["stderr"])
        if rest:
            print(rest, end="" if rest.endswith("\n") else "\n", file=sys.stderr)
        if result.error is not None:
            print((result.traceback or result.error).rstrip(), file=sys.stderr)
        elif result.repr is not None:
            print(result.repr)
    return True


@contextlib.contextmanager
def ctrl_c_interrupts(
    loop: asyncio.AbstractEventLoop, session: Any, task: asyncio.Task[Any]
) -> Iterator[None]:
    """While ``task`` runs: Ctrl-C interrupts the running cell (KeyboardInterrupt comes back
    as its result, with the output so far and the state kept); a second Ctrl-C cancels it."""
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses > 1 or not session.interrupt():
            task.cancel()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)  # back to KeyboardInterrupt at the prompt


def run_interruptibly(loop: asyncio.AbstractEventLoop, session: Any, work: Any) -> Any:
    """Run ``work`` on ``loop`` with Ctrl-C interrupting the running cell."""
    task = loop.create_task(work)
    with ctrl_c_interrupts(loop, session, task):
        return loop.run_until_complete(task)


def main(base: str, executor: str, *, redis: str | None = None, prefix: str | None = None) -> int:
    from ..factory import create_session

    _setup_history()
    session = create_session(base=base, redis=redis, prefix=prefix, executor=executor, timeout=None)
    kind = type(session.executor).__name__
    print(f"py-code-mode REPL on {Path(base).expanduser()} ({kind}); %help for commands")
    loop = asyncio.new_event_loop()
    code = 0
    try:
        loop.run_until_complete(session.start())
        while True:
            try:
                cell = read_cell()
            except KeyboardInterrupt:
                print("\nKeyboardInterrupt")
                continue
            if cell is None:
                print()
                break
            try:
                if not run_interruptibly(loop, session, handle(session, cell)):
                    break
            except asyncio.CancelledError:
                print("KeyboardInterrupt (the run was stopped)", file=sys.stderr)
            except LeaveRepl as leave:
                code = leave.code
                break
    finally:
        loop.run_until_complete(session.close())
        loop.close()
    return code
