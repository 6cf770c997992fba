"""Optional OpenTelemetry tracing (core/tracing.py): off and not even imported without
OTEL_EXPORTER_OTLP_ENDPOINT; with it, one trace runs from an HTTP request through the outbox,
the relay and Kafka headers into a consumer, and into the Celery job the request enqueued:
in-process with an in-memory exporter, and across the real processes into an OTLP collector."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from django.db import connection
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from core import tracing
from core.auth.tokens import issue_token
from kafka_bridge import relay
from kafka_bridge.config import client_config
from kafka_bridge.consumer.loop import ConsumerRunner
from kafka_bridge.models import OutboxEvent
from kafka_bridge.registry import consumers
from kafka_bridge.tests.kafka_helpers import end_offsets
from kafka_bridge.topics import Topic
from tests.fixtures import ROOT, ManagedProcesses, subprocess_env, wait_until
from tests.observability.otlp_collector import OTLPCollector, ReceivedSpan
from tests.observability.stack import Stack

SERVER = 2  # OTLP's SPAN_KIND_SERVER

PROBE = (
    "import sys, django; django.setup(); from django.conf import settings; from core import tracing; "
    "print(tracing.enabled(), any(m.startswith('opentelemetry') for m in sys.modules), "
    "any('opentelemetry' in m for m in settings.MIDDLEWARE))"
)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [(None, "False False False"), ("http://127.0.0.1:9", "True True True")],
    ids=["without-endpoint", "with-endpoint"],
)
def test_tracing_is_started_only_with_an_otlp_endpoint(endpoint: str | None, expected: str) -> None:
    env = subprocess_env()
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == expected


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(processor=SimpleSpanProcessor(exporter), set_global=False)
    try:
        yield exporter
    finally:
        tracing.unconfigure()


def _commit_at_end(group: str, topic: str) -> None:
    """Start `group` at the topic's end, so it handles only this test's records."""
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        offsets = [TopicPartition(topic, p, end) for p, end in end_offsets(topic).items()]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def _run_consumer(runner: ConsumerRunner) -> None:
    try:
        runner.run()
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_request_outbox_relay_and_consumer_share_one_trace(spans: InMemorySpanExporter, api_client: Any) -> None:
    topic = Topic.TASK_UPDATES.value
    definition = dataclasses.replace(consumers()["sync"], group_id=f"obs-trace-{uuid.uuid4().hex[:10]}")
    _commit_at_end(definition.group_id, topic)

    response = api_client.post("/api/v1/tasks/", {"title": "trace me"}, format="json")

    assert response.status_code == 201
    [request_span] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    trace_id = request_span.context.trace_id
    # The request's context is stored with its outbox rows ...
    rows = OutboxEvent.objects.filter(key=response.json()["id"])
    assert rows.count() == 2
    assert all(f"{trace_id:032x}" in row.headers["traceparent"] for row in rows)
    # ... the Celery job enqueued on commit is published in the same trace ...
    assert any(
        s.kind == SpanKind.PRODUCER and "relay_outbox_task" in s.name and s.context.trace_id == trace_id
        for s in spans.get_finished_spans()
    )
    # ... the relay publishes each row in a span of that trace ...
    relay.publish_pending()
    [publish] = [
        s for s in spans.get_finished_spans() if s.name == f"{topic} publish" and s.context.trace_id == trace_id
    ]
    assert publish.parent.span_id == request_span.context.span_id
    assert publish.attributes["cloudevents.type"] == "task.created"
    # ... and the consumer handles the record in a child of the publish span.
    stop = threading.Event()
    thread = threading.Thread(target=_run_consumer, args=(ConsumerRunner(definition, stop=stop),), daemon=True)
    thread.start()
    try:
        [process] = wait_until(
            # The broker may report a stale end offset (DESIGN.md section 10), so earlier records
            # of the run can be consumed too: pick this trace's span.
            lambda: [
                s for s in spans.get_finished_spans() if s.name == f"{topic} process" and s.context.trace_id == trace_id
            ],
            timeout=30,
            message="the consumer's process span",
        )
    finally:
        stop.set()
        thread.join(timeout=20)
    assert process.kind == SpanKind.CONSUMER
    assert process.parent.span_id == publish.context.span_id
    assert process.attributes["messaging.consumer.group.name"] == definition.group_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_the_real_processes_export_one_trace_from_request_to_consumer_and_celery_job(
    processes: ManagedProcesses, user: Any
) -> None:
    with OTLPCollector() as collector:
        stack = Stack(processes, OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, OTEL_BSP_SCHEDULE_DELAY="100")
        stack.start_web()
        stack.start_relay()
        stack.start_worker()
        stack.start_consumer("sync")
        stack.wait_ready()
        token = issue_token(subject=user.username, email=user.email)

        status, _, _ = stack.api("POST", "tasks/", token, {"title": "trace me across processes"})
        assert status == 201

        def chain() -> dict[str, ReceivedSpan] | None:
            spans = collector.received()
            requests = [s for s in spans if s.service == "todo-web" and s.kind == SERVER and "tasks" in s.name]
            if not requests:
                return None
            trace = [s for s in spans if s.trace_id == requests[0].trace_id]
            found = {
                "request": requests[0],
                "publish": next(
                    (s for s in trace if s.service == "todo-relay" and s.name == "task-updates publish"), None
                ),
                "process": next((s for s in trace if s.service == "todo-consumer-sync"), None),
                "job": next((s for s in trace if s.service == "todo-worker" and "relay_outbox_task" in s.name), None),
            }
            return found if all(found.values()) else None

        found = wait_until(chain, timeout=30, message="request, relay, consumer and Celery spans in one trace")
    assert found["publish"].parent_span_id == found["request"].span_id
    assert found["process"].parent_span_id == found["publish"].span_id
    assert found["process"].name == "task-updates process"
