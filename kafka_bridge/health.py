"""The Kafka readiness check, registered with core's health checks."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from core.health import CHECK_TIMEOUT_SECONDS
from kafka_bridge.config import client_config


def check_kafka() -> None:
    admin = AdminClient(client_config(**{"socket.timeout.ms": 2000, "log_level": 0}))
    admin.list_topics(timeout=CHECK_TIMEOUT_SECONDS)
