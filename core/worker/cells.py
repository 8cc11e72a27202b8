"""REPL cells: compile once (top-level ``await`` allowed), run against a namespace, capture
output, and describe errors with tracebacks trimmed to the user's code."""

from __future__ import annotations

import ast
import contextlib
import io
import linecache
import os
import reprlib
import traceback
from collections.abc import Callable
from typing import Any

CO_COROUTINE = 0x0080  # inspect.CO_COROUTINE, without importing inspect
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
REPR_LIMIT = 100_000
# Frames from the project's own files are left out of tracebacks (the folder above this one).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

# --------------------------------------------------------------------------------------------
# Output capture
# --------------------------------------------------------------------------------------------


class _CappedSink(io.RawIOBase):
    """The byte sink under :class:`OutputCapture`: keeps ``limit`` bytes, counts the rest, and
    hands what it keeps to ``listener`` (when one listens) as it arrives."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self.parts: list[bytes] = []
        self.size = 0
        self.dropped = 0
        self.listener: Callable[[bytes], None] | None = None

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        n = len(b)
        room = self.limit - self.size
        if room >= n:
            kept = bytes(b)
            self.size += n
        else:
            kept = bytes(b[:room]) if room > 0 else b""
            self.size += len(kept)
            self.dropped += n - len(kept)
        if kept:
            self.parts.append(kept)
            if self.listener is not None:
                self.listener(kept)
        return n


class OutputCapture:
    """A reusable capped text stream for ``sys.stdout``/``sys.stderr``.

    Writes go through C-level text and buffer layers; Python code runs only once per 8 KiB, so
    printing costs about what it costs on a real stream. At most ``limit`` bytes are kept; a
    flood is counted, not stored, and reported by a marker.
    """

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.limit = limit
        self._open()

    def _open(self) -> None:
        listener = getattr(getattr(self, "sink", None), "listener", None)
        self.sink = _CappedSink(self.limit)
        self.sink.listener = listener
        self.stream = io.TextIOWrapper(
            io.BufferedWriter(self.sink, 8192),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=listener is not None,
        )

    def listen(self, listener: Callable[[str], None] | None) -> None:
        """Hand ``listener`` the text written from now on, line by line as it is written (the
        stream is line-buffered while someone listens); ``None`` stops. Only what the cap
        keeps is handed on."""
        with contextlib.suppress(ValueError):  # closed by the code
            self.stream.flush()
        if listener is None:
            self.sink.listener = None
            with contextlib.suppress(ValueError):
                self.stream.reconfigure(line_buffering=False)
            return
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")("replace")  # a character cut in two

        def hand_on(data: bytes) -> None:
            text = decoder.decode(data)
            if text:
                listener(text)

        self.sink.listener = hand_on
        with contextlib.suppress(ValueError):
            self.stream.reconfigure(line_buffering=True)

    def take(self) -> str:
        """Everything written since the last take, with a marker if some was dropped."""
        with contextlib.suppress(ValueError):  # closed by the code: keep what reached the sink
            self.stream.flush()
        sink = self.sink
        text = b"".join(sink.parts).decode("utf-8", "replace")
        if sink.dropped:
            text += f"\n... [output truncated: {sink.dropped} more bytes]\n"
        if self.stream.closed:
            self._open()
        else:
            sink.parts, sink.size, sink.dropped = [], 0, 0
        return text


def coalesced(pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive ``(stream, text)`` pieces of one stream joined into one."""
    out: list[tuple[str, str]] = []
    for stream, text in pieces:
        if out and out[-1][0] == stream:
            out[-1] = (stream, out[-1][1] + text)
        else:
            out.append((stream, text))
    return out


# --------------------------------------------------------------------------------------------
# REPL cells
# --------------------------------------------------------------------------------------------


class CompiledCell:
    """Code compiled once: the body, plus the trailing expression whose value is returned."""

    __slots__ = ("body", "expr")

    def __init__(self, body: Any, expr: Any) -> None:
        self.body = body
        self.expr = expr


def compile_cell(source: str, filename: str) -> CompiledCell:
    """Parse ``source`` once and compile it with top-level ``await`` allowed.

    Raises SyntaxError. The source is registered in ``linecache`` so tracebacks show its lines.
    """
    tree = ast.parse(source, filename, "exec")
    expr = None
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
        expr = ast.Expression(last.value)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    body_code = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
    expr_code = (
        compile(expr, filename, "eval", flags=flags, dont_inherit=True)
        if expr is not None
        else None
    )
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return CompiledCell(body_code, expr_code)


def execute_cell(
    cell: CompiledCell, namespace: dict[str, Any], run_coroutine: Callable[[Any], Any]
) -> Any:
    """Run a compiled cell in ``namespace``; return the trailing expression's value (or None).

    Code that uses top-level ``await`` compiles to a coroutine, which ``run_coroutine`` drives.
    """
    result = eval(cell.body, namespace)
    if cell.body.co_flags & CO_COROUTINE:
        run_coroutine(result)
    if cell.expr is None:
        return None
    value = eval(cell.expr, namespace)
    if cell.expr.co_flags & CO_COROUTINE:
        value = run_coroutine(value)
    return value


def is_user_filename(filename: str) -> bool:
    return filename.startswith(("<cell", "<skill"))


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """Return ``("Type: message", traceback)``: the traceback starts at the user's code (a cell
    or a skill) and leaves out py-code-mode's own frames in between."""
    name = type(exc).__name__
    message = str(exc)
    error = f"{name}: {message}" if message else name
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((i for i, f in enumerate(frames) if is_user_filename(f.filename)), None)
    if start is None:
        kept = [] if isinstance(exc, SyntaxError) else list(frames)
    else:
        kept = [f for f in frames[start:] if not f.filename.startswith(_PACKAGE_DIR)]
    lines = traceback.format_exception_only(type(exc), exc)
    if kept:
        lines = ["Traceback (most recent call last):\n", *traceback.format_list(kept), *lines]
    return error, "".join(lines)


def safe_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """A repr that never raises and never grows past ``limit`` characters."""
    try:
        if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > 10_000:
            r = reprlib.Repr()
            r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = 1000
            r.maxlevel = 3
            r.maxstring = r.maxother = 1000
            text = r.repr(value)
        else:
            text = repr(value)
    except BaseException as exc:  # a hostile __repr__ must not break the result
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    if not isinstance(text, str):
        text = f"<unrepresentable {type(value).__name__}>"
    if len(text) > limit:
        text = text[:limit] + f"... [repr truncated: {len(text) - limit} more characters]"
    return text
