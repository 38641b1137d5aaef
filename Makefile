# Two commands matter: `make demo` and `make test`. Both create the virtual
# environment on first use (exact versions from constraints.txt), so a fresh clone needs
# nothing but Python and make; `make test` also installs Debian's chromium, postgresql
# (for the store tests' throw-away server) and npm (for axe-core) when it runs as root with
# apt-get, and otherwise says which command to run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-m365sync
# axe-core from npm, injected into the admin pages by the browser tests.
AXE := tests/js/node_modules/axe-core/axe.min.js
PACKAGES := admin cli edge worker webhook store emulators

SHELL := /bin/bash

.PHONY: test lint typecheck unit browser postgresql demo bench venv clean constraints

venv: $(STAMP) $(AXE)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

$(AXE): tests/js/package.json tests/js/package-lock.json
	@./.ci/ensure-npm
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	touch $(AXE)

# After changing the dependencies in setup.cfg: re-resolve, then run make test.
constraints:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade -e '.[test]'
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt
	touch $(STAMP)

browser:
	@./.ci/ensure-chromium

postgresql:
	@./.ci/ensure-postgresql

lint: $(STAMP)
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict $(PACKAGES)

unit: $(STAMP) $(AXE)
	$(BIN)/pytest $(PYTEST_ARGS)

test: browser postgresql lint typecheck unit

demo: $(STAMP)
	$(BIN)/m365sync demo

BENCHMARKS := store planner emulators clients latency webhook burst restart activity directory_view links

bench: $(STAMP)
	for b in $(BENCHMARKS); do echo "== bench/$$b.py"; $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
