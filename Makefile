# georep — the two set-up commands: `make demo` and `make test`. Nothing else is needed.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
PIP := $(BIN)/python -m pip -q --disable-pip-version-check

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(PIP) install -e '.[dev]'
	touch $@

demo: $(STAMP)  ## create .venv, install, run the global-tables story on an embedded lab
	$(BIN)/georep demo

test: $(DEVSTAMP)  ## install dev dependencies, lint, run the whole suite
	$(BIN)/ruff check georep tests bench
	$(BIN)/pytest

bench: $(STAMP)  ## benchmarks: ratios measured in one run (not tests)
	$(BIN)/python bench/replication.py

lint: $(DEVSTAMP)
	$(BIN)/ruff check georep tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache
