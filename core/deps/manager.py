"""Deps: the recorded package list plus the installer, as code and operators use them."""

from __future__ import annotations

from typing import Any

from ..errors import DependencyError, RuntimeDepsDisabledError
from ..worker.local import LocalTransport
from ..worker.namespaces import Deps
from .installer import PackageInstaller, SyncResult
from .specs import spec_name, validate_spec
from .store import DepsStore, MemoryDepsStore


class DepsManager:
    """``add`` installs then records; ``remove`` edits the record (nothing is uninstalled)."""

    def __init__(
        self,
        store: DepsStore | None = None,
        installer: PackageInstaller | None = None,
        *,
        allow_runtime_deps: bool = True,
        configured: tuple[str, ...] | list[str] = (),
        allow_unsafe_specs: bool = False,
    ) -> None:
        self.store = store if store is not None else MemoryDepsStore()
        self.installer = installer or PackageInstaller()
        self.allow_runtime_deps = allow_runtime_deps
        self.allow_unsafe_specs = allow_unsafe_specs
        self.configured = [validate_spec(s, allow_unsafe=True) for s in configured]

    def _check_allowed(self, operation: str) -> None:
        if not self.allow_runtime_deps:
            raise RuntimeDepsDisabledError(
                f"RuntimeDepsDisabledError: deps.{operation}() is disabled for this session "
                "(allow_runtime_deps=False); ask the operator to add the package",
                operation=operation,
            )

    def list(self) -> list[str]:
        """Recorded packages (configured ones first), one entry per project."""
        names = {spec_name(s) for s in self.configured}
        return [*self.configured, *(s for s in self.store.list() if spec_name(s) not in names)]

    def add(self, spec: str) -> SyncResult:
        """Validate, install (into the overlay), then record. A failed install records nothing."""
        self._check_allowed("add")
        normalized = validate_spec(spec, allow_unsafe=self.allow_unsafe_specs)
        result = self.installer.install([normalized])
        self.store.add(normalized)
        return result

    def remove(self, name: str) -> bool:
        """Remove a package from the record (matched by project name)."""
        self._check_allowed("remove")
        if not isinstance(name, str) or not name.strip():
            raise DependencyError("deps.remove() needs a package name", operation="remove")
        return self.store.remove(name)

    def remove_report(self, name: str) -> dict[str, Any]:
        removed = self.remove(name)
        return {
            "removed": [name] if removed else [],
            "not_found": [] if removed else [name],
            "failed": [],
            "removed_from_config": removed,
        }

    def sync(self) -> SyncResult:
        """Install everything recorded; failures are reported per package, never raised."""
        out = SyncResult()
        for spec in self.list():
            try:
                result = self.installer.install([spec])
            except DependencyError as exc:
                out.failed.append(spec)
                out.errors[spec] = str(exc)
                continue
            out.installed += result.installed
            out.already_present += result.already_present
        return out


def deps_for(
    storage: Any,
    *,
    python: str,
    allow_runtime_deps: bool = True,
    configured: tuple[str, ...] | list[str] | None = None,
    deps_file: Any = None,
    installer: PackageInstaller | None = None,
    source_builds: bool = True,
) -> DepsManager:
    """The deps of a session: recorded in the storage, installed into its overlay folder.

    ``source_builds=False`` (executors whose code runs outside the host process): pip installs
    wheels only, so no code of a package the session's code chose runs on the host; an
    operator's ``PackageInstaller(allow_source_builds=...)`` overrides it."""
    from pathlib import Path

    from .store import FileDepsStore

    root = getattr(storage, "root", None)
    get_store = getattr(storage, "get_deps_store", None)
    if isinstance(root, Path):
        store: DepsStore = FileDepsStore(root, seed=deps_file)
        overlay: Any = root / ".deps"
    elif get_store is not None:  # shared storage: the record is shared, the overlay is local
        store = get_store()
        overlay = getattr(storage, "deps_overlay", None)
    else:
        store = MemoryDepsStore()
        overlay = None
    installer = (installer or PackageInstaller()).bound(
        python=python, target=overlay, source_builds=source_builds
    )
    return DepsManager(
        store, installer, allow_runtime_deps=allow_runtime_deps, configured=list(configured or ())
    )


class DepsHost:
    """Serves the ``deps`` surface from a :class:`DepsManager` (installs run on the host)."""

    def __init__(self, manager: DepsManager) -> None:
        self._manager = manager

    def add(self, spec: str) -> SyncResult:
        return self._manager.add(spec)

    def list(self) -> list[str]:
        return self._manager.list()

    def remove(self, name: str) -> bool:
        return self._manager.remove(name)

    def sync(self) -> SyncResult:
        return self._manager.sync()


class DepsNamespace(Deps):
    """``deps`` over a manager, for code that builds one itself (the reference's
    ``DepsNamespace``); sessions assemble theirs in ``execution.host``."""

    def __init__(self, manager: DepsManager) -> None:
        super().__init__(LocalTransport({"deps": DepsHost(manager)}))
        self._manager = manager


ControlledDepsNamespace = DepsNamespace  # the reference's name; the manager enforces the policy
