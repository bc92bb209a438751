# Tributary. `make demo` runs the whole pipeline on the embedded default; `make test` tests it.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
# dg checks that the project's venv is the active one; make runs it without activating.
DG := VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg
STATE_DIR ?= .tributary
export DAGSTER_HOME ?= $(abspath $(STATE_DIR))/dagster_home
DBT_MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project/models dbt_project/macros -type f) \
	dbt_project/dbt_project.yml dbt_project/profiles.yml

.PHONY: install manifest demo dev test test-unit bench lint format clean

install: $(VENV)/.installed

# The product and, beside it, the dev-only demo package (demo/: never in the product's wheel).
$(VENV)/.installed: pyproject.toml demo/pyproject.toml requirements.lock
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]' -e ./demo
	touch $@

# dbt's manifest is prepared here, never at import (definitions load reads it; only `dagster dev`
# re-parses when a dbt file changed). Parsed as runs call dbt (the profile's default target, no
# --target; the environment they give dbt, e.g. the project's DuckDB file), so that each run's
# dbt reuses this parse: with another target or warehouse path dbt parses everything again.
manifest: $(DBT_MANIFEST)

$(DBT_MANIFEST): $(DBT_SOURCES) assets_config/platform.yaml | $(VENV)/.installed
	$(BIN)/python -m tributary.defs.prepare_dbt

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.local.yaml
	mkdir -p $(DAGSTER_HOME)
	cp $< $@

# The demo runs the product's definitions with the demo's sources (its Salesforce org replayed
# in-process): tributary_demo.definitions, not the project's own module that dg reads from
# pyproject.toml (what `make lint` checks, and a deployment loads).
DEMO_DEFS := -m tributary_demo.definitions

# One line per step (dg launch --assets '*' $(DEMO_DEFS)); Dagster's whole log goes to
# $(STATE_DIR)/demo.log.
demo: install manifest $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m tributary_demo run

dev: install manifest $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m tributary_demo generate
	$(DG) dev -h 127.0.0.1 -p 3000 $(DEMO_DEFS)

test: install manifest
	$(BIN)/pytest -n 3

# The tests that need no server, browser, or Dagster/dbt process of their own (tests/conftest.py
# marks the rest by folder).
test-unit: install manifest
	$(BIN)/pytest -m "not integration and not e2e and not browser"

# Benchmarks (not part of test): results go into bench/README.md.
bench: install
	$(BIN)/python -m bench.run

lint: install manifest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(DG) check defs

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(STATE_DIR) dbt_project/target dbt_project/logs
