"""MkDocs hook: drop the test tags after a fence's language for the site.

The docs tag code blocks for tests/test_docs.py (```python notest, ```bash notest: reason).
GitHub reads only the first word of a fence's info string; Python-Markdown does not recognise
such a fence at all and renders it as inline text. The site gets the bare language.
"""

from __future__ import annotations

import re
from typing import Any

_TAGGED_FENCE = re.compile(r"^(?P<fence>[ \t]*```+)(?P<lang>[\w+-]+)[ \t]+\S[^\n]*$", re.M)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return _TAGGED_FENCE.sub(r"\g<fence>\g<lang>", markdown)
