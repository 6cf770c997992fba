"""Helpers of the fault suite: a private Kafka broker per test, the figures every test prints,
child-process log waits and the machine's shared services (RabbitMQ, Redis) restarted on demand.

Everything else comes from the project's test helpers (`tests.fixtures`, `kafka_bridge.tests.
kafka_helpers`, `tests.observability.stack`, `notifications_app.tests`), as the other suites use them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kafka_bridge import embedded
from tests.fixtures import LOG_DIR, ROOT, subprocess_env, wait_until

FIGURES_FILE = LOG_DIR / "faults-figures.jsonl"
# Set by `make test-faults` and by `make test` in CI: only then may the suite restart the
# machine's shared RabbitMQ and Redis (other test runs may be using them).
RESTART_SERVICES = os.environ.get("FAULTS_RESTART_SERVICES") == "1"
# `make test-faults FULL=1`: the scale issue 10 asked for (10,000 relay events, 50,000 consumer
# events), ~30 minutes; unset, the reduced scale that fits CI's budget.
FULL_SCALE = os.environ.get("FAULTS_FULL") == "1"


def at_scale(reduced: int, full: int) -> int:
    """`full` in a `make test-faults FULL=1` run, `reduced` otherwise (CI)."""
    return full if FULL_SCALE else reduced


@dataclass
class Figures:
    """The numbers a fault test reports: printed, kept for the run's summary, and appended to
    `<log dir>/faults-figures.jsonl`."""

    test: str
    values: dict[str, Any] = field(default_factory=dict)

    def record(self, **values: Any) -> None:
        self.values.update(values)

    def line(self) -> str:
        shown = ", ".join(f"{k}={round(v, 2) if isinstance(v, float) else v}" for k, v in self.values.items())
        return f"{self.test}: {shown}"

    def publish(self) -> None:
        print(f"\nFAULT FIGURES {self.line()}")
        FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES_FILE.open("a") as file:
            file.write(json.dumps({"test": self.test, **self.values}, default=str) + "\n")


class Broker:
    """A broker of one test, of the run's kind (KAFKA_EMBEDDED_BROKER), on its own port and with
    its own data folder: stopping or killing it disturbs nobody else. An Apache Kafka comes back
    from `stop()`/`kill()` and `start()` with its data; a Tansu one comes back EMPTY (DESIGN.md
    section 11)."""

    def __init__(self) -> None:
        self.port = embedded.free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data_dir = LOG_DIR / f"kafka-faults-{self.port}"
        self.broker = embedded.EmbeddedBroker(
            embedded.broker_from_environment(),
            self.port,
            data_dir=self.data_dir,
            log_path=LOG_DIR / f"kafka-faults-{self.port}.log",
        )

    @property
    def durable(self) -> bool:
        return self.broker.kind == "apache"

    def start(self) -> None:
        self.broker.start()

    def stop(self) -> None:
        self.broker.stop()

    def kill(self) -> None:
        """SIGKILL: no controlled shutdown, the data folder as a crash leaves it."""
        self.broker.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.broker.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def log_text(process: Any) -> str:
    return Path(process.log_path).read_text(errors="replace")


def wait_for_log(process: Any, text: str, timeout: float = 60.0) -> float:
    """Wait until `text` is in the child's log; returns the seconds waited."""
    started = time.monotonic()
    wait_until(
        lambda: text in log_text(process), timeout=timeout, interval=0.1, message=f"{text!r} in {process.log_path}"
    )
    return time.monotonic() - started


def _run_manage(*command: str, env: dict[str, str] | None, timeout: float, check: bool) -> Any:
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def manage_json(*command: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> Any:
    """Run a `manage.py` command that prints one JSON document (e.g. `kafka_lag --json`); its exit
    status is not checked (`kafka_lag` exits 2 above its thresholds)."""
    result = _run_manage(*command, env=env, timeout=timeout, check=False)
    start = result.stdout.find("{")
    if start < 0:
        raise AssertionError(f"manage.py {' '.join(command)} printed no JSON: {result.stdout} {result.stderr}")
    return json.loads(result.stdout[start:])


def manage(*command: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> str:
    return _run_manage(*command, env=env, timeout=timeout, check=True).stdout


def kafka_lag(*groups: str, env: dict[str, str] | None = None) -> int:
    """Messages behind, summed over `groups` (consumer names), as `manage.py kafka_lag --json`
    reports them. Tansu reports a partition's end as the last batch's first offset + 1 until the
    next batch arrives, so 0 here can be a batch early: tests also wait for the effects."""
    args = [arg for group in groups for arg in ("--group", group)]
    report = manage_json("kafka_lag", "--json", *args, env=env)
    return sum(entry["messages_behind"] for entry in report["groups"])


# --- the machine's shared services --------------------------------------------------------------


def port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service_restarts() -> None:
    if not RESTART_SERVICES:
        pytest.skip(
            "restarts the machine's shared RabbitMQ and Redis: set FAULTS_RESTART_SERVICES=1 "
            "(make test-faults, and make test in CI, do)"
        )


def stop_rabbitmq() -> None:
    subprocess.run(["rabbitmqctl", "stop"], check=False, capture_output=True, timeout=60)
    wait_until(lambda: not port_open(5672), timeout=30, message="RabbitMQ stopped")


def ensure_service(name: str, port: int, timeout: float = 90.0) -> None:
    """Start `name` as `scripts/ensure_services.sh <name>` does (a no-op when it answers); waits
    until its port answers."""
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_services.sh"), name], check=False, timeout=timeout)
    wait_until(lambda: port_open(port), timeout=timeout, interval=0.2, message=f"{name} listening on {port}")


def start_rabbitmq() -> None:
    ensure_service("rabbitmq", 5672)


def stop_redis() -> None:
    subprocess.run(["redis-cli", "shutdown", "nosave"], check=False, capture_output=True, timeout=30)
    wait_until(lambda: not port_open(6379), timeout=30, message="Redis stopped")


def start_redis() -> None:
    ensure_service("redis", 6379, timeout=30)
