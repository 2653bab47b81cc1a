# reelmill — run `make help` for the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BUF    := .tools/buf/node_modules/.bin/buf
PROTOS := $(wildcard protos/reelmill/v1/*.proto)
GENERATED := $(patsubst protos/%.proto,%_pb2.py,$(PROTOS))

.PHONY: help setup proto run demo test lint buf deploy-check docs clean bench bench-env bench-batch bench-phone bench-gateway bench-scale lock

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(GENERATED)  ## virtualenv, install, code generation

# Every package at the version and hash of requirements-dev.lock (`make lock` makes it from
# pyproject.toml), then the project itself without resolving anything again.
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

lock: $(VENV)/.installed  ## pin every dependency with hashes: requirements.lock (image), requirements-dev.lock (make setup, CI)
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 --no-header -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 --no-header -o requirements-dev.lock

proto: $(VENV)/.installed  ## generate the Python code of protos/ (never edited by hand)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)

$(GENERATED): $(PROTOS) $(VENV)/.installed
	$(MAKE) proto

run: setup  ## start the whole stack, render the example job, keep serving until Ctrl-C
	$(BIN)/reelmill dev --example examples/job.json

demo: setup  ## start the stack, render the example job, stop
	$(BIN)/reelmill dev --example examples/job.json --once

test: setup  ## the test suite (needs the local PostgreSQL for the postgres tests)
	$(BIN)/pytest -q

MOVIEPY_ENV := .bench/moviepy
RUNS ?= 3

$(MOVIEPY_ENV)/.installed: bench/moviepy-requirements.txt
	$(PYTHON) -m venv $(MOVIEPY_ENV)
	$(MOVIEPY_ENV)/bin/pip install -q -r bench/moviepy-requirements.txt
	touch $@

bench-env: $(MOVIEPY_ENV)/.installed  ## MoviePy 2.x in its own virtualenv (it pins Pillow < 12), for make bench

bench: setup bench-env  ## reference job: reelmill vs one ffmpeg command vs MoviePy, RUNS=3 (docs/benchmarks.md)
	$(BIN)/python bench/run.py --runs $(RUNS)

bench-batch: setup  ## 20 variants: 20 ffmpeg runs vs one worker process (frame cache), x264 floor, 1 and 2 slots
	$(BIN)/python bench/run.py --batch --no-reference

bench-phone: setup  ## 20 variants from phone-like 4K HEVC sources: 20 ffmpeg runs vs one worker, frames kept on disk
	$(BIN)/python bench/run.py --phone --no-reference --tools reelmill,ffmpeg

bench-scale: setup  ## N workers on one NATS and one gateway, N = 1..cores: variants per minute, efficiency per worker
	$(BIN)/python bench/scale.py

bench-gateway: setup  ## gateway load on the local PostgreSQL: Submit at a fixed rate, Get and List
	$(BIN)/python bench/gateway_load.py

$(BUF):
	npm install --no-audit --no-fund --silent --prefix .tools/buf @bufbuild/buf@1.75.0

buf: $(BUF)  ## install the buf CLI (npm) for contract linting

lint: setup $(BUF)  ## ruff, formatting, types (mypy), import contracts, buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BUF) lint

deploy-check: setup  ## validate deploy/ offline: Dockerfile, Kubernetes schemas and rules, kustomize builds
	$(BIN)/pytest -q tests/test_deploy.py

docs: setup  ## regenerate the settings table (from `reelmill <command> --help`) and the alert rules (from the alerts table)
	$(BIN)/python -m cli.settings_doc
	$(BIN)/python -m cli.alerts_doc

clean:  ## remove generated code and local state (keeps the virtualenv)
	rm -f reelmill/v1/*_pb2*.py reelmill/v1/*_pb2*.pyi
	rm -rf .reelmill examples/media .bench
