# Switchboard: one target per thing people do. `make` alone lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; requirements newer than it trigger a re-install.
STAMP := $(VENV)/.requirements-installed
MANAGE := $(BIN)/python manage.py

PORT ?= 8000
REDIS_PORT ?= 6390
FLOWER_PORT ?= 5555
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="tests/topology -x"`.
PYTEST_ARGS ?=

# `make run` starts its own Redis unless REDIS_URL names one; either way every process
# gets the same REDIS_URL, and the venv's tools come first on PATH.
ifeq ($(strip $(REDIS_URL)),)
run: export REDIS_URL := redis://127.0.0.1:$(REDIS_PORT)/0
run: export SWITCHBOARD_LOCAL_REDIS := 1
else
run: export SWITCHBOARD_LOCAL_REDIS := 0
endif
run: export PORT := $(PORT)
run: export REDIS_PORT := $(REDIS_PORT)
run: export FLOWER_PORT := $(FLOWER_PORT)
run: export PATH := $(CURDIR)/$(BIN):$(PATH)
run: export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.PHONY: help
help: ## List the targets
	@echo "Usage: make <target>   (variables: PORT, REDIS_PORT, REDIS_URL, FLOWER_PORT, TEST_POSTGRES_URL, PYTEST_ARGS, BENCH, BENCH_ARGS, BENCH_POSTGRES_URL)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: venv
venv: $(STAMP) ## Create .venv (python3.11) and install requirements-dev.txt (again when requirements change)

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: run
run: venv ## Migrate, load the topology, ensure admin, API key and metrics token, then run every process (Ctrl-C stops them)
	@mkdir -p var
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) sync_topology
	$(MANAGE) sync_alerts
	@credentials="$$($(MANAGE) bootstrap_local)"; \
	key="$$($(BIN)/python -c 'import json; print(json.load(open("var/credentials.json"))["api_key"])')"; \
	if [[ -n "$${FLOWER_BASIC_AUTH:-}" ]]; then flower_login="FLOWER_BASIC_AUTH"; else flower_login="the admin login"; fi; \
	echo; \
	echo "Switchboard is starting (Ctrl-C stops every process):"; \
	echo "  API      http://127.0.0.1:$(PORT)/api/v1/"; \
	echo "  Docs     http://127.0.0.1:$(PORT)/api/docs/"; \
	echo "  Admin    http://127.0.0.1:$(PORT)/admin/"; \
	echo "  Dashboard http://127.0.0.1:$(PORT)/dashboard/  (the admin login; then: .venv/bin/python manage.py simulate)"; \
	echo "  Flower   http://127.0.0.1:$(FLOWER_PORT)  (basic auth: $$flower_login)"; \
	echo "  Metrics  http://127.0.0.1:$(PORT)/metrics  (bearer token below)"; \
	echo "  Redis    $$(sed -E 's#//[^@/]*@#//***@#' <<<"$$REDIS_URL")"; \
	sed 's/^/  /' <<<"$$credentials"; \
	echo; \
	echo "Publish a message:"; \
	echo "  curl -X POST http://127.0.0.1:$(PORT)/api/v1/topics/orders.created/messages -H \"Authorization: Bearer $$key\" -H 'Content-Type: application/json' -d '{\"payload\": {\"order_id\": \"42\", \"total\": \"9.99\"}}'"; \
	echo
	@SWITCHBOARD_METRICS_TOKEN="$$($(BIN)/python -c 'import json; print(json.load(open("var/credentials.json"))["metrics_token"])')" \
		exec $(BIN)/honcho start -f Procfile

.PHONY: lint
lint: venv ## ruff check, ruff format --check, mypy, import-linter's layers (runs all, fails if any fails)
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy apps project tests bench || status=1; \
	$(BIN)/lint-imports --no-cache || status=1; \
	exit $$status

# Debian packages the tests use when present: promtool (prometheus) checks the Prometheus
# rules; chromium runs the dashboard's browser test. Installed when missing and possible;
# otherwise the tests that need them are skipped, and say why.
TEST_TOOLS := promtool:prometheus chromium:chromium

.PHONY: test-tools
test-tools: ## Install the Debian packages the tests use when missing (promtool, chromium)
	@missing=""; for tool in $(TEST_TOOLS); do command -v "$${tool%%:*}" >/dev/null || missing="$$missing $${tool##*:}"; done; \
	if [[ -z "$$missing" ]]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [[ "$$(id -u)" == 0 ]]; then \
		echo "== installing$$missing (apt-get)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; } >/dev/null \
			|| echo "*** could not install$$missing; the tests that need them are skipped ***"; \
	else \
		echo "*** not installed:$$missing (needs apt-get as root); the tests that need them are skipped ***"; \
	fi; \
	if [[ -n "$${CI:-}" ]]; then \
		for tool in $(TEST_TOOLS); do command -v "$${tool%%:*}" >/dev/null || { echo "CI is set and $${tool%%:*} is missing: install the Debian package $${tool##*:}." >&2; exit 1; }; done; \
	fi

.PHONY: test
test: venv lint test-tools ## lint, then pytest on SQLite, then on PostgreSQL at TEST_POSTGRES_URL (skipped if unreachable, unless CI is set)
	@redis_server="$$(scripts/redis-server.sh --which)"; \
	export SWITCHBOARD_REDIS_SERVER="$$redis_server"; \
	echo "== pytest on SQLite (redis-server: $$SWITCHBOARD_REDIS_SERVER)"; \
	env -u DATABASE_URL $(BIN)/python -m pytest -m "not postgres_only" $(PYTEST_ARGS); \
	echo "== pytest on PostgreSQL"; \
	if $(BIN)/python scripts/check_postgres.py "$(TEST_POSTGRES_URL)"; then \
		DATABASE_URL="$(TEST_POSTGRES_URL)" $(BIN)/python -m pytest $(PYTEST_ARGS); \
	elif [[ -n "$${CI:-}" ]]; then \
		echo "PostgreSQL is required when CI is set; set TEST_POSTGRES_URL or start PostgreSQL." >&2; \
		exit 1; \
	else \
		echo "*** The PostgreSQL run was SKIPPED (server not reachable); only SQLite was tested. ***"; \
	fi

.PHONY: bench
bench: venv ## Benchmark Switchboard against raw Celery and Dramatiq (BENCH=full for the long run; BENCH_ARGS="--profile")
	env -u BENCH_DATABASE_URL $(BIN)/python -m bench.run --mode $(or $(BENCH),quick) $(BENCH_ARGS)

# The PostgreSQL bench creates this database (and <name>_noop) when missing and empties it:
# its name must contain "bench".
BENCH_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/switchboard_bench

.PHONY: bench-pg
bench-pg: venv ## The same benchmark with Switchboard on PostgreSQL at BENCH_POSTGRES_URL; writes var/bench/latest-pg.json
	BENCH_DATABASE_URL="$(BENCH_POSTGRES_URL)" $(BIN)/python -m bench.run --mode $(or $(BENCH),quick) \
		--output var/bench/latest-pg.json $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove the install stamp (next `make venv` re-installs) and tool caches; keeps var/
	rm -f $(STAMP)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

.PHONY: reset
reset: ## Delete var/: database, Redis data, credentials, static files, logs
	rm -rf var
