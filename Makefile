# detector — the two commands of the README's quick start, and the benchmarks.
#   make demo   create a venv, install detector, replay the shipped example
#   make test   create a venv with the test extras and run ruff, mypy and the suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint typecheck unit bench bench-detection bench-live clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("detector needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	@touch $@ $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	$(BIN)/detector replay examples/trading-day/*.log.gz

lint: $(VENV)/.installed-test
	$(BIN)/ruff check detector tests bench examples

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests

test: lint typecheck unit

bench: $(VENV)/.installed-test
	$(BIN)/python bench/throughput.py

bench-detection: $(VENV)/.installed-test
	$(BIN)/python bench/detection/harness.py

# the daemon's numbers; run them one at a time on a quiet machine
bench-live: $(VENV)/.installed-test
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/backpressure.py
	$(BIN)/python bench/kafka_throughput.py
	$(BIN)/python bench/crash.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache bench/out
