# The two commands: `make dev` runs the whole system, `make test` runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: dev test test-faults lint format install services system-packages kafka-jars db migrate clean bench bench-quick

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

## test: the import contracts (pyproject.toml), then the whole suite against real PostgreSQL, Redis, RabbitMQ and Kafka: on the embedded
## Apache Kafka (classic groups), then the consumer runner's tests with KIP-848 groups, then the
## Tansu lane (kafka_bridge's tests and `make dev`'s). With KAFKA_BOOTSTRAP_SERVERS set, the whole
## suite runs once against that cluster instead. In CI (CI=true) the fault suite may also restart
## this machine's RabbitMQ and Redis.
PYTEST := $(if $(filter true 1,$(CI)),FAULTS_RESTART_SERVICES=1 )$(PY) -m pytest
KIP848_TESTS := kafka_bridge/tests/test_runner.py kafka_bridge/tests/test_group_membership.py tests/faults/test_group_member_kill.py
TANSU_TESTS := kafka_bridge tests/test_make_dev.py

test: install services system-packages kafka-jars
	@$(VENV)/bin/lint-imports --no-cache
ifdef KAFKA_BOOTSTRAP_SERVERS
	@$(PYTEST) --durations=20 $(PYTEST_ARGS)
else
	@echo "make test: lane 1 of 3, the whole suite on Apache Kafka"
	@KAFKA_EMBEDDED_BROKER=apache $(PYTEST) --durations=20 $(PYTEST_ARGS)
	@echo "make test: lane 2 of 3, the consumer runner with KIP-848 groups on Apache Kafka"
	@KAFKA_EMBEDDED_BROKER=apache KAFKA_GROUP_PROTOCOL=consumer $(PYTEST) $(KIP848_TESTS) $(PYTEST_ARGS)
	@echo "make test: lane 3 of 3, the embedded default (Tansu)"
	@KAFKA_EMBEDDED_BROKER=tansu $(PYTEST) $(TANSU_TESTS) $(PYTEST_ARGS)
endif

## kafka-jars: resolve the embedded Apache Kafka's jars from Maven Central (once per machine).
kafka-jars: install
	@$(PY) -c "from kafka_bridge.brokers import apache; print('kafka-jars:', apache.ensure_jars())"

## test-faults: the fault, crash and hostile-input suite alone (tests/faults/README.md), on Apache
## Kafka; it restarts this machine's RabbitMQ and Redis (shared services) once each. FULL=1: the
## issue's scale (10,000 relay events, 50,000 consumer events; < 30 min), a test may take 25 min.
test-faults: install services system-packages kafka-jars
	@FAULTS_RESTART_SERVICES=1 FAULTS_FULL=$(FULL) $(PY) -m pytest tests/faults $(if $(FULL),--timeout=1500) $(PYTEST_ARGS)

## bench: every benchmark scenario against its same-run baseline (< 15 min); bench-quick: the
## smoke run (< 2 min). Table on stdout, JSON and plots in bench/results/ (bench/README.md).
bench: install services
	@$(PY) -m bench $(BENCH_ARGS)

bench-quick: install services
	@$(PY) -m bench --quick $(BENCH_ARGS)

lint: install
	@$(VENV)/bin/lint-imports --no-cache
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .

format: install
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .dev staticfiles
