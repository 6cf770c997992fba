"""Domain signals to outbox rows: the receivers of every app's declared event routes (DESIGN.md sections 1 and 3).

Services send their app's domain signals inside their transaction; each app declares in its
`events.py` which event each signal becomes and on which topics (`core.domain_events`). The
receivers here turn each signal into one CloudEvent and write it to the outbox, one row per
topic, in that same transaction, so a rolled-back change leaves no event. The relay is woken by
a NOTIFY that the outbox's INSERT trigger sends and PostgreSQL delivers at commit (a looping
relay LISTENs) and, unless KAFKA_OUTBOX_CELERY_WAKEUP is off, through Celery after the commit
(`relay_outbox_task`).

Connected by `KafkaBridgeConfig.ready()`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from core import tracing
from core.correlation import get_correlation_id
from core.domain_events import EventRoute, batched, event_routes
from kafka_bridge import metrics
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import OutboxEvent
from kafka_bridge.schemas import validate_event

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "kafka_bridge_outbox"


def json_ready(value: Any) -> Any:
    """`value` as a consumer will read it back (UUIDs and datetimes slip into signal arguments
    easily), so that the outbox row is exactly the record."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def validate_on_emit(event: CloudEvent) -> None:
    """With KAFKA_VALIDATE_ON_EMIT (the test suite), check an emitted event as a consumer will:
    a service that emits an event breaking its schema fails there, not in a consumer's DLQ."""
    if settings.KAFKA_VALIDATE_ON_EMIT:
        validate_event(event)


def outbox_rows(
    event: CloudEvent, topics: tuple[str, ...], extra_headers: dict[str, str] | None = None
) -> list[OutboxEvent]:
    """The unsaved outbox rows of `event`: one per topic, keyed by the subject (the task id),
    with the `ce_id`, `ce_type` and `correlation_id` headers (plus `extra_headers`)."""
    headers = {"ce_id": event.id, "ce_type": event.type}
    if event.correlationid:
        headers["correlation_id"] = event.correlationid
    # The trace context of the change (with OpenTelemetry on), continued by the relay.
    headers.update(tracing.trace_headers())
    headers.update(extra_headers or {})
    value = event.to_dict()
    return [
        OutboxEvent(
            event_id=event.id, event_type=event.type, topic=topic, key=event.subject, value=value, headers=headers
        )
        for topic in topics
    ]


def _insert_rows(rows: list[OutboxEvent]) -> None:
    OutboxEvent.objects.insert_all(rows)


def record_event(
    event: CloudEvent, topics: tuple[str, ...], extra_headers: dict[str, str] | None = None
) -> list[OutboxEvent]:
    """Write `event` to the outbox, one row per topic, in the caller's transaction, and wake the
    relay once that transaction commits. Record key: the event's subject (the task id). The
    stored value gets the event's CloudEvents `sequence` (`OutboxEventManager.insert_all`).
    Within `outbox_batch()` the rows are saved (and get their ids and sequence) when the batch
    ends, all in one INSERT."""
    rows = outbox_rows(event, topics, extra_headers)
    batch = batched(_insert_rows)
    if batch is None:
        rows = OutboxEvent.objects.insert_all(rows)
    else:
        batch.extend(rows)
    for topic in topics:
        metrics.EVENTS_RECORDED.labels(topic, event.type).inc()
    _wake_relay_on_commit()
    return rows


def _wake_relay() -> None:
    from kafka_bridge.tasks import relay_outbox_task

    try:
        # A relay task that waited a minute is pointless: the beat sweep will have run by then.
        relay_outbox_task.apply_async(expires=60)
    except Exception:  # noqa: BLE001 - the write is committed; the sweep and the relay loop catch up
        logger.warning("could not enqueue the outbox relay; the sweep will publish", exc_info=True)


def _wake_relay_on_commit() -> None:
    # A looping relay (`relay_outbox --loop`) LISTENs: the outbox's INSERT trigger NOTIFYs, and
    # PostgreSQL delivers that only when the transaction commits (migration 0002). Celery wakes
    # the relay where no loop runs; where one does, KAFKA_OUTBOX_CELERY_WAKEUP=false saves a
    # broker publish per write (and a worker job). One wake-up per transaction is enough: the
    # relay publishes everything pending.
    if not settings.KAFKA_OUTBOX_CELERY_WAKEUP:
        return
    if any(callback is _wake_relay for _, callback, _ in connection.run_on_commit):
        return
    transaction.on_commit(_wake_relay, robust=True)


def _receiver(route: EventRoute) -> Callable[..., None]:
    def receive(sender: Any, *, task_id: Any, user_id: Any, event_id: Any = None, **kwargs: Any) -> None:
        # A sender that must refer to the event (a dead letter naming it) chooses its id.
        identity = {"id": str(event_id)} if event_id is not None else {}
        event = CloudEvent(
            **identity,
            type=route.event_type,
            source=route.source,
            subject=str(task_id),
            userid=str(user_id),
            correlationid=get_correlation_id(),
            data=json_ready(route.data(**kwargs)),
        )
        validate_on_emit(event)
        record_event(event, route.topics)

    receive.__name__ = f"record_{route.event_type.replace('.', '_')}"
    return receive


def connect() -> None:
    """Connect a receiver to every declared route's signal (idempotent: dispatch_uid)."""
    for route in event_routes():
        route.signal.connect(_receiver(route), dispatch_uid=f"kafka_bridge.outbox.{route.event_type}", weak=False)
