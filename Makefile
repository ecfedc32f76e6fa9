# Two entry points for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet
# Every dependency pinned (see `make lock`): the same versions on every machine and in CI.
LOCK   := constraints.txt

.PHONY: demo test lint typecheck unit bench clean browser lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP) install -c $(LOCK) -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP) install -c $(LOCK) -e '.[dev]'
	touch $@ $(VENV)/.installed

## demo: create .venv, install Cohort and run the offline demo
demo: $(VENV)/.installed
	$(BIN)/cohort demo

## test: install dev dependencies, then ruff, mypy and the whole suite (SQLite and PostgreSQL)
test: $(VENV)/.dev-installed lint typecheck unit

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check bot recsys tests benchmarks
	$(BIN)/ruff format --check bot recsys tests benchmarks

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

unit: $(VENV)/.dev-installed browser
	$(BIN)/pytest -q

## browser: Debian's chromium and a CJK font for the report tests, installed when missing
## (as root, or through sudo; otherwise the browser test skips and says why)
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; \
	  else echo "browser: not root and no sudo: install chromium and fonts-wqy-zenhei yourself"; exit 0; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q \
	    chromium fonts-wqy-zenhei || echo "browser: could not install chromium / fonts-wqy-zenhei"; \
	fi

## bench: the ingestion benchmark (SQLite and PostgreSQL)
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/ingest.py

## lock: resolve pyproject's ranges afresh in a scratch venv and pin the result in constraints.txt
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip --disable-pip-version-check --quiet install -e '.[dev]'
	{ echo "# Pinned by \`make lock\` on $$(date -u +%F) ($$($(PYTHON) -V)); edit pyproject.toml, not this file."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable; } > $(LOCK)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
