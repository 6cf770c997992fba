"""Test harness: isolates each pytest run and starts the embedded Kafka broker.

Loaded with `-p tests.harness.plugin` (pyproject addopts), so the module is imported before
pytest-django reads the settings: the environment below is in place when settings load.

Several pytest runs may share this machine's PostgreSQL, RabbitMQ and Redis at once (developers,
CI, helpers), so each run gets its own test database, Celery queue and channel-layer prefix.
Unless KAFKA_BOOTSTRAP_SERVERS is set by the caller, each run starts its own Tansu broker on a
free port (in memory, so it starts empty) and creates the topics.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

RUN_ID = os.environ.setdefault("TEST_RUN_ID", uuid.uuid4().hex[:8])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todo_project.settings")
os.environ.setdefault("TEST_DATABASE_NAME", f"test_todo_{RUN_ID}")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"test-{RUN_ID}")
os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"test-{RUN_ID}")
os.environ.setdefault("LOG_LEVEL", "WARNING")

_OWN_BROKER = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
if _OWN_BROKER:
    from kafka_bridge.embedded import free_port

    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"

_broker: subprocess.Popen[bytes] | None = None

LOG_DIR = Path(os.environ.get("TEST_LOG_DIR", f"/tmp/todo-test-{RUN_ID}"))


def pytest_configure(config: pytest.Config) -> None:
    global _broker
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    if _OWN_BROKER and _broker is None:
        from kafka_bridge import embedded

        port = int(os.environ["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
        _broker = embedded.start(port, log_path=LOG_DIR / "tansu.log")


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
        f"kafka {os.environ['KAFKA_BOOTSTRAP_SERVERS']}{' (embedded)' if _OWN_BROKER else ''}, "
        f"celery queue {os.environ['CELERY_TASK_DEFAULT_QUEUE']}, logs {LOG_DIR}"
    ]
