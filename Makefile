# Quick start: `make train` trains the default experiment, `make test` runs the tests.
# Both create the virtual environment `.venv` on first use from the pinned constraints.
# `make test` also installs Debian's chromium (as root) for the browser tests of the HTML report.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/default.yaml

.PHONY: setup chromium postgres train test test-slow bench lint ui clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; msk1model needs Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

train: $(STAMP)
	$(BIN)/msk1model train $(CONFIG)

# Benchmarks against the peer libraries, each printing its targets (benchmarks/README.md has the
# figures); results go to benchmarks/results/. About 15 minutes on 2 cores, 10 of them the
# one-million-patient run of experiments/scale_1m.yaml.
bench: $(STAMP)
	$(BIN)/python benchmarks/concordance.py --sizes 1000,10000,100000,1000000 --repeats 3 --peer-limit 10000
	$(BIN)/python benchmarks/cox.py --sizes 1000,100000,1000000 --repeats 3 --peer-limit 1000000
	$(BIN)/python benchmarks/coxnet.py --sizes 1000,10000,100000 --repeats 3
	$(BIN)/python benchmarks/bootstrap.py --sizes 1000,10000,100000,250000 --repeats 5
	$(BIN)/python benchmarks/peer_pipeline.py
	$(BIN)/python benchmarks/scale.py

# Headless Chromium renders the HTML report in tests/test_report.py. Installed from the Debian
# archive when running as root; otherwise those tests skip and say why.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (apt-get) for the report browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "note: chromium is missing and cannot be installed here (needs root and apt-get);" \
			"the browser tests of the HTML report will be skipped. Install it: apt-get install chromium"; \
	fi

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

# PostgreSQL serves the multi-worker Optuna tests in tests/test_workers.py (each run starts its own
# throwaway server). Installed from the Debian archive when running as root; else those skip.
postgres:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing postgresql (apt-get) for the multi-worker tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
		echo "note: PostgreSQL is missing and cannot be installed here (needs root and apt-get);" \
			"the multi-worker tests on PostgreSQL will be skipped. Install it: apt-get install postgresql"; \
	fi

test-slow: $(STAMP) chromium postgres
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check msk1model tests
	$(BIN)/mypy msk1model

ui: $(STAMP)
	$(BIN)/msk1model ui

clean:
	rm -rf $(VENV) mlruns mlflow.db reports .pytest_cache
