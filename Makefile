# The two commands a new user needs: `make demo` and `make test`.
# Both set up the environment from the committed uv.lock on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
ARGS ?=

.PHONY: demo test lint format env clean

# Bootstrap uv itself into .tools/ when the machine has none.
$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode compiled once at install: with PYTHONDONTWRITEBYTECODE set (as on CI and many
# containers) every process, each Airflow task included, would otherwise compile GX,
# Splink and pandas again on import (several CPU seconds each).
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python 3.11 --compile-bytecode
	@touch $@

env: .venv/.synced

demo: .venv/.synced
	$(UV) run --frozen npd demo $(ARGS)

test: .venv/.synced
	$(UV) run --frozen pytest $(ARGS)

lint: .venv/.synced
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

format: .venv/.synced
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

clean:
	rm -rf var .venv .tools
