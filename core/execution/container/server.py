"""The reference project's module path of the session server.

``uvicorn py_code_mode.execution.container.server:app --host 0.0.0.0 --port 8080`` serves
Sessions configured from the environment (``CONTAINER_AUTH_TOKEN`` or
``CONTAINER_AUTH_DISABLED=true``, ``REDIS_URL``, ``TOOLS_PATH``, ``DEFAULT_TIMEOUT``, ...; see
docs/production.md). ``py-code-mode serve`` runs the same app with flags.
"""

from __future__ import annotations

import os

from ...server.app import create_app
from ...server.settings import ServerSettings

__all__ = ["app", "create_app", "main"]

#: Configured from the environment when it starts; refuses to start without auth settings.
app = create_app()


def main() -> None:
    """``python -m py_code_mode.execution.container.server``: serve on ``$HOST:$PORT``."""
    from ...server.app import CONTAINER_BASE, serve

    settings = ServerSettings.from_env(default_base=CONTAINER_BASE)
    serve(
        settings, host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", "8080"))
    )


if __name__ == "__main__":
    main()
