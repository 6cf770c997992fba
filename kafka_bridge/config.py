"""librdkafka client settings shared by every producer, consumer and admin client."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def client_config(**overrides: Any) -> dict[str, Any]:
    """Base settings: bootstrap servers (read at call time, so tests can point elsewhere) plus
    any security settings from KAFKA_CLIENT_CONFIG, plus `overrides`."""
    config: dict[str, Any] = {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS}
    config.update(settings.KAFKA_SECURITY_CONFIG)
    config.update(overrides)
    return config
