# Two commands matter: `make demo` and `make test`. Both create the virtual
# environment on first use, so a fresh clone needs nothing but Python and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-m365sync
PACKAGES := admin cli worker webhook store emulators

SHELL := /bin/bash

.PHONY: test lint typecheck unit demo bench venv clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict $(PACKAGES)

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/m365sync demo

BENCHMARKS := store planner emulators clients latency webhook burst

bench: $(STAMP)
	for b in $(BENCHMARKS); do echo "== bench/$$b.py"; $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
