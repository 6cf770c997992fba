"""Consumer-lag gauges exported by the relay (`kafka_bridge.lag_exporter`), against the real
broker: the Helm alert rules read `kafka_consumer_lag_messages` and `kafka_consumer_lag_seconds`
per group, topic and partition, and must see lag grow while a consumer group is down."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import REGISTRY

from kafka_bridge.config import client_config
from kafka_bridge.embedded import free_port
from kafka_bridge.lag_exporter import export_lag
from kafka_bridge.registry import ConsumerDefinition
from kafka_bridge.tests.kafka_helpers import create_topics, end_offsets, produce
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until
from tests.observability.scrape import samples, scrape, total

PARTITIONS = 3


def _commit(group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit `offsets` for `group` as its consumers would have before they stopped."""
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        consumer.commit(
            offsets=[TopicPartition(topic, partition, offset) for (topic, partition), offset in offsets.items()],
            asynchronous=False,
        )
    finally:
        consumer.close()


def _produce(topic: str, count: int, *, prefix: str) -> None:
    for n in range(count):
        produce(topic, key=f"{prefix}-{n}", value=b"{}")


@pytest.fixture
def lag_topic() -> str:
    topic = f"obs-lag-{uuid.uuid4().hex[:10]}"
    create_topics(topic, partitions=PARTITIONS)
    return topic


def _relay(processes: ManagedProcesses, name: str, topic: str, port: int) -> Any:
    """A looping relay that also knows the test consumers `bridge-test` (group = topic) and
    `bridge-test-batch` (group `<topic>-batch`), measuring lag every half second."""
    env = subprocess_env(KAFKA_BRIDGE_TEST_CONSUMERS="1", KAFKA_BRIDGE_TEST_TOPICS=topic, KAFKA_BRIDGE_TEST_GROUP=topic)
    return processes.manage(
        name, "relay_outbox", "--loop", "--metrics-port", str(port), "--lag-interval", "0.5", env=env
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_relay_exports_the_lag_of_a_stopped_consumer_group(processes: ManagedProcesses, lag_topic: str) -> None:
    # The group consumed 4 records, then stopped; 6 more arrived since.
    _produce(lag_topic, 4, prefix="before")
    _commit(lag_topic, {(lag_topic, p): end for p, end in end_offsets(lag_topic).items()})
    _produce(lag_topic, 6, prefix="after")
    ends = end_offsets(lag_topic)
    produced_at = time.time()
    port = free_port()
    relay = _relay(processes, "relay", lag_topic, port)

    url = f"http://127.0.0.1:{port}/metrics"
    metrics = wait_until(
        lambda: (m := scrape(url))
        and total(m, "kafka_consumer_lag_messages", group=lag_topic) == 6
        # Measured after it in each round: this round's export is complete.
        and samples(m, "kafka_consumer_lag_messages", group=f"{lag_topic}-batch")
        and m,
        timeout=40,
        message="relay exports 6 messages of lag for the stopped group",
    )

    # Per partition: exactly the records produced after the commit (the keys decide where they
    # went, so read the commit back); seconds only where behind.
    committed = _committed(lag_topic, lag_topic)
    for partition in range(PARTITIONS):
        labels = {"group": lag_topic, "topic": lag_topic, "partition": str(partition)}
        behind = ends[partition] - committed[partition]
        assert samples(metrics, "kafka_consumer_lag_messages", **labels) == [behind]
        [seconds] = samples(metrics, "kafka_consumer_lag_seconds", **labels)
        if behind:
            assert 0 < seconds <= time.time() - produced_at + 60
        else:
            assert seconds == 0
    # A group that never committed is behind by everything on the topic.
    assert total(metrics, "kafka_consumer_lag_messages", group=f"{lag_topic}-batch") == 10
    # Every registered group is exported, per partition of every topic it reads.
    for group, topic in (("sync", "task-updates"), ("recurrence", "task-events"), ("audit", "reminders.dlq")):
        assert len(samples(metrics, "kafka_consumer_lag_messages", group=group, topic=topic)) == PARTITIONS

    # The group catches up (its consumers come back and commit): the lag drops to zero.
    _commit(lag_topic, {(lag_topic, p): end for p, end in ends.items()})
    wait_until(
        lambda: (m := scrape(url))
        and total(m, "kafka_consumer_lag_messages", group=lag_topic) == 0
        and total(m, "kafka_consumer_lag_seconds", group=lag_topic) == 0,
        timeout=20,
        message="lag back to zero after the commit",
    )

    # SIGTERM: the relay stops cleanly, the exporter with it.
    relay.send_signal(signal.SIGTERM)
    assert relay.wait(timeout=20) == 0
    assert "consumer lag exporter stopped" in Path(relay.log_path).read_text()


def _committed(group: str, topic: str) -> dict[int, int]:
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        positions = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return {p.partition: max(p.offset, 0) for p in positions}
    finally:
        consumer.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_one_relay_exports_lag_and_another_takes_over_when_it_dies(processes: ManagedProcesses, lag_topic: str) -> None:
    _produce(lag_topic, 3, prefix="x")
    ports = [free_port(), free_port()]
    relays = [_relay(processes, f"relay-{n}", lag_topic, port) for n, port in enumerate(ports)]
    urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]

    def exporting() -> list[bool]:
        return [total(scrape(url), "kafka_consumer_lag_messages", group=lag_topic) == 3 for url in urls]

    first = wait_until(lambda: any(exporting()) and exporting(), timeout=40, message="one relay exports lag")
    time.sleep(1.5)  # several intervals: the other relay still exports nothing
    assert sorted(exporting()) == [False, True], "exactly one relay exports (the alert rules sum partitions)"
    leader = first.index(True)

    processes.kill(relays[leader])
    other = urls[1 - leader]
    wait_until(
        lambda: total(scrape(other), "kafka_consumer_lag_messages", group=lag_topic) == 3,
        timeout=20,
        message="the surviving relay takes over the lag export",
    )


@pytest.mark.usefixtures("kafka_topics")
def test_export_lag_sets_gauges_per_partition_and_drops_a_group_it_cannot_measure(lag_topic: str) -> None:
    definition = ConsumerDefinition(name="obs", group_id=lag_topic, topics=(lag_topic,))
    _produce(lag_topic, 5, prefix="y")

    measured = export_lag([definition])

    assert sum(p.messages_behind for p in measured) == 5
    for p in measured:
        labels = {"group": lag_topic, "topic": lag_topic, "partition": str(p.partition)}
        assert REGISTRY.get_sample_value("kafka_consumer_lag_messages", labels) == p.messages_behind
        assert REGISTRY.get_sample_value("kafka_consumer_lag_seconds", labels) == p.seconds_behind

    # A topic the broker does not know has no partitions: the group's old series go away.
    gone = ConsumerDefinition(name="obs", group_id=lag_topic, topics=("no-such-topic",))
    assert export_lag([gone]) == []
    exported = [s.labels for m in REGISTRY.collect() if m.name.startswith("kafka_consumer_lag") for s in m.samples]
    assert not [labels for labels in exported if labels["group"] == lag_topic]
