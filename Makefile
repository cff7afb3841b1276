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
RUNS ?= 3
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Byte-compile the environment once at setup: without .pyc files (PYTHONDONTWRITEBYTECODE is common
# in containers) every `kpi run` and dbt process compiles ~4,000 modules again (~3 s CPU each).
export UV_COMPILE_BYTECODE := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

.PHONY: setup run test lint format ui ui-stop browser bench clean

$(UV):
	@command -v uv >/dev/null 2>&1 && { mkdir -p $(TOOLS)/bin && ln -sf "$$(command -v uv)" $(UV); } \
	  || { $(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv; }

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

# The project's own modules, byte-compiled: uv compiles the installed packages (UV_COMPILE_BYTECODE)
# but not this editable project, and with PYTHONDONTWRITEBYTECODE every process compiled its ~45
# modules again (~1 s of every `kpi run`). Python rewrites nothing here: a module edited since is
# compiled in memory as before, until the next `make setup`.
$(VENV)/.compiled: $(VENV)/.synced $(shell find pipelines -name '*.py' 2>/dev/null)
	$(VENV)/bin/python -m compileall -q pipelines
	@touch $@

kpi_models/target/manifest.json: $(VENV)/.synced $(shell find kpi_models/models kpi_models/macros -type f 2>/dev/null) kpi_models/dbt_project.yml
	$(KPI) prepare

## setup: create .venv from uv.lock and build the dbt manifest (leaves .venv/bin/kpi in place)
setup: $(VENV)/.synced $(VENV)/.compiled kpi_models/target/manifest.json

## run: generate the sample org, materialise every asset, publish, print a summary
run: setup
	$(KPI) sample-data --out $(WAREHOUSE)/landing --seed $(SEED) --scale $(SCALE)
	$(KPI) run --landing $(WAREHOUSE)/landing --warehouse $(WAREHOUSE)

## ui: the Dagster UI (webserver + daemon) on http://127.0.0.1:3000, instance in $(WAREHOUSE)/dagster_home
##     (KPI_UI_HOST / KPI_UI_PORT to change; stop with Ctrl-C or SIGTERM; docs/operations.md)
ui: setup
	KPI_WAREHOUSE="$${KPI_WAREHOUSE:-$(abspath $(WAREHOUSE))}" exec $(VENV)/bin/python -m pipelines.ops.ui

## ui-stop: stop the UI started by `make ui` for this warehouse (SIGTERM to the PID in dagster_home/ui.pid)
ui-stop:
	KPI_WAREHOUSE="$${KPI_WAREHOUSE:-$(abspath $(WAREHOUSE))}" $(VENV)/bin/python -m pipelines.ops.ui stop

## browser: Debian's chromium + chromedriver for the UI's browser test (tests/e2e), installed if missing
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	  sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  echo "installing chromium and chromium-driver (apt)"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver

## test: the whole suite (CI runs this)
test: setup browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(KPI) compile --check
	# loadfile: each test file runs on one worker, so its module/session fixtures (a pipeline run,
	# the UI) are built once (xdist's loadgroup ignores xdist_group marks with this pytest).
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile

## bench: benchmark `kpi run` (full, incremental) against the DuckDB floor and the pandas peer at
##        SCALE (sample org cached in benchmarks/out/); RUNS runs each; writes benchmarks/results.md
bench: setup
	$(VENV)/bin/python -m benchmarks.harness --scale $(SCALE) --runs $(RUNS) --seed $(SEED)

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean:
	rm -rf $(WAREHOUSE) kpi_models/target $(VENV) $(TOOLS)
