# Frontdesk: set up, check and run. CI runs `make test` (see .ci/run) on a fresh clone.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Written once the venv matches pyproject.toml and requirements.lock; `make` redoes the install
# only when one of them is newer.
STAMP := $(VENV)/.installed
# Only the folders that exist: bench/ comes later.
LINT_PATHS := $(wildcard src tests bench examples)
# `make test` runs the database tests a second time on this PostgreSQL (never skipped).
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
# `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release.
LOCK_FLAGS ?=
# sudo only when not already root (CI and these machines run as root).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: help .venv chromium wrk postgres lint types contracts test run bench lock clean

help:
	@echo "make run    start Frontdesk (127.0.0.1:8000) and the Meta emulator (127.0.0.1:8081), wired"
	@echo "make test   lint, types, import contracts, then the whole suite (what CI runs)"
	@echo "make lint | types | contracts | bench | lock | clean"

.venv: $(STAMP)

# Every package, incl. pip and setuptools, at its locked version and hash; then Frontdesk itself,
# editable, built with the locked setuptools rather than a fresh unpinned download.
$(STAMP): pyproject.toml requirements.lock
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download
# cannot be used here).
chromium:
	@if [ -x /usr/bin/chromium ]; then \
		echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null || echo present)"; \
	else \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

# The database tests run on PostgreSQL too (ARCHITECTURE.md: same suite on both): start it if it
# is installed but stopped.
postgres:
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		echo "postgres: accepting connections on 127.0.0.1:5432"; \
	elif ls /etc/postgresql >/dev/null 2>&1; then \
		$(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -n 1) main start; \
		for _ in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
		pg_isready -h 127.0.0.1 -p 5432; \
	else \
		echo "postgres: not installed: the PostgreSQL run of \`make test\` will fail"; \
	fi

lint: .venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

types: .venv
	$(BIN)/mypy

contracts: .venv
	$(BIN)/lint-imports

# .venv/bin goes first on PATH so that tests running `frontdesk` as a subprocess get this checkout.
test: .venv chromium postgres lint types contracts
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q
	@echo "--- the database tests again, on PostgreSQL ($(TEST_PG_URL))"
	FRONTDESK_TEST_DATABASE_URL="$(TEST_PG_URL)" $(BIN)/pytest -q -m db

# Frontdesk and the emulator in one process, the demo Page connected (src/frontdesk/demo.py):
# it migrates ./data/frontdesk.db, and keeps the emulator's world in ./data/emulator.yaml.
run: .venv
	$(BIN)/frontdesk dev --host 127.0.0.1 --port 8000 --emulator-port 8081

# The load generator of the benchmarks, from Debian.
wrk:
	@if command -v wrk >/dev/null 2>&1; then \
		echo "wrk: present"; \
	else \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; \
	fi

bench: .venv wrk postgres
	$(BIN)/python bench/run.py

# Pins every package of `pip install .[dev]`, plus pip and setuptools (build backend), with hashes.
lock:
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	[ -x $(BIN)/pip-compile ] || $(BIN)/python -m pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet $(LOCK_FLAGS) \
		--extra dev --all-build-deps --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache \
		.import_linter_cache .hypothesis test-results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
