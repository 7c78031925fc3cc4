# gridlab: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= data/demo.duckdb
SYMBOL ?= BTCUSDT
START ?= 2024-01-01
END ?= 2024-01-08
PROFILE ?= Normal
FILL_MODEL ?=
# pytest workers for `make test` (pytest-xdist): one per core; TEST_WORKERS=0 runs serially
TEST_WORKERS ?= auto
DB ?= $(DEMO_DB)
export TZ := UTC
export PYTHONHASHSEED := 0

.DEFAULT_GOAL := help
.PHONY: help setup browser warm demo test test-slow bench lab lint format report fake-exchange clean \
	smoke-testnet

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "gridlab needs Python >= 3.11, found " + sys.version.split()[0] + ": set PYTHON=python3.11 (or newer)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name gridlab --display-name "gridlab" >/dev/null
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install gridlab with its pinned dependencies

demo: setup ## offline end to end: synthetic market -> sweep -> report; prints where outputs are
	$(BIN)/gridlab demo --db $(DEMO_DB)

browser: ## install Debian's chromium for the panel's browser tests, when missing
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium (panel browser tests)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; }

test: setup browser warm ## run the test suite (no network), one worker per core (TEST_WORKERS)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

warm: setup ## compile the replay kernels into numba's cache, two halves side by side
	@$(BIN)/python -m tests.warm_kernels single & pid=$$!; \
	  $(BIN)/python -m tests.warm_kernels portfolio; rc=$$?; wait $$pid && exit $$rc

test-slow: setup ## long soak and load runs (marker: slow)
	$(BIN)/python -m pytest -m slow

bench: setup ## run the benchmarks; prints a table and saves benchmarks/results/
	$(BIN)/python -m benchmarks.run

lab: setup ## start JupyterLab with the gridlab kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks

report: setup ## backtest report notebook -> reports/*.html (SYMBOL START END PROFILE FILL_MODEL DB)
	$(BIN)/gridlab report --db $(DB) --symbol $(SYMBOL) --start $(START) --end $(END) \
	  --profile $(PROFILE) $(if $(FILL_MODEL),--fill-model $(FILL_MODEL)) --out reports

smoke-testnet: setup ## one far PostOnly order on Bybit testnet/demo: checks keys + adapter (SMOKE_ENV=demo)
	$(BIN)/python -m gridlab.bybit.smoke --env $(or $(SMOKE_ENV),testnet) --symbol $(SYMBOL)

lint: setup ## ruff check
	$(BIN)/ruff check gridlab live tests benchmarks

format: setup ## ruff format + autofix
	$(BIN)/ruff check --fix gridlab live tests benchmarks
	$(BIN)/ruff format gridlab live tests benchmarks

clean: ## remove the venv, caches and generated data
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis reports data/*.duckdb
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
