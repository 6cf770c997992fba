# The two commands: `make dev` runs the whole system, `make test` runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: dev test test-faults lint format install services system-packages db migrate clean bench bench-quick

$(INSTALLED): requirements/base.txt requirements/dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "make: installing requirements into $(VENV)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt 2> >(grep -v "is ignored: it is neither" >&2)
	@touch $@

install: $(INSTALLED)

services:
	@bash scripts/ensure_services.sh

system-packages:
	@bash scripts/ensure_system_packages.sh

db: install services
	@$(PY) scripts/ensure_db.py

migrate: db
	@$(PY) manage.py migrate --noinput

## dev: install, migrate, then run web (HTTP + WebSocket), Celery worker and beat, the outbox
## relay, every Kafka consumer and, without KAFKA_BOOTSTRAP_SERVERS, the embedded broker.
dev: migrate
	@exec $(PY) scripts/dev.py

## test: the whole suite against real PostgreSQL, Redis, RabbitMQ and the embedded Kafka broker.
## In CI (CI=true) the fault suite may also restart this machine's RabbitMQ and Redis.
test: install services system-packages
	@$(if $(filter true 1,$(CI)),FAULTS_RESTART_SERVICES=1 )$(PY) -m pytest --durations=20 $(PYTEST_ARGS)

## test-faults: the fault, crash and hostile-input suite alone (tests/faults/README.md, ~4 min);
## it restarts this machine's RabbitMQ and Redis (shared services) once each.
test-faults: install services system-packages
	@FAULTS_RESTART_SERVICES=1 $(PY) -m pytest tests/faults $(PYTEST_ARGS)

## bench: every benchmark scenario against its same-run baseline (< 15 min); bench-quick: the
## smoke run (< 2 min). Table on stdout, JSON and plots in bench/results/ (bench/README.md).
bench: install services
	@$(PY) -m bench $(BENCH_ARGS)

bench-quick: install services
	@$(PY) -m bench --quick $(BENCH_ARGS)

lint: install
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .

format: install
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .dev staticfiles
