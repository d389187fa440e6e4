# One command per chore. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TOOLS  ?= .tools
PIP    := $(BIN)/pip --disable-pip-version-check -q

.DEFAULT_GOAL := help
.PHONY: help install tools demo test lint typecheck format build deploy bench clean

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

# Only the two commands go on PATH (not their venvs' python3 or pip), next to .venv/bin for cfn-lint.
$(TOOLS)/bin/sam: $(TOOLS)/sam/bin/sam
	mkdir -p $(@D) && ln -sf "$(abspath $<)" $@
$(TOOLS)/bin/checkov: $(TOOLS)/checkov/bin/checkov
	mkdir -p $(@D) && ln -sf "$(abspath $<)" $@

tools: $(TOOLS)/bin/sam $(TOOLS)/bin/checkov ## install sam and checkov (isolated venvs)

TOOL_PATH := PATH="$(abspath $(TOOLS))/bin:$(abspath $(BIN)):$$PATH"

demo: install ## replay every sample event on the simulated estate
	$(BIN)/keywatch demo

PY_SOURCES := layers functions tests benchmarks docs

test: install tools ## ruff, mypy --strict, then the whole suite on every core (unit, moto, end to end, template checks)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy
	$(TOOL_PATH) $(BIN)/pytest -n auto --dist loadfile

typecheck: install ## mypy --strict over layers/keywatch, with the boto3 type stubs
	$(BIN)/mypy

format: install ## ruff format (one style) and ruff's safe fixes
	$(BIN)/ruff check --fix-only $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)

lint: install tools ## ruff, ruff format --check, mypy --strict, cfn-lint, sam validate --lint, checkov
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml templates/member-account.yaml
	$(TOOL_PATH) sam validate --lint
	$(TOOL_PATH) checkov --quiet --compact --skip-download --framework cloudformation \
		-f template.yaml -f templates/member-account.yaml

build: install tools ## sam build, without Docker (layers/Makefile fetches arm64 wheels with pip)
	$(TOOL_PATH) sam build

deploy: build ## sam deploy --guided
	$(TOOL_PATH) sam deploy --guided

bench: install ## benchmarks (figures are reported, never asserted)
	$(BIN)/python benchmarks/bench_event.py
	$(BIN)/python benchmarks/bench_cold_start.py --runs 15 --stack

# Cloud Custodian lives in a venv of its own (its pins clash with ours); only the sweep benchmark runs it.
$(TOOLS)/c7n/bin/custodian:
	$(PYTHON) -m venv $(TOOLS)/c7n && $(TOOLS)/c7n/bin/pip --disable-pip-version-check -q install "c7n>=0.9.40"

.PHONY: bench-sweep
bench-sweep: install $(TOOLS)/c7n/bin/custodian ## the sweep: 1k/10k file systems, 20 accounts, vs Cloud Custodian
	$(BIN)/python benchmarks/bench_sweep.py --custodian $(TOOLS)/c7n/bin/custodian

clean: ## remove build output
	rm -rf .aws-sam build dist *.egg-info
