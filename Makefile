# Everything a developer or CI runs. `make plan` and `make test` set themselves up from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: setup plan test lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt constraints.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

setup: $(VENV)/.installed

plan: setup  ## offline plan of a stack: make plan STACK=prod
	$(BIN)/python -m offline.plan $(STACK)

lint: setup
	$(BIN)/ruff check .

test: lint  ## the whole suite
	$(BIN)/python -m pytest
