# The README's two commands: `make run` (install, demo province, serve HTTPS) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The database tests also run on PostgreSQL; an unreachable server fails them (set it empty to skip).
GIAOBAN_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export GIAOBAN_TEST_POSTGRES_URL

# The browser's libraries come from npm and are served by the server itself (no CDN).
VENDOR := web/static/vendor/.installed

.PHONY: run test lint install browser bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py media/aiortc_patch/_fastpath.c $(VENDOR) | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENDOR): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $@)
	cp web/node_modules/socket.io-client/dist/socket.io.min.js $(dir $@)
	cp web/node_modules/qrcode-generator/qrcode.js $(dir $@)
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/giaoban demo

# Browser tests drive the system's Chromium; install it when missing (fails, never skips).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint browser
	$(BIN)/pytest

# The SFU benchmark against a transcoding relay and Janus (docs/benchmarks.md; ~25 min; root:
# it runs in a private network namespace, and installs Janus from Debian when missing).
bench: $(VENV)/.installed
	@command -v janus >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q janus)
	PYTHON=$(BIN)/python bash bench/run.sh $(BENCH_ARGS)
