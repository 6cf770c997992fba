"""A consumer member's setup: its librdkafka configuration and its handler modules."""

from __future__ import annotations

import importlib
import logging
import os
import socket
from typing import Any

from django.conf import settings

from kafka_bridge.config import client_config
from kafka_bridge.registry import ConsumerDefinition

logger = logging.getLogger(__name__)

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


def import_handler_modules(definition: ConsumerDefinition) -> list[str]:
    """Import the definition's handler modules; returns the ones that do not exist.

    A missing module is logged, not fatal: the consumer then runs without its handlers, skipping
    (and committing) the events, so the other apps' consumers keep working while one is absent.
    """
    missing = []
    for module in definition.handler_modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            missing.append(module)
            logger.warning(
                "handler module not found; consuming without its handlers",
                extra={"consumer": definition.name, "handler_module": module},
            )
    return missing
