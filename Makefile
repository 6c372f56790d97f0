# wfr_cvx: every target does its own set-up (a .venv with the package installed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-all demo compare lint bench clean regress learn-demo

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

test-all: install
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q -m "slow or not slow"

demo: install
	$(BIN)/python -m wfr_cvx.demo

regress: install
	$(BIN)/wfr-cvx regress problems

learn-demo: install
	$(BIN)/python -m pip install --quiet -e '.[learn]'
	$(BIN)/python benchmarks/learn_demo.py

compare: install
	$(BIN)/python -m wfr_cvx.demo --compare

lint: install
	$(BIN)/ruff check wfr_cvx tests benchmarks

bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_batch.py
	$(BIN)/python benchmarks/bench_static.py
	$(BIN)/python benchmarks/bench_operators.py
	$(BIN)/python benchmarks/bench_ladder.py
	$(BIN)/python benchmarks/bench_ensemble.py --pot-python $(BIN)/python

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
