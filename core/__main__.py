"""``python -m py_code_mode`` is the ``py-code-mode`` command."""

import sys

from .cli.main import main

sys.exit(main())
