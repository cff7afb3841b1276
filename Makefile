# funnel-kpi: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
KPI := $(VENV)/bin/kpi
WAREHOUSE ?= warehouse
SEED ?= 7
SCALE ?= 0.1
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

.PHONY: setup run test lint format ui bench clean

$(UV):
	@command -v uv >/dev/null 2>&1 && { mkdir -p $(TOOLS)/bin && ln -sf "$$(command -v uv)" $(UV); } \
	  || { $(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv; }

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

kpi_models/target/manifest.json: $(VENV)/.synced $(shell find kpi_models/models kpi_models/macros -type f 2>/dev/null) kpi_models/dbt_project.yml
	$(KPI) prepare

## setup: create .venv from uv.lock and build the dbt manifest (leaves .venv/bin/kpi in place)
setup: $(VENV)/.synced kpi_models/target/manifest.json

## run: generate the sample org, materialise every asset, publish, print a summary
run: setup
	$(KPI) sample-data --out $(WAREHOUSE)/landing --seed $(SEED) --scale $(SCALE)
	$(KPI) run --landing $(WAREHOUSE)/landing --warehouse $(WAREHOUSE)

## test: the whole suite (CI runs this)
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(KPI) compile --check
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean:
	rm -rf $(WAREHOUSE) kpi_models/target $(VENV) $(TOOLS)
