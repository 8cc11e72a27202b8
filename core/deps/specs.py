"""Package specs: what ``deps.add`` accepts, checked before anything is recorded or installed."""

from __future__ import annotations

import re

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import InvalidSpecError

MAX_SPEC_LENGTH = 256
_SHELL = re.compile(r"[;|&$`(){}\\'\"*?]")
_SAFE_SPEC = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?\s*([<>=!~][A-Za-z0-9.*,<>=!~ ]*)?$"
)


def validate_spec(spec: object, *, allow_unsafe: bool = False) -> str:
    """Return the normalized spec (``name[extras]specifier``, name lower-case with ``-``).

    Refused unless ``allow_unsafe``: URLs and direct references (``pkg @ url``), file paths,
    installer options (``-e``, ``--index-url``), environment markers and shell characters.
    Always refused: non-strings, empty specs, control characters, specs over 256 characters.
    """
    if not isinstance(spec, str):
        raise InvalidSpecError(
            f"A package spec must be a string, not {type(spec).__name__}", operation="add"
        )
    text = spec.strip()
    if not text:
        raise InvalidSpecError("A package spec must not be empty", operation="add")
    if len(text) > MAX_SPEC_LENGTH:
        raise InvalidSpecError(
            f"Package spec is longer than {MAX_SPEC_LENGTH} characters", operation="add"
        )
    if any(ord(c) < 32 for c in text):
        raise InvalidSpecError(
            f"Package spec {text!r} contains a control character", operation="add"
        )
    if not allow_unsafe:
        if text.startswith("-"):
            raise InvalidSpecError(
                f"Package spec {text!r} is an installer option; options are not allowed",
                operation="add",
            )
        if "://" in text or "@" in text or "/" in text or text.startswith("."):
            raise InvalidSpecError(
                f"Package spec {text!r} is a URL or a path; only names from the package index "
                "are allowed (the operator can allow others)",
                operation="add",
            )
        if _SHELL.search(text):
            raise InvalidSpecError(
                f"Package spec {text!r} contains shell characters or an environment marker",
                operation="add",
            )
        if not _SAFE_SPEC.match(text):
            raise InvalidSpecError(
                f"Package spec {text!r} is not 'name[extras]<version specifier>'", operation="add"
            )
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        if allow_unsafe:
            return text
        raise InvalidSpecError(f"Invalid package spec {text!r}: {exc}", operation="add") from None
    name = canonicalize_name(requirement.name)
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    specifier = str(requirement.specifier)
    out = f"{name}{extras}{specifier}"
    if requirement.url:
        out += f" @ {requirement.url}"
    if requirement.marker:
        out += f"; {requirement.marker}"
    return out


def spec_name(spec: str) -> str:
    """The canonical project name of a spec (``Foo_Bar>=1`` → ``foo-bar``)."""
    try:
        return canonicalize_name(Requirement(spec).name)
    except InvalidRequirement:
        return canonicalize_name(re.split(r"[\[<>=!~ ;@]", spec.strip(), maxsplit=1)[0])
