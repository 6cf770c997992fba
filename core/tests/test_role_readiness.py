"""Readiness of the roles that serve no HTTP, on their metrics port, against the real services.

Each role is unavailable only while something it needs is down: the relay and consumers need
PostgreSQL and Kafka, the Celery worker and beat PostgreSQL and RabbitMQ. A dependency is "down"
when its setting points at a port where nothing listens.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from core.health import ROLES
from core.metrics_server import serve
from core.tests.test_health import take_down
from kafka_bridge.embedded import free_port

pytestmark = pytest.mark.django_db

NEEDS = {
    "worker": {"database", "rabbitmq"},
    "beat": {"database", "rabbitmq"},
    "relay": {"database", "kafka"},
    "consumer": {"database", "kafka"},
}
EVERYTHING = {"database", "redis", "rabbitmq", "kafka"}


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own http URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of a role's metrics endpoint (the role: the test's `role` parameter)."""
    port = free_port()
    server = serve(request.getfixturevalue("role"), port, "127.0.0.1")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_every_role_of_the_chart_is_known() -> None:
    assert set(ROLES) == {"web", *NEEDS}


@pytest.mark.parametrize("role", sorted(NEEDS))
def test_a_role_is_ready_with_what_it_needs_and_reports_only_that(kafka_topics: None, role: str, endpoint: str) -> None:
    status, text = get(f"{endpoint}/readyz")
    body = json.loads(text)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["role"] == role
    assert set(body["checks"]) == NEEDS[role]


@pytest.mark.parametrize(
    ("role", "down"), [(role, down) for role, needs in sorted(NEEDS.items()) for down in sorted(needs)]
)
def test_a_role_is_503_while_something_it_needs_is_down(
    settings: Any, monkeypatch: pytest.MonkeyPatch, kafka_topics: None, role: str, down: str, endpoint: str
) -> None:
    take_down(down, settings, monkeypatch)
    status, text = get(f"{endpoint}/readyz")
    body = json.loads(text)
    assert status == 503, body
    assert body["status"] == "unavailable"
    assert body["checks"][down]["ok"] is False
    assert body["checks"][down]["error"]


@pytest.mark.parametrize("role", sorted(NEEDS))
def test_a_role_stays_ready_while_what_it_does_not_need_is_down(
    settings: Any, monkeypatch: pytest.MonkeyPatch, kafka_topics: None, role: str, endpoint: str
) -> None:
    for name in EVERYTHING - NEEDS[role]:
        take_down(name, settings, monkeypatch)
    status, text = get(f"{endpoint}/readyz")
    assert status == 200, text
    assert json.loads(text)["status"] == "ok"


@pytest.mark.parametrize("role", ["relay"])
def test_liveness_checks_nothing_and_every_other_path_serves_the_metrics(
    settings: Any, monkeypatch: pytest.MonkeyPatch, role: str, endpoint: str
) -> None:
    for name in EVERYTHING:
        take_down(name, settings, monkeypatch)

    assert get(f"{endpoint}/healthz") == (200, '{"status": "ok"}')
    status, text = get(f"{endpoint}/metrics")
    assert status == 200
    assert "python_info" in text
    assert "python_info" in get(f"{endpoint}/")[1]
