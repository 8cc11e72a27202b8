"""The ``py-code-mode`` command line."""
