"""The wire codec: JSON plus tags for bytes, tuples, sets, datetimes and non-string dict keys.

Frames are a 4-byte big-endian length and a UTF-8 JSON object. Values inside frames go through
:func:`encode_data` on the way out; a received frame is parsed and its tags decoded in one pass
(:func:`loads`), so what code gets back has the same types on both sides and a received value
exists once in memory, not twice.

What a frame may cost its receiver is bounded before it is parsed: its size (``max_frame``) and
the number of values in it (``max_values``, counted by :func:`count_values` without parsing).
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
#: Values (list items, dict entries, scalars) one frame may hold: each costs its receiver up to
#: ~100 bytes once parsed, so this bounds a parsed frame near 200 MB whatever its shape.
DEFAULT_MAX_VALUES = 2_000_000
#: Below this many bytes a frame cannot hold enough values to matter: it is not counted.
_COUNT_ABOVE = 64 * 1024
_SLICE = 1024 * 1024
TAG = "$t"
#: How every tag appears in a frame (json never escapes "$"): a frame without it has none.
_TAG_BYTES = b'"$t"'


class Unencodable(TypeError):
    """A value has no wire form (the receiver gets its repr instead)."""


def encode_data(value: Any, _depth: int = 0) -> Any:
    """Turn ``value`` into JSON-able data; raise :class:`Unencodable` if it has no wire form."""
    if _depth > 100:
        raise Unencodable("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        if type(value) not in (bool, int, float, str, type(None)):
            # Subclasses (IntEnum, str subclasses) travel as their base value.
            for base in (bool, int, float, str):
                if isinstance(value, base):
                    return base(value)
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list):
        return [encode_data(v, _depth + 1) for v in value]
    if isinstance(value, tuple):
        return {TAG: "tuple", "v": [encode_data(v, _depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {TAG: "set", "v": [encode_data(v, _depth + 1) for v in value]}
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and TAG not in value:
            return {k: encode_data(v, _depth + 1) for k, v in value.items()}
        return {
            TAG: "dict",
            "v": [
                [encode_data(k, _depth + 1), encode_data(v, _depth + 1)] for k, v in value.items()
            ],
        }
    if type(value).__name__ == "datetime" and type(value).__module__ == "datetime":
        # Checked by name: importing datetime costs every worker start for a rare value.
        return {TAG: "datetime", "v": value.isoformat()}
    raise Unencodable(f"{type(value).__name__} has no wire form")


class FrameTooLarge(ValueError):
    """A frame holds more values than its receiver accepts."""


#: Structural characters stay; every other byte becomes "0" (a value's body).
_STRUCTURE = bytes.maketrans(
    bytes(c for c in range(256) if c not in b'",[]{}'),
    b"0" * (256 - len(b'",[]{}')),
)
_STRING = re.compile(rb'"[^"]*"')


def count_values(body: bytes | bytearray) -> int:
    """How many values the JSON text ``body`` holds (list items and dict entries, nested ones
    included, plus the top one), counted without parsing it: C-speed byte operations over
    slices of 1 MiB, no Python object per value and little memory. Exact for valid JSON; a
    malformed text gets some number and then fails to parse."""
    count, inside, start, size, last = 1, False, 0, len(body), b""
    while start < size:
        end = min(start + _SLICE, size)
        while end < size and body[end - 1] == 0x5C:  # never cut an escape sequence in two
            end += 1
        part = body[start:end]
        if b"\\" in part:
            # Escaped backslashes, then escaped quotes, cannot end a string: drop them.
            part = part.replace(b"\\\\", b"").replace(b'\\"', b"")
        text = part.translate(_STRUCTURE)
        if inside:
            text = b'"' + text  # a string that began in an earlier slice
        inside = text.count(b'"') % 2 == 1
        if inside:
            text += b'"'  # ... and one that goes on into the next
        text = _STRING.sub(b"0", text)  # strings may hold any of the structural characters
        # Every value after the first in a container follows a comma; the first follows the
        # opening bracket of a non-empty container.
        opened = text.count(b"[") + text.count(b"{") - text.count(b"[]") - text.count(b"{}")
        count += text.count(b",") + opened
        if last in (b"[", b"{") and text[:1] in (b"]", b"}"):
            count -= 1  # an empty container cut in two by the slice boundary
        last, start = text[-1:], end
    return count


def loads(body: bytes | bytearray, max_values: int | None = DEFAULT_MAX_VALUES) -> Any:
    """Parse a frame's JSON and decode its tags in the same pass.

    Raises :class:`FrameTooLarge` (before parsing) when it holds more than ``max_values``
    values, ValueError when it is malformed (bad JSON, bad tags), RecursionError when it nests
    too deeply.
    """
    if max_values is not None and len(body) > _COUNT_ABOVE:
        count = count_values(body)
        if count > max_values:
            raise FrameTooLarge(f"{count:,} values (limit {max_values:,})")
    try:
        if _TAG_BYTES not in body:  # no tagged value: plain JSON, no Python call per object
            return json.loads(body)
        return json.loads(body, object_hook=_untag)
    except TypeError as exc:  # an unhashable set member or key that no encoder produces
        raise ValueError(f"malformed wire value: {exc}") from None


def _frozen(value: Any) -> Any:
    """A hashable form of a decoded value (sets inside sets, tuples holding sets)."""
    if isinstance(value, set):
        return frozenset(_frozen(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _untag(obj: dict[str, Any]) -> Any:
    """json's object hook: a tagged object becomes its value (its contents already are)."""
    tag = obj.get(TAG)
    if tag is None:
        return obj
    payload = obj.get("v")
    if tag == "bytes" and isinstance(payload, str):
        return base64.b64decode(payload.encode("ascii"), validate=True)
    if tag == "tuple" and isinstance(payload, list):
        return tuple(payload)
    if tag == "set" and isinstance(payload, list):
        try:
            return set(payload)
        except TypeError:
            return {_frozen(v) for v in payload}
    if tag == "dict" and isinstance(payload, list):
        out = {}
        for pair in payload:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError("malformed dict entry on the wire")
            try:
                out[pair[0]] = pair[1]
            except TypeError:
                out[_frozen(pair[0])] = pair[1]
        return out
    if tag == "datetime" and isinstance(payload, str):
        from datetime import datetime

        return datetime.fromisoformat(payload)
    raise ValueError(f"unknown or malformed wire tag {tag!r}")


