"""Liveness and readiness against the real PostgreSQL, RabbitMQ, Redis and Kafka broker."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kafka_bridge.embedded import free_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_every_dependency_ok(kafka_topics: None) -> None:
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "rabbitmq", "redis", "kafka"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.parametrize(
    ("setting", "value", "check"),
    [
        ("REDIS_URL", "redis://127.0.0.1:{port}/0", "redis"),
        ("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:{port}//", "rabbitmq"),
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:{port}", "kafka"),
    ],
)
def test_readyz_is_503_when_a_dependency_is_down(settings: Any, setting: str, value: str, check: str) -> None:
    setattr(settings, setting, value.format(port=free_port()))  # nothing listens there
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"][check]["ok"] is False
    assert body["checks"][check]["error"]
    others = {name: result for name, result in body["checks"].items() if name not in {check, "kafka"}}
    assert all(result["ok"] for result in others.values()), others


def test_metrics_endpoint_exposes_request_metrics() -> None:
    Client().get("/healthz")
    body = Client().get("/metrics").content.decode()
    assert 'http_requests_total{method="GET",route="healthz",status="200"}' in body
