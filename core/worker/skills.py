"""The skill runner: a skill's code runs where code runs, with the session's namespaces."""

from __future__ import annotations

import linecache
import time
from collections.abc import Callable
from typing import Any

from . import errors
from .surface import NAMESPACE_NAMES

_SKILL_DEPTH: Any = None


def _skill_depth() -> Any:
    global _SKILL_DEPTH
    if _SKILL_DEPTH is None:
        import contextvars

        _SKILL_DEPTH = contextvars.ContextVar("py_code_mode_skill_depth", default=0)
    return _SKILL_DEPTH


def run_coroutine_in_thread(coro: Any) -> Any:
    """Drive a coroutine to completion from sync code, even inside a running event loop.

    It runs on a helper thread with its own loop (context copied, so nesting depth and capture
    follow it); the caller waits in short slices so that an interrupt still reaches it.
    """
    import asyncio
    import contextvars
    import threading

    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="py-code-mode-async-skill", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class SkillRunner:
    """Runs a skill's ``run`` with the session's namespaces as globals.

    ``fetch(name)`` returns ``{"name", "source", "hash"}`` (raising when the skill is missing);
    compiled code is cached by content hash. ``record(name, ok, duration_ms)`` keeps statistics
    (a one-way message: the call does not wait for it).
    """

    def __init__(
        self,
        fetch: Callable[[str], dict[str, Any]],
        namespaces: Callable[[], dict[str, Any]],
        record: Callable[[str, bool, float], None] | None = None,
        max_depth: int = 16,
    ) -> None:
        self._fetch = fetch
        self._namespaces = namespaces
        self._record = record
        self.max_depth = max_depth
        self._code: dict[str, Any] = {}
        self._signatures: dict[Any, Any] = {}

    def _compile(self, info: dict[str, Any]) -> Any:
        key = str(info.get("hash") or "") + str(info["name"])
        code = self._code.get(key)
        if code is None:
            source = info["source"]
            # One file name per version: linecache is process-wide, and two sessions (or two
            # versions) with a skill of the same name must each quote their own lines.
            digest = str(info.get("hash") or "")[:12]
            filename = f"<skill:{info['name']}@{digest}>" if digest else f"<skill:{info['name']}>"
            code = compile(source, filename, "exec", dont_inherit=True)
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            if len(self._code) > 512:
                self._code.clear()
            self._code[key] = code
        return code

    def _signature(self, run: Any) -> Any:
        """``run``'s signature, kept per code object: the skill's code is compiled once and
        exec'd per call, so each call's ``run`` shares its code (inspect.signature costs more
        than a small skill). Anything but a plain function is inspected every time."""
        import inspect

        code = getattr(run, "__code__", None)
        if type(run).__name__ != "function" or code is None or hasattr(run, "__wrapped__"):
            return inspect.signature(run)
        key = (code, len(run.__defaults__ or ()), tuple(run.__kwdefaults__ or ()))
        signature = self._signatures.get(key)
        if signature is None:
            if len(self._signatures) > 512:
                self._signatures.clear()
            signature = self._signatures[key] = inspect.signature(run)
        return signature

    def invoke(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        info: dict[str, Any] | None = None,
    ) -> Any:
        """Run skill ``name``; ``info`` is its already fetched source (saves a round trip)."""
        depth_var = _skill_depth()
        depth = depth_var.get()
        if depth >= self.max_depth:
            raise errors.make(
                "SkillExecutionError",
                f"skills.{name}: skills nested more than {self.max_depth} levels deep "
                "(unbounded recursion?)",
                operation="invoke",
            )
        if info is None:
            info = self._fetch(name)
        code = self._compile(info)
        namespace: dict[str, Any] = {"__name__": f"skill_{name}", "__builtins__": __builtins__}
        namespace.update(self._namespaces())
        token = depth_var.set(depth + 1)
        start = time.perf_counter()
        ok = False
        try:
            exec(code, namespace)
            run = namespace.get("run")
            if not callable(run):
                raise errors.make(
                    "SkillExecutionError", f"skill {name!r} defines no run()", operation="invoke"
                )
            signature = self._signature(run)
            for injected in NAMESPACE_NAMES:  # run(tools, ...) gets the namespace it asks for
                if (
                    injected in signature.parameters
                    and injected not in kwargs
                    and injected in namespace
                ):
                    kwargs = {**kwargs, injected: namespace[injected]}
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise errors.make(
                    "SkillValidationError",
                    f"skills.{name}() got wrong arguments: {exc}; expected {name}{signature}",
                    ("ValueError",),
                    skill_name=name,
                    operation="validate",
                ) from None
            result = run(*args, **kwargs)
            if type(result).__name__ == "coroutine" and hasattr(result, "close"):
                result = run_coroutine_in_thread(result)
            ok = True
            return result
        finally:
            depth_var.reset(token)
            if self._record is not None:
                self._record(name, ok, (time.perf_counter() - start) * 1000.0)


class SkillCallable:
    """``skills.<name>``: call it with the skill's arguments.

    Looking the skill up fetched its source; the first call uses it, later calls fetch again
    (so a callable kept across an edit runs the current version).
    """

    def __init__(self, owner: Any, name: str, info: dict[str, Any] | None = None) -> None:
        self._owner = owner
        self._info = info
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        info, self._info = self._info, None
        return self._owner._invoke(self.name, args, kwargs, info)

    def __repr__(self) -> str:
        return f"<skill {self.name}>"
