# Quick start: `make train` trains the default experiment, `make test` runs the tests.
# Both create the virtual environment `.venv` on first use from the pinned constraints.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/default.yaml

.PHONY: setup train test test-slow lint ui clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; msk1model needs Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

train: $(STAMP)
	$(BIN)/msk1model train $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check msk1model tests
	$(BIN)/mypy msk1model

ui: $(STAMP)
	$(BIN)/msk1model ui

clean:
	rm -rf $(VENV) mlruns mlflow.db .pytest_cache
