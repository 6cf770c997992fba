"""Fixtures of the fault suite (tests/faults/README.md): a private broker and the figures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kafka_bridge import producer
from kafka_bridge.topics import ensure_topics
from tests.faults.support import Broker, Figures

_REPORTED: list[Figures] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """Record a test's figures with `figures.record(...)`; printed when the test ends."""
    recorded = Figures(request.node.name)
    yield recorded
    if recorded.values:
        recorded.publish()
        _REPORTED.append(recorded)


@pytest.fixture
def private_broker(settings: Any) -> Iterator[Broker]:
    """A broker for this test only (the run's kind), with every topic created. This process and
    every child started with `subprocess_env()` inside the test talk to it (the settings override
    is what `subprocess_env` and `client_config` read)."""
    broker = Broker()
    broker.start()
    producer.close()  # the process-wide producer knows the run's broker only
    settings.KAFKA_BOOTSTRAP_SERVERS = broker.bootstrap
    try:
        ensure_topics()
        yield broker
    finally:
        producer.close(timeout=1)
        broker.remove()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _REPORTED:
        terminalreporter.section("fault suite figures")
        for recorded in _REPORTED:
            terminalreporter.write_line(recorded.line())
