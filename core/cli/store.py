"""The store CLI: move skills (and tool configs, deps) between a folder and Redis.

    python -m py_code_mode.cli.store bootstrap --source ./skills --target redis://localhost --prefix myapp
    py-code-mode store list --target redis://localhost --prefix myapp

``--prefix P`` names the same prefix ``RedisStorage(prefix=P)`` uses, so a bootstrapped library
is what sessions see (a legacy ``P`` ending in ``:skills`` is understood too); ``list``, ``pull``
and ``diff`` also read the reference project's legacy ``P:__skills__`` hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="store_command", required=True)
    boot = sub.add_parser(
        "bootstrap", help="push a folder (skills, tools) or requirements (deps) into Redis"
    )
    boot.add_argument(
        "--source", help="a folder of skills or tools, or a requirements file for deps"
    )
    boot.add_argument("--target", required=True, help="redis:// or rediss:// URL")
    boot.add_argument("--prefix", default="skills")
    boot.add_argument("--type", choices=("skills", "tools", "deps"), default="skills")
    boot.add_argument("--clear", action="store_true", help="remove what is there first")
    boot.add_argument("--deps", nargs="*", default=[], help="package specs (with --type deps)")
    listing = sub.add_parser("list", help="list what is stored")
    listing.add_argument("--target", required=True)
    listing.add_argument("--prefix", default="skills")
    listing.add_argument("--type", choices=("skills", "tools", "deps"), default="skills")
    pull = sub.add_parser("pull", help="write the stored skills into a folder")
    pull.add_argument("--target", required=True)
    pull.add_argument("--prefix", default="skills")
    pull.add_argument("--dest", required=True)
    diff = sub.add_parser("diff", help="compare a folder with what is stored")
    diff.add_argument("--source", required=True)
    diff.add_argument("--target", required=True)
    diff.add_argument("--prefix", default="skills")


def connect(url: str) -> Any:
    if url.startswith(("s3://", "cosmos://", "file://")):
        raise NotImplementedError(
            f"{url.split(':', 1)[0]}:// stores are not supported; use redis://"
        )
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError(f"not a Redis URL: {url!r}")
    import redis

    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)


def skill_store_prefix(prefix: str) -> str:
    """The skill store's own prefix: ``P:skills`` (what RedisStorage(prefix=P) reads)."""
    return prefix if prefix.endswith(":skills") else f"{prefix}:skills"


