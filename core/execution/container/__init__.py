"""ContainerExecutor and the session server's client (the reference's module path).

``ContainerExecutor(ContainerConfig(...))`` runs the worker in ``docker run -i``; with
``remote_url`` it runs a Session against a running session server over HTTP instead (no
Docker on the client). ``py_code_mode.execution.container.server:app`` is the server itself
(FastAPI, the ``server`` extra), loaded only when that module is imported.
"""

from typing import Any

from .executor import (
    DEFAULT_IMAGE,
    PACKAGE_MOUNT,
    ContainerConfig,
    ContainerExecutor,
    docker_problem,
    image_present,
)
from .image import (
    EDGE_IMAGE,
    SOURCE_LABEL,
    build_base,
    build_context,
    build_image,
    image_label,
    source_digest,
    source_root,
)

__all__ = [
    "DEFAULT_IMAGE",
    "EDGE_IMAGE",
    "PACKAGE_MOUNT",
    "SOURCE_LABEL",
    "ContainerConfig",
    "ContainerExecutor",
    "SessionClient",
    "build_base",
    "build_context",
    "build_image",
    "docker_problem",
    "image_label",
    "image_present",
    "source_digest",
    "source_root",
]


def __getattr__(name: str) -> Any:
    if name in ("SessionClient", "SyncSessionClient"):  # httpx loads only when a client is used
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
