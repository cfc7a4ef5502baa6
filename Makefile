# Two entry points: `make demo` (the main job on the embedded defaults) and `make test`.
# Each creates .venv when missing and installs what it needs: torch==2.13.0 first (CPU wheel), then the package.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
FIND   := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
DEMO_ARGS ?=

.PHONY: demo test test-extended lint venv bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(PIP) install $(FIND) torch==2.13.0
	touch $@

$(VENV)/.base: pyproject.toml $(VENV)/.torch
	$(PIP) install $(FIND) -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	$(PIP) install $(FIND) -e ".[dev,serve]"
	touch $@ $(VENV)/.base

$(VENV)/.bench: pyproject.toml $(VENV)/.torch
	$(PIP) install $(FIND) -e ".[bench]"
	touch $@ $(VENV)/.base

venv: $(VENV)/.base

demo: $(VENV)/.base
	$(BIN)/rewardlab demo $(DEMO_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests $(wildcard benchmarks)

test: $(VENV)/.dev
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/python -m pytest tests -q --timeout 900

test-extended: $(VENV)/.dev
	$(BIN)/python -m pytest tests -q -m extended --timeout 1800

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/matmul_peak.py
	$(BIN)/python benchmarks/train_throughput.py --backbone minilm --data ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz
	$(BIN)/python benchmarks/train_throughput.py --backbone llama-small
	$(BIN)/python benchmarks/score_throughput.py --n 4,16
	$(BIN)/python benchmarks/frozen_heads.py --pairs 10000 --members 8

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
