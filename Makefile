# Two commands matter: `make demo` (the main job, offline, on SQLite) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo demo-ui test lint format bench docs system-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamps re-run the install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

# torch before the rest: the CPU build, so the transformers extra never pulls a CUDA one.
$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/synthloop demo --simulate

# The same loop with the web UI: annotate in the browser, the demo goes on when the queue is done.
demo-ui: $(VENV)/.installed
	$(VENV)/bin/synthloop demo

test: $(VENV)/.dev-installed system-deps
	$(PY) -m pytest

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(VENV)/.dev-installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(VENV)/.dev-installed system-deps
	$(PY) bench/import.py
	$(PY) bench/quality.py
	$(PY) bench/server.py
	$(PY) bench/generate.py
	$(PY) bench/curate.py
	$(PY) bench/curate_pii.py

docs: $(VENV)/.installed
	$(PY) -m synthloop._clidocs > docs/cli.md

# What the tests need from the machine itself (Debian packages, running services).
system-deps:
	bash scripts/system-deps.sh

clean:
	rm -rf $(VENV) demo-out synthloop-demo synthloop.db synthloop.db-wal synthloop.db-shm
