"""Test harness: isolates each pytest run and starts the embedded Kafka broker.

Loaded with `-p tests.harness.plugin` (pyproject addopts), so the module is imported before
pytest-django reads the settings: the environment below is in place when settings load.

Several pytest runs may share this machine's PostgreSQL, RabbitMQ and Redis at once (developers,
CI, helpers), so each run gets its own test database, Celery queue and channel-layer prefix.
Unless KAFKA_BOOTSTRAP_SERVERS is set by the caller, each run starts its own embedded broker on a
free port, with an empty data folder: Apache Kafka unless KAFKA_EMBEDDED_BROKER says `tansu`
(`make test` runs the whole suite on Apache Kafka, then its Tansu lane).

Tests log as a deployment does: at INFO (LOG_LEVEL), through the production JSON formatter
(settings.LOGGING), to stderr, which pytest captures per test (pytest's own log capture is off,
see pyproject's addopts).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kafka_bridge.embedded import EmbeddedBroker

RUN_ID = os.environ.setdefault("TEST_RUN_ID", uuid.uuid4().hex[:8])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todo_project.settings")
os.environ.setdefault("TEST_DATABASE_NAME", f"test_todo_{RUN_ID}")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"test-{RUN_ID}")
os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"test-{RUN_ID}")
os.environ.setdefault("LOG_LEVEL", "INFO")
# Every event a service emits is checked against its payload model where it is emitted.
os.environ.setdefault("KAFKA_VALIDATE_ON_EMIT", "true")

_OWN_BROKER = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
BROKER = os.environ.setdefault("KAFKA_EMBEDDED_BROKER", "apache") if _OWN_BROKER else "external"
if _OWN_BROKER:
    from kafka_bridge.embedded import free_port

    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
    # Child processes get an explicit address, so they learn the broker's kind from here.
    os.environ.setdefault("KAFKA_TANSU_WORKAROUNDS", "true" if BROKER == "tansu" else "false")

_broker: EmbeddedBroker | None = None

LOG_DIR = Path(os.environ.get("TEST_LOG_DIR", f"/tmp/todo-test-{RUN_ID}"))


def pytest_configure(config: pytest.Config) -> None:
    global _broker
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    if _OWN_BROKER and _broker is None:
        from kafka_bridge import embedded

        port = int(os.environ["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
        _broker = embedded.start(port, broker=BROKER, log_path=LOG_DIR / f"{BROKER}.log")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _broker
    if _broker is not None:
        from kafka_bridge import embedded, producer

        producer.close()  # else librdkafka logs failed reconnects to the stopped broker
        embedded.stop(_broker)
        _broker = None


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"run id {RUN_ID}: database {os.environ['TEST_DATABASE_NAME']}, "
        f"kafka {os.environ['KAFKA_BOOTSTRAP_SERVERS']} ({BROKER}), "
        f"celery queue {os.environ['CELERY_TASK_DEFAULT_QUEUE']}, logs {LOG_DIR}"
    ]
