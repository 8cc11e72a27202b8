"""Errors that cross the channel, rebuilt on this side without importing the project.

An error travels as ``{type, message, attrs, bases}`` (``bases``: the built-in exceptions its
class derives from). When code here has imported ``py_code_mode.errors`` (to catch one of its
classes by name, or because this is the host process), the very same class is rebuilt, so
``except ArtifactNotFoundError`` works as in-process. Otherwise a stand-in class of the same
name that derives from the same built-ins is made (``except KeyError`` still works), which is
all code can tell apart without having imported the project's classes.
"""

from __future__ import annotations

import builtins
import sys
from typing import Any

_PROJECT_ERRORS = "py_code_mode.errors"


class RemoteError(Exception):
    """Base of the stand-in classes for project errors rebuilt without the project."""

    def __str__(self) -> str:  # KeyError-derived stand-ins would quote the message
        return str(self.args[0]) if self.args else ""


_STAND_INS: dict[tuple[str, tuple[str, ...]], type[BaseException]] = {}


def _builtin_bases(names: Any) -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for name in names if isinstance(names, list) else []:
        cls = getattr(builtins, str(name), None)
        if isinstance(cls, type) and issubclass(cls, Exception) and cls is not Exception:
            found.append(cls)
    # Keep the most derived ones only: a base listed before its subclass breaks the MRO.
    return tuple(c for c in found if not any(o is not c and issubclass(o, c) for o in found))


def _stand_in(name: str, bases: tuple[type[BaseException], ...]) -> type[BaseException]:
    key = (name, tuple(b.__name__ for b in bases))
    cls = _STAND_INS.get(key)
    if cls is None:
        body = {"__module__": "py_code_mode.errors", "__str__": RemoteError.__str__}
        try:
            cls = type(name, (*bases, RemoteError), body)
        except TypeError:  # incompatible built-in layouts: keep the name, drop the bases
            cls = type(name, (RemoteError,), body)
        _STAND_INS[key] = cls
    return cls


def rebuild(payload: dict[str, Any]) -> BaseException:
    """The exception described by ``payload`` (see the module docstring)."""
    project = sys.modules.get(_PROJECT_ERRORS)
    if project is not None:
        return project.error_from_wire(payload)  # type: ignore[no-any-return]
    name = str(payload.get("type") or "RemoteError")
    message = str(payload.get("message", ""))
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        return builtin(message)
    err = _stand_in(name, _builtin_bases(payload.get("bases")))(message)
    attrs = payload.get("attrs")
    for key, value in (attrs if isinstance(attrs, dict) else {}).items():
        if isinstance(key, str) and not key.startswith("_"):
            setattr(err, key, value)
    return err


def make(type_name: str, message: str, bases: tuple[str, ...] = (), **attrs: Any) -> BaseException:
    """An error raised by the worker's own code, as the project's class when it is loaded."""
    return rebuild({"type": type_name, "message": message, "attrs": attrs, "bases": list(bases)})


def builtin_bases_of(exc: BaseException) -> list[str]:
    """The names of the built-in exceptions ``exc``'s class derives from (for ``bases``)."""
    return [
        c.__name__
        for c in type(exc).__mro__
        if c.__module__ == "builtins" and c not in (BaseException, Exception, object)
    ]
