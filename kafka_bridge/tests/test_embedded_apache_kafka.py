"""The embedded Apache Kafka keeps its data folder across a clean stop and a crash (`make dev`'s
restart, the fault suite's SIGKILL): topics, records and committed offsets come back."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_bridge import embedded
from kafka_bridge.brokers import apache

pytestmark = pytest.mark.skipif(
    os.environ.get("KAFKA_EMBEDDED_BROKER") == "tansu", reason="the Apache Kafka lane and the default lane run it"
)


def records(bootstrap: str, topic: str) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}"})
    try:
        end = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
        consumer.assign([TopicPartition(topic, 0, 0)])
        values: list[bytes] = []
        while len(values) < end:
            values += [m.value() for m in consumer.consume(num_messages=100, timeout=1) if not m.error()]
        return values
    finally:
        consumer.close()


def committed(bootstrap: str, topic: str, group: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        consumer.close()


def test_a_restarted_or_crashed_apache_broker_keeps_topics_records_and_offsets(tmp_path: Path) -> None:
    broker = embedded.EmbeddedBroker("apache", embedded.free_port(), data_dir=tmp_path / "data")
    topic, group = "kept", "kept-group"
    broker.start()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
        for n in range(3):
            producer.produce(topic, value=f"record {n}".encode())
        assert producer.flush(30) == 0
        offsets = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
        offsets.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
        offsets.close()
        first_controller_port = broker.controller_port

        broker.stop()
        broker.start()
        after_stop = (records(broker.bootstrap, topic), committed(broker.bootstrap, topic, group))
        broker.kill()
        broker.start()
        after_crash = (records(broker.bootstrap, topic), committed(broker.bootstrap, topic, group))
    finally:
        broker.stop()

    expected = ([b"record 0", b"record 1", b"record 2"], 2)
    assert (after_stop, after_crash) == (expected, expected)
    assert apache.saved_controller_port(tmp_path / "data") == first_controller_port
