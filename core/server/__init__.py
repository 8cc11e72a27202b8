"""The session server: Sessions over HTTP, one per ``X-Session-ID`` (the ``server`` extra).

``py-code-mode serve`` runs it; ``uvicorn py_code_mode.execution.container.server:app`` runs the
same app configured from the reference project's environment variables.
"""

from .pool import SessionPool
from .settings import ServerSettings

__all__ = ["ServerSettings", "SessionPool", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":  # FastAPI is imported only when the app is made
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'py_code_mode.server' has no attribute {name!r}")
