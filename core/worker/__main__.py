"""Entry point of the worker process: ``python -P <package>/worker/__main__.py CONFIG``.

Launched by path, this file has no parent package, so it loads its own folder as a package
under a private name (``-P`` keeps that folder off ``sys.path``: user code never imports our
modules by accident). ``python -m py_code_mode.worker`` works too where the project is installed.
"""

import sys

if __package__:  # python -m py_code_mode.worker
    from .process import main
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

if __name__ == "__main__":
    sys.exit(main(sys.argv))
