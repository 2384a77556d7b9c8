# CivicStack: `make help` lists the targets. The quick start is `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

HOST ?= 127.0.0.1
PORT ?= 8000
PEOPLE ?= 2000
SEED ?= 1
PYTEST_ARGS ?=

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV := DJANGO_SETTINGS_MODULE=config.settings.dev
TEST := DJANGO_SETTINGS_MODULE=config.settings.test


.PHONY: help venv install messages demo demo-reset serve worker migrate test test-spark pytest lint fmt \
	typecheck check openapi clean distclean

help: ## List the targets
	@echo "CivicStack: make <target> [PORT=8000] [PEOPLE=2000] [SEED=1] [PYTEST_ARGS=...]"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

$(PY):
	@python=$$(sh scripts/find-python) && echo "Creating $(VENV) with $$python" \
		&& "$$python" -m venv $(VENV)

venv: $(PY) ## Create .venv with Python 3.12+ (found by scripts/find-python)

# Reinstalls only when pyproject.toml changes, so repeated runs take a second.
$(STAMP): pyproject.toml | $(PY)
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
		|| { echo "$(VENV) uses Python < 3.12; run 'make distclean' and retry" >&2; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	@touch $@

# Translations are compiled from the committed .po files (needs gettext's msgfmt).
MO := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
%.mo: %.po
	msgfmt --check-format -o $@ $<

# The design system (GOV.UK Frontend), htmx and axe-core come from npm (package.json, locked
# by package-lock.json); the stylesheet is compiled from frontend/*.scss.
NPM_STAMP := node_modules/.installed
CSS := frontend/build/css/civicstack.css
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "CivicStack needs Node.js 20+ with npm for its front end; please install them" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@
$(CSS): $(NPM_STAMP) $(wildcard frontend/*.scss)
	npm run --silent build

install: $(STAMP) $(MO) $(CSS) ## Install CivicStack, its dev tools (.venv) and front end (npm); compile translations

messages: install ## Refresh the .po files from the code (then translate and commit them)
	$(TEST) $(PY) manage.py makemessages -l es --ignore=$(VENV) --ignore='*/tests/*' --ignore=bench

migrate: install ## Apply database migrations (SQLite in var/ unless DATABASE_URL is set)
	$(DEV) $(PY) manage.py migrate --noinput

demo: migrate ## Seed the demo government (once), start web server + worker (Ctrl-C stops)
	$(DEV) $(PY) manage.py seed_demo --if-empty --people $(PEOPLE) --seed $(SEED) --truth var/truth.csv
	$(DEV) $(PY) manage.py link --if-unlinked
	$(DEV) $(PY) manage.py seed_demo_registries --if-empty
	$(DEV) $(PY) manage.py seed_demo_sharing
	$(DEV) $(PY) manage.py deploy_demo_services
	$(DEV) $(PY) manage.py deploy_correction_services
	@HOST=$(HOST) PORT=$(PORT) bash scripts/demo

demo-reset: ## Delete the demo database and keys in var/ (the next make demo reseeds)
	rm -rf var/civicstack.sqlite3 var/civicstack.sqlite3-wal var/civicstack.sqlite3-shm \
		var/keys.json var/signing-keys.json var/log

serve: migrate ## Run only the web server (DEBUG, no worker)
	$(DEV) $(PY) manage.py runserver $(HOST):$(PORT)

worker: migrate ## Run only the background task worker
	$(DEV) $(PY) manage.py db_worker --no-reload

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install ## Format the code and apply safe lint fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install ## mypy with django-stubs
	$(VENV)/bin/mypy .

check: install ## Django system checks and missing-migration check
	$(TEST) $(PY) manage.py check
	$(TEST) $(PY) manage.py makemigrations --check --dry-run

# Exit status 5 means pytest collected no tests: not a failure for this target.
pytest: install ## Run the test suite only (PYTEST_ARGS=... to select)
	@rc=0; $(TEST) $(VENV)/bin/pytest $(PYTEST_ARGS) || rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

test: lint typecheck check pytest ## Everything CI runs on SQLite: lint, types, checks, tests

test-spark: install ## Only the linkage tests on Apache Spark (local mode; needs Java 17+)
	$(TEST) $(VENV)/bin/pytest -m spark registry/tests

openapi: install ## Write docs/openapi.json from the API (commit it with API changes)
	$(TEST) $(PY) manage.py export_openapi_schema --api config.api.api --indent 2 --sorted \
		--output docs/openapi.json

# Benchmarks (docs/benchmarks.md): figures go to bench/results/ and docs/benchmarks.md.
BENCH_PEOPLE ?= 10000
BENCH_REPEAT ?= 3
BENCH_LOADER_PEOPLE ?= 2000
BENCH_STREAM ?= 10000,100000,1000000
BENCH_LIST_PEOPLE ?= 100000
BENCH_FULL_LOAD ?= 0

.PHONY: bench-seed
bench-seed: install ## Benchmark seed_demo: time, bulk vs per-row, flat memory (~5 min; BENCH_*=...)
	$(PY) -m bench.seed --people $(BENCH_PEOPLE) --seed $(SEED) --repeat $(BENCH_REPEAT) \
		--loader-people $(BENCH_LOADER_PEOPLE) --stream $(BENCH_STREAM) \
		--list-people $(BENCH_LIST_PEOPLE) --full-load $(BENCH_FULL_LOAD)

BENCH_INPUTS ?= 4000
BENCH_ROUNDS ?= 3
BENCH_WINDOWS ?= 3
BENCH_SECONDS ?= 2
BENCH_NOTE ?=

BENCH_LINKAGE_ONLY ?= febrl4,synthetic,realtime
BENCH_RECORDS ?= 1000000
BENCH_INDEXED ?= 100000,1000000
BENCH_QUERIES ?= 1000
# DuckDB's memory cap in CivicStack's link run (REGISTRY_LINKAGE_DUCKDB_MEMORY; empty: DuckDB's default)
BENCH_DUCKDB_MEMORY ?=

.PHONY: bench-linkage
bench-linkage: install ## Benchmark linkage: FEBRL4 vs recordlinkage and Splink, 1M synthetic records, real-time latency (~25 min)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,spark,bench]'
	REGISTRY_LINKAGE_DUCKDB_MEMORY='$(BENCH_DUCKDB_MEMORY)' \
	$(PY) -m bench.linkage --only $(BENCH_LINKAGE_ONLY) --records $(BENCH_RECORDS) \
		--indexed $(BENCH_INDEXED) --queries $(BENCH_QUERIES) --seed $(SEED) --note '$(BENCH_NOTE)'

BENCH_RUNS ?= 3
BENCH_CASES ?= 10000
BENCH_REEVALUATE ?= 100000
BENCH_POSTGRES_URL ?=

.PHONY: bench-cases
bench-cases: install ## Benchmark cases/s end to end, median of BENCH_RUNS rounds (SQLite; PostgreSQL with BENCH_POSTGRES_URL) vs plain SpiffWorkflow, and re-evaluating 100,000 past cases (~12 min)
	$(PY) -m bench.cases --cases $(BENCH_CASES) --runs $(BENCH_RUNS) --reevaluate $(BENCH_REEVALUATE) --seed $(SEED) \
		--postgres-url '$(BENCH_POSTGRES_URL)' --note '$(BENCH_NOTE)'

BENCH_REGISTRY_RECORDS ?= 1000000
BENCH_REGISTRY_QUERIES ?= 300

.PHONY: bench-registries
bench-registries: install ## Benchmark registries: read by id and filtered search at 1,000,000 records, SQLite (and PostgreSQL with BENCH_POSTGRES_URL) vs a JSON scan (~35 min)
	$(PY) -m bench.registries --records $(BENCH_REGISTRY_RECORDS) --queries $(BENCH_REGISTRY_QUERIES) --seed $(SEED) \
		--postgres-url '$(BENCH_POSTGRES_URL)' --note '$(BENCH_NOTE)'

.PHONY: bench-exchange
bench-exchange: install ## Benchmark mediated requests/s (checks, signing, logging) and event fan-out to 10 webhooks with a killed worker (~10 min)
	$(PY) -m bench.exchange --runs $(BENCH_RUNS) --seed $(SEED)

BENCH_PAGE_PEOPLE ?= 10000
BENCH_PAGE_REQUESTS ?= 60
BENCH_PAGE_CASES ?= 1000

.PHONY: bench-pages
bench-pages: install ## Benchmark server time per page (p50/p95) on the 10,000-person demo vs the health check and sign-in page (~10 min)
	$(PY) -m bench.pages --people $(BENCH_PAGE_PEOPLE) --requests $(BENCH_PAGE_REQUESTS) \
		--cases $(BENCH_PAGE_CASES) --seed $(SEED)

.PHONY: bench-decisions
bench-decisions: install ## Benchmark DMN/FEEL evaluations/s on one core vs SpiffWorkflow (~2 min)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,spark,bench]'
	$(PY) -m bench.decisions --inputs $(BENCH_INPUTS) --rounds $(BENCH_ROUNDS) \
		--windows $(BENCH_WINDOWS) --seconds $(BENCH_SECONDS) --seed $(SEED) --note '$(BENCH_NOTE)'

clean: ## Remove caches and build leftovers (keeps .venv and var/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage build dist \
		test-artifacts *.egg-info frontend/build
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## Also remove .venv, node_modules and var/ (the demo database and its keys)
	rm -rf $(VENV) node_modules var
