"""Kafka helpers of the benchmark: the raw produce→consume baseline, bulk produce, catch-up waits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

from kafka_bridge.config import client_config
from kafka_bridge.producer import producer_config


def create_topic(name: str) -> None:
    admin = AdminClient(client_config())
    if name in admin.list_topics(timeout=10).topics:
        return
    future = admin.create_topics(
        [NewTopic(name, num_partitions=settings.KAFKA_TOPIC_PARTITIONS, replication_factor=1)]
    )[name]
    try:
        future.result(timeout=15)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def runner_like_consumer(group: str) -> Consumer:
    """A consumer with the settings of kafka_bridge's runner that matter for latency."""
    return Consumer(
        client_config(
            **{
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
                "fetch.wait.max.ms": 10,
                "session.timeout.ms": 6000,
            }
        )
    )


def produce_all(
    records: Iterable[tuple[str, bytes, bytes, list[tuple[str, bytes]]]], **overrides: object
) -> tuple[int, float]:
    """Produce (topic, key, value, headers) records as fast as the client allows; wait for all
    delivery reports. Returns (delivered, seconds). The clock starts once the producer is
    connected and has the topics' metadata, as the long-running relay's producer has."""
    records = list(records)
    producer = Producer(producer_config(**overrides))
    for topic in {record[0] for record in records}:
        producer.list_topics(topic, timeout=10)
    started = time.perf_counter()
    delivered = 0

    def report(error: object, message: object) -> None:
        nonlocal delivered
        if error is None:
            delivered += 1

    for topic, key, value, headers in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    return delivered, time.perf_counter() - started


def raw_latency(*, rate: float, duration: float, payload_size: int = 900) -> list[float]:
    """Produce→consume latencies (ms) at a steady `rate` for `duration` seconds on a topic of our
    own on the same broker: the relay's producer settings, the runner's fetch settings."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    create_topic(topic)
    consumer = runner_like_consumer(f"bench-raw-{uuid.uuid4().hex[:8]}")
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in metadata.partitions])
    latencies: list[float] = []
    expected = int(rate * duration)
    done = threading.Event()

    def consume() -> None:
        deadline = time.monotonic() + duration + 30
        while len(latencies) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is None or message.error():
                continue
            sent_ns = int(message.value()[:19])
            latencies.append((time.time_ns() - sent_ns) / 1e6)
        done.set()

    producer = Producer(producer_config())
    padding = b"x" * payload_size
    # Warm up both ends (connections, metadata, the END offset resolved by the first fetch), so
    # the samples measure the steady state, as the long-running relay and consumers have it.
    for i in range(3 * len(metadata.partitions)):
        producer.produce(topic, key=str(i).encode(), value=b"%019d|warm-up" % 0)
    producer.flush(30)
    warm_deadline = time.monotonic() + 10
    warmed = 0
    while warmed < 3 * len(metadata.partitions) and time.monotonic() < warm_deadline:
        message = consumer.poll(0.1)
        if message is not None and not message.error():
            warmed += 1
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    start = time.monotonic()
    for i in range(expected):
        pause = start + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        producer.produce(topic, key=str(i % 97).encode(), value=b"%019d|" % time.time_ns() + padding)
        producer.poll(0)
    producer.flush(30)
    done.wait(duration + 35)
    consumer.close()
    return latencies


def group_lag(group: str, topics: Iterable[str]) -> int:
    """Records not yet committed by `group` on `topics` (a partition without a commit counts
    from its low watermark)."""
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        partitions = []
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
            partitions += [TopicPartition(topic, p) for p in metadata.partitions]
        committed = consumer.committed(partitions, timeout=10)
        lag = 0
        for partition in committed:
            low, high = consumer.get_watermark_offsets(partition, timeout=10)
            position = partition.offset if partition.offset >= 0 else low
            lag += max(0, high - position)
        return lag
    finally:
        consumer.close()


def wait_caught_up(group: str, topics: Iterable[str], timeout: float) -> float:
    """Wait until `group` has committed everything on `topics`; returns the seconds waited."""
    topics = list(topics)
    start = time.monotonic()
    while group_lag(group, topics) > 0:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"consumer group {group} still behind after {timeout} s")
        time.sleep(0.25)
    return time.monotonic() - start


def high_watermarks(topics: Iterable[str]) -> int:
    consumer = Consumer(client_config(**{"group.id": f"bench-wm-{uuid.uuid4().hex[:8]}"}))
    try:
        total = 0
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
            for p in metadata.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                total += high - low
        return total
    finally:
        consumer.close()


def record_times(topic: str, event_type: str) -> dict[str, float]:
    """Each `event_type` record's key → its timestamp (s) on `topic`: when the producer was
    handed the record (CreateTime), read from the start of every partition to its end."""
    consumer = Consumer(
        client_config(**{"group.id": f"bench-times-{uuid.uuid4().hex[:8]}", "enable.partition.eof": True})
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        times: dict[str, float] = {}
        at_end: set[int] = set()
        deadline = time.monotonic() + 60
        while len(at_end) < len(partitions) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                    continue
                raise KafkaException(message.error())
            if (dict(message.headers() or []).get("ce_type") or b"").decode() == event_type:
                times[message.key().decode()] = message.timestamp()[1] / 1000
        return times
    finally:
        consumer.close()


def start_group_at_end(group: str, topics: Iterable[str]) -> None:
    """Commit `group`'s offsets at the topics' current ends, so that its consumers skip what
    earlier scenarios left there (a new group reads from the earliest offset). On Tansu the end
    may be reported up to a batch early: a few old records can still be read."""
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        offsets = []
        for topic in topics:
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                offsets.append(TopicPartition(topic, partition, high))
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()
