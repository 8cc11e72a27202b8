"""The one declaration of every namespace method that code can call.

Each row says how the method is called (its parameters, as Python source), what comes back
(the result kind), whether the host must serve it off its event loop (``blocking``; a host
handler may name methods its backend serves cheaply in its ``inline`` set), whether it
changes stored state (``writes``), which view of a host record becomes data (``view``), and
whether it is internal (used by the namespace objects themselves, not a public method) or
one-way (no reply awaited), and how large a call from a worker may be (``max_bytes``). From this
table the namespace classes get their methods (in-process and in a worker alike, see
:mod:`.namespaces`) and the host gets its allow-list, its size limits and its conversions.
"""

from __future__ import annotations

from typing import NamedTuple


class Method(NamedTuple):
    """One namespace method.

    ``result``: ``"record"`` (a :class:`~.wire.Record` or None), ``"records"`` (a list of
    them), ``"data"`` (a value as stored), ``"bool"``, ``"str"``, ``"none"``, ``"list"`` (a
    list of plain values). ``view``: the host record's method that makes data (``to_dict``,
    ``code_view``) or ``fields`` (the model's own fields, datetimes kept). ``max_bytes``: the
    largest call a worker may send for it (the frame: arguments and envelope, in bytes), checked
    by the host before it does any work; ``None``: only the channel's frame limit (data stored
    or handed to a tool as it is).
    """

    params: str
    result: str
    blocking: bool = False
    writes: bool = False
    view: str = "to_dict"
    internal: bool = False
    oneway: bool = False
    doc: str = ""
    max_bytes: int | None = 16 * 1024  # names, queries, specs: what the host searches or parses


M = Method
#: A skill's source (validated, parsed and indexed on the host).
SOURCE_BYTES = 1024 * 1024

SURFACE: dict[str, dict[str, Method]] = {
    "artifacts": {
        "save": M("name, data, description='', metadata=None", "record", writes=True,
                  view="fields", max_bytes=None, doc="Store data under a name; returns its record."),
        "load": M("name, default=MISSING", "data",
                  doc="The stored data; ArtifactNotFoundError unless a default is given."),
        "get": M("name", "record", view="fields", doc="The artifact's record, or None."),
        "list": M("", "records", view="fields", doc="Every artifact's record."),
        "exists": M("name", "bool", doc="Whether an artifact of that name is stored."),
        "delete": M("name", "none", writes=True, doc="Remove an artifact (absent: no error)."),
    },
    "tools": {
        "list": M("", "records", doc="Every tool with its callables."),
        "search": M("query, limit=10", "records", blocking=True,
                    doc="Tools ranked for a query."),
        "describe": M("name=None", "str", doc="Signatures of one tool, or of all."),
        "get": M("name", "data", internal=True, doc="tools.<name>: a tool and its callables."),
        "call": M("tool, callable_name, args", "data", writes=True, internal=True,
                  max_bytes=None, doc="Run a tool on the host."),
    },
    "skills": {
        "search": M("query, limit=5", "records", blocking=True, view="code_view",
                    doc="Skills ranked for a query (hybrid full-text + semantic)."),
        "list": M("", "records", blocking=True, view="code_view", doc="Every skill."),
        "get": M("name", "record", blocking=True, doc="A skill with its source, or None."),
        "create": M("name, source, description=''", "record", blocking=True, writes=True,
                    max_bytes=SOURCE_BYTES,
                    doc="Validate and save a skill (a new version if it exists)."),
        "delete": M("name", "bool", blocking=True, writes=True, doc="Remove a skill."),
        "describe": M("name=None", "str", blocking=True, doc="Signatures of one skill, or all."),
        "history": M("name", "records", blocking=True, doc="Every version, oldest first."),
        "rollback": M("name, version", "record", blocking=True, writes=True,
                      doc="Make an earlier version current again."),
        "source": M("name", "data", blocking=True, internal=True,
                    doc="What running a skill needs: name, source, content hash."),
        "record": M("name, ok, duration_ms", "none", blocking=True, writes=True,
                    internal=True, oneway=True, doc="Usage statistics of one skill call."),
    },
    "deps": {
        "add": M("spec", "record", blocking=True, writes=True,
                 doc="Install a package into the overlay and record it."),
        "list": M("", "list", blocking=True, doc="The recorded packages."),
        "remove": M("name", "bool", blocking=True, writes=True,
                    doc="Remove a package from the record."),
        "sync": M("", "record", blocking=True, writes=True, doc="Install everything recorded."),
    },
}  # fmt: skip

NAMESPACE_NAMES = tuple(SURFACE)


def param_names(params: str) -> list[str]:
    """The parameter names of a ``params`` string (defaults are simple literals)."""
    return [p.split("=", 1)[0].strip() for p in params.split(",") if p.strip()]


def allowed(namespace: object, method: object) -> Method | None:
    """The declared method, or None when code may not call it."""
    if not isinstance(namespace, str) or not isinstance(method, str):
        return None
    return SURFACE.get(namespace, {}).get(method)
