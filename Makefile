# Two commands do all the set-up on a fresh machine:
#   make run    creates .venv, installs the package, runs the main job on the built-in sample
#   make test   installs the dev extras and the UI's packages, runs ruff, the UI's component
#               tests and the whole pytest suite (browser tests use Debian's chromium)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/default.yaml

.PHONY: run test lint install dev bench bench-long compare panel classifier-panel calibrate \
        calibration-panel clean ui ui-test serve types

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

ui-test: ui
	cd ui && npm test

test: lint ui-test
	$(BIN)/python -m pytest -q

# One table: core candidates/s, the pipeline at 1,000/10,000/100,000 scenarios, 2 vs 1 workers,
# client memory, Dask overhead. About 4 minutes on a quiet machine and up to 5 GB of temporary disk (deleted);
# BENCH_ARGS=--quick leaves out the 100,000-scenario run, --write-docs updates docs/methodology.md.
bench: install
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# Memory per batch at 10x length and at 1,000,000 bars (a few minutes).
bench-long: install
	$(BIN)/python benchmarks/bench_long.py

# Every method and two baselines; rewrites the table in docs/methodology.md.
compare: install
	$(BIN)/python benchmarks/compare_methods.py --n 256 --series 50 --seed 1 --write-docs

# The real-data panel (series x method; a few minutes) and the purged classifier test on it (about
# an hour on 2 cores); both rewrite their tables in docs/methodology.md. Some panel series come
# from packages in the dev extras.
panel: dev
	$(BIN)/python benchmarks/panel.py --scenarios 120 --seed 2024 --write-docs

classifier-panel: dev
	$(BIN)/python benchmarks/classifier_panel.py --write-docs

# Walk-forward calibration of the built-in S&P 500 sample (configs/calibrate.yaml, a few minutes),
# and of every daily panel series (about 15 minutes on 2 cores; rewrites its table and PIT plots
# in docs/methodology.md, section 16).
calibrate: install
	$(BIN)/sme calibrate configs/calibrate.yaml

calibration-panel: dev
	$(BIN)/python benchmarks/calibration_panel.py --write-docs

# The web dashboard (React, built with Vite into ui/dist, served by `sme serve` at /).
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/package.json \
              ui/package-lock.json ui/vite.config.ts ui/tsconfig.json

ui/node_modules/.package-lock.json: ui/package.json ui/package-lock.json
	cd ui && npm ci
	touch $@

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && npm run build

ui: ui/dist/index.html

# The dashboard's types of the API's response models (ui/src/lib/schema.gen.ts), generated from
# its OpenAPI schema; run after changing a model in pipeline/api/schemas.py and commit the file.
types: install ui/node_modules/.package-lock.json
	$(BIN)/python -m pipeline.api.openapi ui/openapi.json
	cd ui && npm run gen:types

serve: install ui
	$(BIN)/sme serve --host 127.0.0.1 --port 8000 --data-dir .sme-data

clean:
	rm -rf outputs .sme-cache .pytest_cache .ruff_cache dask-worker-space
