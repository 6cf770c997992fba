"""A batch handler refusing single records: the runner dead-letters them and handles the rest."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaException, Message

from kafka_bridge import registry
from kafka_bridge.consumer.dlq import DeadLetterQueue
from kafka_bridge.consumer.handle import Handling
from kafka_bridge.consumer.retry import Backoff
from kafka_bridge.records import ConsumedRecord, InvalidRecord
from kafka_bridge.registry import ConsumerDefinition
from kafka_bridge.tests.kafka_helpers import create_topics, end_offsets, headers_of, read_from
from tests.fixtures import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def refuse_odd_offsets(records: list[ConsumedRecord]) -> list[InvalidRecord]:
    return [InvalidRecord(record, f"odd offset {record.offset}") for record in records if record.offset % 2]


@pytest.fixture
def definition(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConsumerDefinition]:
    topic = f"bridge-invalid-{uuid.uuid4().hex[:8]}"
    create_topics(topic, f"{topic}.dlq", partitions=1)
    wait_until(lambda: _has_leader(f"{topic}.dlq"), timeout=30, message="the new DLQ's leader")
    definition = ConsumerDefinition(name="bridge-invalid", group_id="bridge-invalid", topics=(topic,), batch=True)
    monkeypatch.setitem(registry.CONSUMERS, definition.name, definition)
    monkeypatch.setitem(registry._batch_handlers, definition.name, refuse_odd_offsets)
    return definition


def _has_leader(topic: str) -> bool:
    try:
        end_offsets(topic)
    except KafkaException:
        return False
    return True


def handling(definition: ConsumerDefinition) -> Handling:
    stop = threading.Event()
    backoff = Backoff(0.01, 0.1)
    return Handling(definition, stop, backoff, DeadLetterQueue(definition, stop=stop, backoff=backoff))


def message(topic: str, offset: int) -> Message:
    return Message(
        topic=topic,
        partition=0,
        offset=offset,
        key=b"k",
        value=b"{not json",
        headers=[("ce_id", f"id-{offset}".encode())],
    )


def test_refused_records_are_dead_lettered_with_the_runners_headers(definition: ConsumerDefinition) -> None:
    [topic] = definition.topics
    dlq = f"{topic}.dlq"
    start = {dlq: end_offsets(dlq)}

    assert handling(definition).batch([message(topic, offset) for offset in range(4)])

    dead = read_from(start, expected=2)
    assert [headers_of(m)["original_offset"] for m in dead] == ["1", "3"]
    headers = headers_of(dead[0])
    assert headers["error"] == "odd offset 1"
    assert headers["handler"].endswith("refuse_odd_offsets")
    assert headers["attempts"] == "1"
    assert headers["group"] == "bridge-invalid"
    assert headers["original_topic"] == topic
    assert headers["ce_id"] == "id-1"  # the record's own headers are kept
    assert dead[0].value() == b"{not json"


def test_without_a_dlq_refused_records_are_skipped(
    definition: ConsumerDefinition, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_dlq = ConsumerDefinition(**{**definition.__dict__, "dead_letter": False})
    monkeypatch.setitem(registry.CONSUMERS, no_dlq.name, no_dlq)
    [topic] = no_dlq.topics
    dlq = f"{topic}.dlq"
    before = end_offsets(dlq)

    assert handling(no_dlq).batch([message(topic, offset) for offset in range(2)])

    assert end_offsets(dlq) == before
