"""``python -m py_code_mode.store``: the same store CLI as ``python -m py_code_mode.cli.store``
(several of the reference project's docs use this path)."""

import sys

from .cli.store import main

if __name__ == "__main__":
    sys.exit(main())
