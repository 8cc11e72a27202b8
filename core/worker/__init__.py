"""The worker: the stdlib-only half of py-code-mode that runs code.

It imports nothing else of the project, so it runs under any CPython >= 3.11 without
py-code-mode installed (a sandbox, a container, another interpreter). The host launches it by
path (``python -P .../worker/__main__.py CONFIG``); the in-process executor imports the same
modules, so both ways of running code share one implementation.

- :mod:`.cells`      REPL cells: compile once, top-level ``await``, output capture, tracebacks
- :mod:`.wire`       the wire codec (JSON plus tags) and ``Record``
- :mod:`.surface`    the one declaration of every namespace method
- :mod:`.namespaces` ``tools``/``skills``/``artifacts``/``deps`` made from that declaration,
  over a transport (the host objects in-process, the channel in a worker process)
- :mod:`.skills`     the skill runner (skill code runs where code runs)
- :mod:`.errors`     rebuilding errors that crossed the channel
- :mod:`.process`    the worker process: channel, limits, main loop
"""
