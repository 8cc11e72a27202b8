"""``py-code-mode skills ...``: manage a folder's skills from the shell, and move them to and
from Agent Skills folders (``<name>/SKILL.md`` with YAML front matter, plus the code file)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

DEFAULT_BASE = "~/.code-mode"


#: Commands that only read: they never create the base folder.
READS = ("list", "search", "show", "history", "export")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--base`` may stand before ``skills``, after it, or after the skills command."""
    base = {"default": argparse.SUPPRESS, "help": f"base folder (default {DEFAULT_BASE})"}
    parser.add_argument("--base", **base)  # type: ignore[arg-type]
    sub = parser.add_subparsers(dest="skills_command", required=True)
    add_parser = sub.add_parser

    def with_base(*args: Any, **kwargs: Any) -> argparse.ArgumentParser:
        command = add_parser(*args, **kwargs)
        command.add_argument("--base", **base)  # type: ignore[arg-type]
        return command

    sub.add_parser = with_base  # type: ignore[method-assign]
    sub.add_parser("list", help="list skills")
    search = sub.add_parser("search", help="find skills by what they do")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=5)
    show = sub.add_parser("show", help="show a skill's source")
    show.add_argument("name")
    add = sub.add_parser("add", help="add a skill from a Python file")
    add.add_argument("file")
    add.add_argument("--name", help="skill name (default: the file's stem)")
    add.add_argument("--description", default="")
    remove = sub.add_parser("remove", help="delete a skill (its history is kept)")
    remove.add_argument("name")
    history = sub.add_parser("history", help="list a skill's versions")
    history.add_argument("name")
    rollback = sub.add_parser("rollback", help="make an earlier version current")
    rollback.add_argument("name")
    rollback.add_argument("version", type=int)
    export = sub.add_parser("export", help="write every skill as an Agent Skills folder")
    export.add_argument("dir")
    imp = sub.add_parser("import", help="read Agent Skills folders into this library")
    imp.add_argument("dir")


def _library(base: str, *, create: bool) -> Any:
    from ..errors import ConfigurationError
    from ..storage.file import FileStorage

    root = Path(base).expanduser()
    if not create and not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise ConfigurationError(f"base folder {str(root)!r} {what} (nothing to read)")
    return FileStorage(root).get_skill_library()


def export_skills(library: Any, folder: Path) -> list[str]:
    """Each skill as ``folder/<name>/SKILL.md`` (front matter name, description) + ``<name>.py``."""
    names = []
    for skill in library.list():
        target = folder / skill.name
        target.mkdir(parents=True, exist_ok=True)
        front = yaml.safe_dump(
            {"name": skill.name, "description": skill.description}, sort_keys=False
        ).strip()
        params = "\n".join(f"- `{p['name']}` ({p['type']}){': ' + p['description'] if p.get('description') else ''}"
                           for p in skill.parameters) or "- (none)"  # fmt: skip
        body = (
            f"---\n{front}\n---\n\n# {skill.name}\n\n{skill.description}\n\n"
            f"Call it from py-code-mode code as `skills.{skill.signature}`, or run `{skill.name}.py`'s "
            f"`run()` directly.\n\n## Parameters\n\n{params}\n"
        )
        (target / "SKILL.md").write_text(body, encoding="utf-8")
        (target / f"{skill.name}.py").write_text(skill.source, encoding="utf-8")
        names.append(skill.name)
    return names


def _inside(root: Path, path: Path) -> Path:
    """``path`` if it resolves inside ``root`` (symlinks followed), else ValueError."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"{path} leads outside the imported folder (to {resolved})")
    return path


def import_skills(library: Any, folder: Path) -> tuple[list[str], list[str]]:
    """Create a skill from every ``*/SKILL.md`` folder; returns (imported, problems).

    Nothing is read from outside ``folder``: a symlinked skill folder, ``SKILL.md`` or code
    file that resolves elsewhere is refused (and reported), as is a front matter name that is
    not a valid skill name.
    """
    from ..skills.skill import validate_skill_name

    root = folder.resolve()
    imported, problems = [], []
    for manifest in sorted(folder.glob("*/SKILL.md")):
        try:
            _inside(root, manifest)
            text = manifest.read_text(encoding="utf-8")
            if not text.startswith("---"):
                raise ValueError("SKILL.md has no YAML front matter")
            front = yaml.safe_load(text.split("---", 2)[1]) or {}
            name = validate_skill_name(
                str(front.get("name") or manifest.parent.name).replace("-", "_")
            )
            code = manifest.parent / f"{name}.py"
            if not code.is_file():
                candidates = sorted(manifest.parent.glob("*.py")) + sorted(
                    manifest.parent.glob("scripts/*.py")
                )
                if len(candidates) != 1:
                    raise ValueError("expected one Python file beside SKILL.md")
                code = candidates[0]
            _inside(root, code)
            library.create(
                name, code.read_text(encoding="utf-8"), str(front.get("description") or "") or None
            )
            imported.append(name)
        except Exception as exc:  # one bad folder never stops the others
            problems.append(f"{manifest.parent.name}: {exc}")
    return imported, problems


def run(args: argparse.Namespace) -> int:
    from ..errors import CodeModeError

    command = args.skills_command
    library = _library(getattr(args, "base", None) or DEFAULT_BASE, create=command not in READS)
    try:
        if command == "list":
            for skill in library.list():
                print(f"{skill.signature}  — {skill.description}")
        elif command == "search":
            for skill in library.search(args.query, args.limit):
                print(f"{skill.name}: {skill.description}")
        elif command == "show":
            skill = library.get(args.name)
            if skill is None:
                print(f"no skill named {args.name!r}", file=sys.stderr)
                return 1
            print(skill.source, end="" if skill.source.endswith("\n") else "\n")
        elif command == "add":
            path = Path(args.file)
            skill = library.create(
                args.name or path.stem, path.read_text(encoding="utf-8"), args.description or None
            )
            print(f"added {skill.name} (version {skill.version})")
        elif command == "remove":
            if not library.delete(args.name):
                print(f"no skill named {args.name!r}", file=sys.stderr)
                return 1
            print(f"removed {args.name}")
        elif command == "history":
            for version in library.history(args.name):
                mark = "*" if version["current"] else " "
                print(
                    f"{mark} v{version['version']}  {version['saved_at'] or ''}  {version['description']}"
                )
        elif command == "rollback":
            skill = library.rollback(args.name, args.version)
            print(f"{skill.name}: version {args.version} restored as version {skill.version}")
        elif command == "export":
            names = export_skills(library, Path(args.dir))
            print(json.dumps({"exported": names}))
        elif command == "import":
            imported, problems = import_skills(library, Path(args.dir))
            print(json.dumps({"imported": imported, "problems": problems}))
            return 1 if problems and not imported else 0
    except (CodeModeError, OSError, ValueError) as exc:
        print(f"py-code-mode skills {command}: {exc}", file=sys.stderr)
        return 1
    return 0