def _stored_skills(client: Any, prefix: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The stored skill records by name, and a problem line for every name refused.

    Every name read from Redis passes the validator FileStorage uses for skill files, so a
    field such as ``../x`` or ``/etc/x`` never becomes a path (``pull`` writes ``{name}.py``).
    """
    from ..errors import SkillValidationError
    from ..skills.skill import validate_skill_name

    out: dict[str, dict[str, Any]] = {}
    refused: list[str] = []
    for key in (f"{prefix}:__skills__", f"{skill_store_prefix(prefix)}:__skills__"):  # legacy first
        for raw_name, raw in client.hgetall(key).items():
            name = raw_name.decode("utf-8", "replace") if isinstance(raw_name, bytes) else raw_name
            try:
                out[validate_skill_name(name)] = json.loads(raw)
            except SkillValidationError as exc:
                refused.append(f"{key}: refused {name!r}: {exc}")
    return out, refused


def _report(refused: list[str]) -> int:
    for line in refused:
        print(f"py-code-mode store: {line}", file=sys.stderr)
    return 1 if refused else 0


def _fingerprint(name: str, description: str, source: str) -> str:
    return hashlib.sha256(f"{name}\x00{description}\x00{source}".encode()).hexdigest()


def _library(client: Any, prefix: str) -> Any:
    from ..skills.library import SkillLibrary
    from ..storage.redis import RedisSkillStore

    return SkillLibrary(RedisSkillStore(client, skill_store_prefix(prefix)))


def run(args: argparse.Namespace) -> int:
    try:
        client = connect(args.target)
        return _run(args, client)
    except (NotImplementedError, ValueError) as exc:
        print(f"py-code-mode store: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from ..storage.redis import redact

        print(
            f"py-code-mode store {args.store_command}: {exc} ({redact(args.target)})",
            file=sys.stderr,
        )
        return 1


def _check_source(args: argparse.Namespace) -> None:
    """A named source must exist: a typo is an error, not "0 skills"."""
    source = getattr(args, "source", None)
    if not source:
        return
    path = Path(source).expanduser()
    wants_file = getattr(args, "type", "skills") == "deps"
    if wants_file and not path.is_file():
        raise ValueError(f"--source {source!r}: no such requirements file")
    if not wants_file and not path.is_dir():
        raise ValueError(f"--source {source!r}: no such folder")


def _run(args: argparse.Namespace, client: Any) -> int:
    command, prefix = args.store_command, args.prefix
    _check_source(args)
    client.ping()  # Redis down: say so before doing anything
    if command == "bootstrap":
        kind = args.type
        if kind == "skills":
            if not args.source:
                raise ValueError("--source is required for skills")
            library = _library(client, prefix)
            if args.clear:
                client.delete(f"{skill_store_prefix(prefix)}:__skills__")
            count = 0
            for file in sorted(Path(args.source).glob("*.py")):
                if file.name.startswith("_"):
                    continue
                library.create(file.stem, file.read_text(encoding="utf-8"))
                print(f"  Added: {file.stem}")
                count += 1
            print(f"Bootstrapped {count} skills to {args.target} (prefix: {prefix})")
        elif kind == "tools":
            if not args.source:
                raise ValueError("--source is required for tools")
            key = f"{prefix}:__tools__"
            if args.clear:
                client.delete(key)
            count = 0
            for file in sorted(Path(args.source).glob("*.y*ml")):
                data = yaml.safe_load(file.read_text(encoding="utf-8"))
                if isinstance(data, dict) and data.get("name"):
                    client.hset(key, data["name"], json.dumps(data))
                    print(f"  Added: {data['name']}")
                    count += 1
            print(f"Bootstrapped {count} tools to {args.target} (prefix: {prefix})")
        else:
            from ..deps.specs import validate_spec
            from ..storage.redis import RedisDepsStore

            store = RedisDepsStore(client, prefix)
            if args.clear:
                client.delete(store.key)
            specs = list(args.deps)
            if args.source:
                specs += [
                    line.split("#")[0].strip()
                    for line in Path(args.source).read_text().splitlines()
                ]
            specs = [validate_spec(s) for s in specs if s]
            for spec in specs:
                store.add(spec)
                print(f"  Added: {spec}")
            print(f"Bootstrapped {len(specs)} deps to {args.target} (prefix: {prefix})")
    elif command == "list":
        if args.type == "skills":
            skills, refused = _stored_skills(client, prefix)
            for name, record in sorted(skills.items()):
                print(f"  {name}: {str(record.get('description', ''))[:50]}")
            print(f"{len(skills)} skills in {args.target} (prefix: {prefix})")
            return _report(refused)
        elif args.type == "tools":
            tools = client.hgetall(f"{prefix}:__tools__")
            for name in sorted(n.decode() for n in tools):
                print(f"  {name}")
            print(f"{len(tools)} tools in {args.target} (prefix: {prefix})")
        else:
            from ..storage.redis import RedisDepsStore

            deps = RedisDepsStore(client, prefix).list()
            for spec in deps:
                print(f"  {spec}")
            print(f"{len(deps)} deps in {args.target} (prefix: {prefix})")
    elif command == "pull":
        dest = Path(args.dest)
        dest.mkdir(parents=True, exist_ok=True)
        skills, refused = _stored_skills(client, prefix)
        for name, record in sorted(skills.items()):
            path = dest / f"{name}.py"
            path.write_text(record["source"], encoding="utf-8")
            print(f"  {name} -> {path}")
        print(f"Pulled {len(skills)} skills to {dest}")
        return _report(refused)
    elif command == "diff":
        from ..skills.skill import parse_skill

        stored, refused = _stored_skills(client, prefix)
        local = {}
        for file in sorted(Path(args.source).glob("*.py")):
            if not file.name.startswith("_"):
                source = file.read_text(encoding="utf-8")
                try:
                    description = parse_skill(file.stem, source)[0].description
                except ValueError:
                    description = ""
                local[file.stem] = _fingerprint(file.stem, description, source)
        for name in sorted(set(stored) | set(local)):
            if name not in local:
                print(f"+ {name} (agent-created)")
            elif name not in stored:
                print(f"- {name} (removed from store)")
            else:
                record = stored[name]
                same = (
                    _fingerprint(name, record.get("description", ""), record["source"])
                    == local[name]
                )
                print(f"= {name}" if same else f"~ {name} (modified)")
        return _report(refused)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="py-code-mode store", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
