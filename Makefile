# One command per chore. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TOOLS  ?= .tools
PIP    := $(BIN)/pip --disable-pip-version-check -q

.DEFAULT_GOAL := help
.PHONY: help install tools demo test lint build deploy bench clean

help: ## list the chores
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(BIN)/keywatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -e ".[dev]"
	@touch $@

install: $(BIN)/keywatch ## create .venv and install keywatch with its dev tools

# SAM CLI and checkov each live in a venv of their own: their pins clash with each other and with moto.
$(TOOLS)/sam/bin/sam:
	$(PYTHON) -m venv $(TOOLS)/sam && $(TOOLS)/sam/bin/pip --disable-pip-version-check -q install "aws-sam-cli>=1.130"
$(TOOLS)/checkov/bin/checkov:
	$(PYTHON) -m venv $(TOOLS)/checkov && $(TOOLS)/checkov/bin/pip --disable-pip-version-check -q install "checkov>=3.2"

tools: $(TOOLS)/sam/bin/sam $(TOOLS)/checkov/bin/checkov ## install sam and checkov (isolated venvs)

demo: install ## replay every sample event on the simulated estate
	$(BIN)/keywatch demo

test: install tools ## the whole test suite (unit, adapters on moto, end to end, template checks)
	PATH="$(CURDIR)/$(TOOLS)/sam/bin:$(CURDIR)/$(TOOLS)/checkov/bin:$$PATH" $(BIN)/pytest

lint: install ## ruff and cfn-lint
	$(BIN)/ruff check layers functions tests benchmarks
	$(BIN)/cfn-lint template.yaml

build: tools ## sam build, without Docker
	$(TOOLS)/sam/bin/sam build

deploy: build ## sam deploy --guided
	$(TOOLS)/sam/bin/sam deploy --guided

bench: install ## benchmarks (figures are reported, never asserted)
	$(BIN)/python benchmarks/bench_event.py

clean: ## remove build output
	rm -rf .aws-sam build dist *.egg-info
