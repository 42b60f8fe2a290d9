# georep — the two set-up commands: `make demo` and `make test`. Nothing else is needed.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
PIP := $(BIN)/python -m pip -q --disable-pip-version-check

.PHONY: demo test test-long chaos bench lint notebook clean

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

# Two workers, a test file each at a time (module fixtures are shared within a file): most
# tests wait on moto, proxies and subprocesses, so two halve the wall time on two cores.
test: $(DEVSTAMP)  ## install dev dependencies, lint, run the whole suite (two workers)
	$(BIN)/ruff check georep tests bench
	$(BIN)/pytest -n 2 --dist loadfile

test-long: $(DEVSTAMP)  ## the property tests with 20x the examples (HYPOTHESIS_PROFILE=long)
	HYPOTHESIS_PROFILE=long $(BIN)/pytest $(addprefix tests/core/,test_crdt_laws.py \
		test_bcounter.py test_policy.py test_vclock.py test_stateful.py test_hlc.py \
		test_causality.py test_meta.py test_breaker.py test_retry.py)

CHAOS_SECONDS ?= 600
CHAOS_OFF ?=
chaos: $(DEVSTAMP)  ## the chaos test for ten minutes, every op kind; its seed is printed (CHAOS_SEED=N replays its choices)
	CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_OFF=$(CHAOS_OFF) $(BIN)/pytest -s -m chaos tests/embedded/test_chaos.py

bench: $(STAMP)  ## benchmarks: ratios measured in one run (not tests)
	$(BIN)/python bench/replication.py
	$(BIN)/python bench/lag.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/reconcile.py
	$(BIN)/python bench/checkers.py
	$(BIN)/python bench/deterministic.py

NOTESTAMP := $(VENV)/.installed-notebook
$(NOTESTAMP): pyproject.toml $(STAMP)
	$(PIP) install -e '.[notebook]'
	touch $@

notebook: $(NOTESTAMP)  ## open notebooks/divergence.ipynb in JupyterLab (installs the notebook extra)
	$(BIN)/jupyter lab notebooks/divergence.ipynb

lint: $(DEVSTAMP)
	$(BIN)/ruff check georep tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache
