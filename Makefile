# Two commands do all the set-up on a fresh machine:
#   make run    creates .venv, installs the package, runs the main job on the built-in sample
#   make test   installs the dev extras, runs ruff and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/default.yaml

.PHONY: run test lint install dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

run: install
	$(BIN)/sme run $(CONFIG)

lint: dev
	$(BIN)/ruff check pipeline tests benchmarks examples

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf outputs .sme-cache .pytest_cache .ruff_cache dask-worker-space
