"""A consumer member left without partitions past KAFKA_CONSUMER_REJOIN_SECONDS replaces its client.

To keep a member out of its group for a known time, another member of the group holds its
partitions and stops polling: Apache Kafka then waits for it to rejoin for its whole rebalance
timeout (its `max.poll.interval.ms`), and our member is not assigned meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer
from django.conf import settings

from kafka_bridge.config import client_config
from kafka_bridge.consumer.loop import ConsumerRunner
from kafka_bridge.metrics import CONSUMER_CLIENTS_REPLACED
from kafka_bridge.registry import ConsumerDefinition
from kafka_bridge.tests.kafka_helpers import create_topics, messages_behind, produce, task_event, task_representation
from tests.fixtures import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

HOLD_S = 12.0  # the blocking member's rebalance timeout: how long it keeps our member out
REJOIN_S = 3.0


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def blocking_member(group: str, topic: str) -> Consumer:
    """A member that takes every partition, then never polls again (so never answers a rebalance)."""
    assigned = threading.Event()
    member = Consumer(
        client_config(
            **{
                "group.id": group,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "max.poll.interval.ms": int(HOLD_S * 1000),
            }
        )
    )
    member.subscribe([topic], on_assign=lambda consumer, partitions: assigned.set(), on_revoke=lambda *_: None)
    deadline = time.monotonic() + 30
    while not assigned.is_set() and time.monotonic() < deadline:
        member.poll(0.2)
    assert assigned.is_set(), "the blocking member was never assigned"
    return member


@pytest.mark.skipif(
    settings.KAFKA_TANSU_WORKAROUNDS, reason="off on Tansu, whose groups wedge when a joining member leaves"
)
def test_a_member_left_without_partitions_replaces_its_client_and_then_consumes() -> None:
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"rejoin-{suffix}", f"rejoin-{suffix}"
    create_topics(topic, f"{topic}.dlq")
    blocker = blocking_member(group, topic)
    replaced_before = CONSUMER_CLIENTS_REPLACED.labels(group=group)._value.get()
    definition = ConsumerDefinition(name="rejoin-test", group_id=group, topics=(topic,))
    runner = ConsumerRunner(definition, stop=(stop := threading.Event()), rejoin_after=REJOIN_S)
    thread = threading.Thread(target=runner.run)
    records = Records()
    loop_logger = logging.getLogger("kafka_bridge.consumer.loop")
    loop_logger.addHandler(records)
    started = time.monotonic()
    thread.start()
    try:
        wait_until(runner.assigned.is_set, timeout=HOLD_S + 30, interval=0.2, message="our member assigned")
        assigned_after = time.monotonic() - started
        for n in range(10):
            event = task_event(task_representation(title=f"task {n}"))
            produce(topic, key=event.subject, value=event.to_json(), headers={"ce_id": event.id, "ce_type": event.type})
        wait_until(
            lambda: messages_behind(group, [topic]) == 0,
            timeout=30,
            interval=0.5,
            message="the replaced client consuming and committing",
        )
    finally:
        stop.set()
        thread.join(timeout=15)
        blocker.poll(1)  # serves the revoke it was holding back, without which close() waits forever
        blocker.close()
        loop_logger.removeHandler(records)
    assert not thread.is_alive()

    replacements = [r for r in records.records if r.getMessage().startswith("no partitions assigned for too long")]
    replaced = CONSUMER_CLIENTS_REPLACED.labels(group=group)._value.get() - replaced_before
    # Kept out for about HOLD_S, the member replaced its client about every REJOIN_S meanwhile.
    assert assigned_after >= REJOIN_S, assigned_after
    assert replaced == len(replacements) >= 1
    assert all(r.waited_s >= REJOIN_S for r in replacements)
