"""A consumer member's librdkafka configuration."""

from __future__ import annotations

import os
import socket
from typing import Any

from django.conf import settings

from kafka_bridge.config import client_config
from kafka_bridge.registry import ConsumerDefinition

# Classic groups: a dead member's partitions move after this (the runner's failover time).
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000


def consumer_config(definition: ConsumerDefinition) -> dict[str, Any]:
    """Manual offset commits, earliest reset, a short fetch wait (produce→consume latency in
    milliseconds) and a short metadata refresh (topics created after subscribing are noticed).

    The group protocol is KAFKA_GROUP_PROTOCOL's. Classic groups keep a 6 s session, so a killed
    member's partitions move within seconds (and Tansu, which holds a join for half the session
    timeout, joins in 1-3 s); with KIP-848 (`consumer`) the session and heartbeat are the
    broker's group settings (kafka_bridge/brokers/apache.py sets them to the same values).
    """
    group: dict[str, Any] = {"group.protocol": settings.KAFKA_GROUP_PROTOCOL}
    if settings.KAFKA_GROUP_PROTOCOL == "classic":
        group.update({"session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS})
    return client_config(
        **{
            "group.id": definition.group_id,
            "client.id": f"{definition.name}-{socket.gethostname()}-{os.getpid()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            **group,
            "fetch.wait.max.ms": 10,
            "topic.metadata.refresh.interval.ms": 2000,
            "max.poll.interval.ms": 300_000,
            **definition.extra_config,
        }
    )
