"""The wire codec: JSON plus tags for bytes, tuples, sets, datetimes and non-string dict keys.

Frames are a 4-byte big-endian length and a UTF-8 JSON object. Values inside frames go through
:func:`encode_data`/:func:`decode_data`, so what code gets back has the same types on both sides.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
TAG = "$t"


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


def decode_data(value: Any) -> Any:
    """Inverse of :func:`encode_data`. Malformed tags raise ValueError."""
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
