# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Each creates the virtualenv and installs the project with all extras first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint typecheck bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/py-code-mode demo --framework all

# The layers (import-linter contracts in pyproject.toml) and the types are checked before the tests.
typecheck: install
	$(VENV)/bin/lint-imports
	mkdir -p $(VENV)/typecheck && ln -sfn $(CURDIR)/core $(VENV)/typecheck/py_code_mode
	MYPYPATH=$(VENV)/typecheck $(PY) -m mypy -p py_code_mode

test: install typecheck
	$(PY) -m ruff check core integrations tests bench examples
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check core integrations tests bench examples
	$(PY) -m ruff format --check core integrations tests bench examples

bench: install
	$(PY) bench/executors.py

clean:
	rm -rf $(VENV) .demo bench/results
