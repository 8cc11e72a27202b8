"""Entry point of the worker process: ``python -P <package>/worker/__main__.py CONFIG``.

Launched by path, this file has no parent package, so it loads its own folder as a package
under a private name (``-P`` keeps that folder off ``sys.path``: user code never imports our
modules by accident). ``python -m py_code_mode.worker`` works too where the project is installed.
With ``--template CONFIG`` it becomes the template that forks workers (see template.py).
"""

import sys

if __package__:  # python -m py_code_mode.worker
    from .process import main

    def _template_main(argv: list[str]) -> int:
        from .template import main as template_main

        return template_main(argv)
else:
    import importlib.util
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    _spec = importlib.util.spec_from_file_location(
        "_py_code_mode_worker",
        os.path.join(_here, "__init__.py"),
        submodule_search_locations=[_here],
    )
    assert _spec is not None and _spec.loader is not None
    _package = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _package
    _spec.loader.exec_module(_package)
    main = importlib.import_module("_py_code_mode_worker.process").main

    def _template_main(argv: list[str]) -> int:
        return importlib.import_module("_py_code_mode_worker.template").main(argv)


if __name__ == "__main__" and sys.argv[1:2] == ["--template"]:  # see template.py
    sys.exit(_template_main(sys.argv))

if __name__ == "__main__":
    sys.exit(main(sys.argv))
