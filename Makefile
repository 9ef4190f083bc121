# FinBot's two commands: `make up` (run with demo data) and `make test` (install and test).
# The virtualenv lives in .venv and is (re)built only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?=
PORT ?=
UP_ARGS := $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

.PHONY: up test lint unit services-test bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "FinBot needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

up: $(VENV)/.installed  ## start FinBot with demo data on SQLite and print the URL
	$(BIN)/finbot up $(UP_ARGS)

lint: $(VENV)/.installed-dev  ## ruff, mypy (strict) and the import-layer contracts
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint  ## install test needs, lint, and run every test (service suites skip without servers)
	$(BIN)/pytest

unit: $(VENV)/.installed-dev  ## only the fast unit tests
	$(BIN)/pytest tests/unit

services-test: $(VENV)/.installed-dev  ## the PostgreSQL and Redis suites; a missing server fails
	FINBOT_REQUIRE_SERVICES=1 $(BIN)/pytest -m "postgres or redis"

bench: $(VENV)/.installed  ## ledger benchmarks on SQLite and PostgreSQL
	$(BIN)/finbot bench ledger --backend sqlite
	$(BIN)/finbot bench ledger --backend postgres

clean:  ## remove the virtualenv, caches and the local database
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
