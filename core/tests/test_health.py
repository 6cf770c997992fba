"""Web's liveness and readiness against the real PostgreSQL, RabbitMQ, Redis and Kafka broker.

A dependency is "down" when its setting points at a port where nothing listens: the shared
services keep running for everyone else.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connections
from django.test import Client

from kafka_bridge.embedded import free_port

pytestmark = pytest.mark.django_db

DOWN = {
    "redis": ("REDIS_URL", "redis://127.0.0.1:{port}/0"),
    "rabbitmq": ("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:{port}//"),
    "kafka": ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:{port}"),
}


def take_down(name: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point `name`'s setting at a closed port."""
    port = free_port()  # nothing listens there
    if name == "database":
        # Each check opens its own connection (a pool thread's) from this settings dict.
        monkeypatch.setitem(connections["default"].settings_dict, "HOST", "127.0.0.1")
        monkeypatch.setitem(connections["default"].settings_dict, "PORT", str(port))
    else:
        setting, value = DOWN[name]
        setattr(settings, setting, value.format(port=port))


def test_healthz_answers_without_touching_dependencies() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_every_dependency_ok(kafka_topics: None) -> None:
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["role"] == "web"
    assert set(body["checks"]) == {"database", "rabbitmq", "redis", "kafka"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.parametrize("down", ["database", "redis"])
def test_readyz_is_503_when_postgresql_or_redis_is_down(
    settings: Any, monkeypatch: pytest.MonkeyPatch, kafka_topics: None, down: str
) -> None:
    take_down(down, settings, monkeypatch)
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503, body
    assert body["status"] == "unavailable"
    assert body["checks"][down]["ok"] is False
    assert body["checks"][down]["error"]
    others = {name: result for name, result in body["checks"].items() if name != down}
    assert all(result["ok"] for result in others.values()), others


@pytest.mark.parametrize("down", ["kafka", "rabbitmq"])
def test_readyz_stays_200_and_reports_degraded_while_kafka_or_rabbitmq_is_down(
    settings: Any, monkeypatch: pytest.MonkeyPatch, kafka_topics: None, down: str
) -> None:
    """Writes go on: their events wait in the outbox, so web keeps taking traffic."""
    take_down(down, settings, monkeypatch)
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "degraded"
    assert body["checks"][down]["ok"] is False
    assert body["checks"][down]["error"]
    others = {name: result for name, result in body["checks"].items() if name != down}
    assert all(result["ok"] for result in others.values()), others


def test_readyz_is_503_when_a_required_and_a_reported_dependency_are_both_down(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    take_down("redis", settings, monkeypatch)
    take_down("rabbitmq", settings, monkeypatch)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_metrics_endpoint_exposes_request_metrics() -> None:
    Client().get("/healthz")
    body = Client().get("/metrics").content.decode()
    assert 'http_requests_total{method="GET",route="healthz",status="200"}' in body