def decode_data(value: Any) -> Any:
    """Inverse of :func:`encode_data` for a value already parsed as plain JSON (a received
    frame is decoded by :func:`loads` instead). Malformed tags raise ValueError."""
    if isinstance(value, list):
        return [decode_data(v) for v in value]
    if isinstance(value, dict):
        tag = value.get(TAG)
        if tag is None:
            return {k: decode_data(v) for k, v in value.items()}
        payload = value.get("v")
        if tag == "bytes" and isinstance(payload, str):
            return base64.b64decode(payload.encode("ascii"), validate=True)
        if tag == "tuple" and isinstance(payload, list):
            return tuple(decode_data(v) for v in payload)
        if tag == "set" and isinstance(payload, list):
            return {decode_data(v) for v in payload}
        if tag == "dict" and isinstance(payload, list):
            out = {}
            for pair in payload:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise ValueError("malformed dict entry on the wire")
                out[decode_data(pair[0])] = decode_data(pair[1])
            return out
        if tag == "datetime" and isinstance(payload, str):
            from datetime import datetime

            return datetime.fromisoformat(payload)
        raise ValueError(f"unknown or malformed wire tag {tag!r}")
    return value


class Record(dict):  # type: ignore[type-arg]
    """A dict whose keys also read as attributes (``rec.name`` and ``rec["name"]``).

    Every record a namespace method returns is one, under every executor.
    """

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def to_dict(self) -> dict[str, Any]:
        """A plain copy (records nested inside stay records)."""
        return dict(self)


def to_records(value: Any) -> Any:
    """Dicts become :class:`Record` all the way down (lists and tuples are walked)."""
    if isinstance(value, dict):
        return Record({k: to_records(v) for k, v in value.items()})
    if isinstance(value, list):
        return [to_records(v) for v in value]
    return value
