"""Tansu's group quirk: a member leaves only while holding an assignment no rebalance will take."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Consumer

from kafka_bridge.consumer.config import HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS


def finish_joining(consumer: Consumer, assigned: threading.Event) -> None:
    """Before closing on Tansu (KAFKA_TANSU_WORKAROUNDS): a member that leaves Tansu while its
    (re)join is pending wedges the group: no later member is ever assigned partitions (DESIGN.md
    section 11). So first poll for a heartbeat interval (and a margin), so that a rebalance
    another member's exit has just started reaches us, then finish any pending (re)join, bounded
    by the session timeout. Costs a stop 1.5 s or a few seconds; Apache Kafka needs none of it.
    Records fetched meanwhile are not processed and stay uncommitted for the next member.
    Members told to stop at the same moment can still wedge a Tansu group: stop them one after
    another (`test_group_membership.py`).
    """
    now = time.monotonic()
    heard_by = now + HEARTBEAT_INTERVAL_MS / 1000 + 0.5
    deadline = now + SESSION_TIMEOUT_MS / 1000 + 5
    while time.monotonic() < deadline:
        if assigned.is_set() and time.monotonic() >= heard_by:
            return
        consumer.poll(0.2)
