"""One request's correlation id, followed through the JSON logs of every process it reaches:
web (uvicorn, as the image runs it) → outbox → relay → Kafka headers → a consumer → a Celery job,
and on into the events the consumer's own writes cause."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.auth.tokens import issue_token
from kafka_bridge.models import OutboxEvent
from kafka_bridge.tests.kafka_helpers import end_offsets, headers_of, read_from
from kafka_bridge.topics import Topic
from tests.fixtures import ManagedProcesses, wait_until
from tests.observability.scrape import json_lines
from tests.observability.stack import Stack


def _lines_with(stack: Stack, role: str, correlation_id: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(stack.logs[role]) if line.get("correlation_id") == correlation_id]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_a_request_id_is_followed_through_web_relay_kafka_consumer_and_celery(
    processes: ManagedProcesses, user: Any
) -> None:
    stack = Stack(processes)
    stack.start_web()
    stack.start_relay()
    stack.start_worker()
    stack.start_consumer("recurrence")
    stack.wait_ready()
    token = issue_token(subject=user.username, email=user.email)
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    _, task, _ = stack.api(
        "POST", "tasks/", token, {"title": "water plants", "due_at": due, "recurrence_rule": "daily"}
    )
    start = {Topic.TASK_EVENTS.value: end_offsets(Topic.TASK_EVENTS.value)}
    request_id = f"obs-{uuid.uuid4().hex}"

    status, _, headers = stack.api("POST", f"tasks/{task['id']}/complete/", token, {}, **{"X-Request-ID": request_id})

    assert status == 200
    assert headers["X-Request-ID"] == request_id
    # Web: the access line of that request.
    wait_until(
        lambda: any("/complete/" in line["message"] for line in _lines_with(stack, "web", request_id)),
        timeout=10,
        message="web access log line with the request id",
    )
    # Outbox: the event carries the id in its envelope and its headers.
    completed = OutboxEvent.objects.get(event_type="task.completed", key=task["id"], topic=Topic.TASK_EVENTS.value)
    assert completed.value["correlationid"] == request_id
    assert completed.headers["correlation_id"] == request_id
    # Relay: it logs what it published under the request's id.
    published = wait_until(
        lambda: [
            line
            for line in _lines_with(stack, "relay", request_id)
            if line["message"] == "outbox events published" and str(completed.event_id) in line["event_ids"]
        ],
        timeout=20,
        message="relay log line with the request id",
    )
    assert set(published[0]["topics"]) == {Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value}
    # Kafka: the record's headers carry it to the consumers.
    [record] = [
        m for m in read_from(start, expected=1, timeout=10) if headers_of(m).get("ce_id") == str(completed.event_id)
    ]
    assert headers_of(record)["correlation_id"] == request_id
    # Consumer: the recurrence handler's work is logged under the request's id ...
    wait_until(
        lambda: any(
            "next occurrence" in line["message"] for line in _lines_with(stack, "consumer-recurrence", request_id)
        ),
        timeout=20,
        message="recurrence consumer log line with the request id",
    )
    # ... and the events of its own writes (the next occurrence) carry it on.
    successor = wait_until(
        lambda: OutboxEvent.objects.filter(event_type="task.created", topic=Topic.TASK_EVENTS.value)
        .exclude(key=task["id"])
        .first()
    )
    assert successor.value["correlationid"] == request_id
    # Celery: the relay job the request enqueued on commit ran under the request's id.
    wait_until(
        lambda: any(
            line["logger"] == "celery.app.trace"
            and "relay_outbox_task" in line["message"]
            and "succeeded" in line["message"]
            for line in _lines_with(stack, "worker", request_id)
        ),
        timeout=20,
        message="celery job log line with the request id",
    )
