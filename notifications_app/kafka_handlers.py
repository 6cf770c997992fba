"""The `notifications` consumer: its definition (topic `reminders`) and its batch handler.

A batch consumer: the `reminder.due` events of a poll batch become notifications with a few
statements in one transaction (`services.batch_creation`), each new one's send job enqueued when
it commits; the runner commits the offsets after that, so a crash redelivers the batch and the
processed event ids (then the one notification per reminder) absorb it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from core import tracing
from core.correlation import new_correlation_id
from core.domain_events import Topic
from kafka_bridge.consumer.dedupe import first_deliveries
from kafka_bridge.records import ConsumedRecord, InvalidRecord
from kafka_bridge.registry import ConsumerDefinition, batch_handler, register_consumer
from notifications_app.selectors import user_emails
from notifications_app.services.batch_creation import ReminderDue, notifications_create_for_reminders, reminder_due
from notifications_app.services.notifications import InvalidReminder

CONSUMER = register_consumer(
    ConsumerDefinition(name="notifications", group_id="notifications", topics=(Topic.REMINDERS.value,), batch=True)
)

CORRELATION_HEADER = "correlation_id"


@batch_handler("notifications")
def create_notifications(records: Sequence[ConsumedRecord]) -> list[InvalidRecord]:
    """One e-mail notification per reminder of the batch's `reminder.due` events: created (or
    found), its send job enqueued on commit. A redelivered event changes nothing. Records that can
    never become a notification (not a valid event, no reminder, an unknown user) are returned
    for the runner to dead-letter, before their event ids are recorded as processed (a redriven
    copy is handled); the other event types on `reminders` are not ours."""
    refused: list[InvalidRecord] = []
    parsed: list[tuple[ConsumedRecord, ReminderDue]] = []
    for record in records:
        event = record.event
        if event is None:
            refused.append(InvalidRecord(record, f"invalid event: {record.error}"))
            continue
        if event.type != "reminder.due":
            continue
        data = event.data if isinstance(event.data, dict) else {}
        # As the per-record runner binds it: the event's, else a new one that follows its job.
        correlation_id = record.headers.get(CORRELATION_HEADER) or event.correlationid or new_correlation_id()
        try:
            due = reminder_due(
                user_id=event.userid,
                task=data.get("task"),
                reminder=data.get("reminder"),
                correlation_id=correlation_id,
            )
        except InvalidReminder as exc:
            refused.append(InvalidRecord(record, str(exc)))
            continue
        parsed.append((record, due))
    emails = user_emails(user_ids=(due.user_id for _, due in parsed))
    known = []
    for record, due in parsed:
        if due.user_id in emails:
            known.append((record, due))
        else:
            refused.append(InvalidRecord(record, f"no user {due.user_id!r}"))
    group = records[0].group if records else ""
    fresh = first_deliveries(group, (record.event.id for record, _ in known)) if group else None
    todo = [(record, due) for record, due in known if fresh is None or record.event.id in fresh]
    with contextlib.ExitStack() as spans:
        if tracing.enabled():
            # A "<topic> process" span per record, child of the context its producer sent.
            for record, _ in todo:
                spans.enter_context(
                    tracing.consume_span(record.headers, topic=record.topic, group=group, event_type="reminder.due")
                )
        notifications_create_for_reminders(due=[due for _, due in todo], emails=emails)
    return refused
