"""A record Kafka refuses for good (too large) marks its outbox row rejected, with the reason and
a metric, and never holds back the rows after it."""

from __future__ import annotations

import os
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from prometheus_client import REGISTRY

from kafka_bridge import producer, relay
from kafka_bridge.models import OutboxEvent, OutboxPending
from kafka_bridge.producer import producer_config
from kafka_bridge.tests.kafka_helpers import end_offsets, headers_of, read_from, task_representation
from kafka_bridge.topics import Topic, topic_configs
from tasks_app.signals import task_updated

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("kafka_topics"),
    pytest.mark.skipif(
        os.environ.get("KAFKA_EMBEDDED_BROKER") == "tansu" and os.environ.get("KAFKA_TANSU_WORKAROUNDS") == "true",
        reason="Tansu does not enforce a topic's max.message.bytes",
    ),
]

TASK_TOPICS = [Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value]


def record_task_update(description: str) -> set[str]:
    """One task update written to the outbox (a row per topic); returns the event id."""
    task = task_representation(title="rejection test", description=description, version=2)
    with transaction.atomic():
        task_updated.send(sender=None, task_id=uuid.UUID(task["id"]), user_id=1, task=task, changes={})
    return {str(event_id) for event_id in OutboxEvent.objects.filter(key=task["id"]).values_list("event_id", flat=True)}


def rejected_count(topic: str) -> float:
    return sum(
        REGISTRY.get_sample_value("outbox_events_rejected_total", {"topic": topic, "reason": reason}) or 0.0
        for reason in ("MSG_SIZE_TOO_LARGE",)
    )


@pytest.fixture
def small_topic_limit(settings):
    """Every topic's max.message.bytes lowered through `kafka_topics` (as an operator would with a
    smaller request-body cap), put back afterwards."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    call_command("kafka_topics", stdout=StringIO())
    producer.close()  # the relay's producer is made anew with the new limits, as at a restart
    yield int(topic_configs()["max.message.bytes"])
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
    call_command("kafka_topics", stdout=StringIO())
    producer.close()


def test_records_over_the_topic_or_producer_limit_are_marked_rejected_and_the_rest_is_published(
    small_topic_limit: int,
) -> None:
    start = {topic: end_offsets(topic) for topic in TASK_TOPICS}
    before = {topic: rejected_count(topic) for topic in TASK_TOPICS}
    producer_limit = producer_config()["message.max.bytes"]
    assert small_topic_limit < 200_000 < producer_limit

    first = record_task_update("small")
    refused_by_broker = record_task_update("b" * 200_000)  # over the topic's limit only
    refused_by_producer = record_task_update("p" * (producer_limit + 1000))  # over both
    last = record_task_update("small again")

    published = relay.drain()

    expected = first | last
    messages = read_from(start, expected=2 * len(expected))
    arrived = [headers_of(message)["ce_id"] for message in messages]
    assert sorted(arrived) == sorted([*expected, *expected])  # each on both topics, once
    assert published == len(arrived)
    assert not OutboxPending.objects.exists()
    rejected = OutboxEvent.objects.filter(rejected_at__isnull=False)
    assert {str(row.event_id) for row in rejected} == refused_by_broker | refused_by_producer
    assert rejected.count() == 2 * len(TASK_TOPICS)
    assert all("MSG_SIZE_TOO_LARGE" in row.last_error or "too large" in row.last_error.lower() for row in rejected)
    assert OutboxEvent.objects.filter(rejected_at__isnull=True).count() == len(arrived)
    assert {topic: rejected_count(topic) - before[topic] for topic in TASK_TOPICS} == dict.fromkeys(TASK_TOPICS, 2)
