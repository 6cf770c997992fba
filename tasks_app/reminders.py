"""Reminder dispatch: due reminders are marked fired and become `reminder.due` events, each exactly once.

Reminders are rows (`Reminder`), not long-delay Celery ETA tasks: RabbitMQ's consumer
timeout kills workers holding those, and rows survive restarts. A pass claims scheduled reminders
whose `remind_at` has passed with `SELECT … FOR UPDATE SKIP LOCKED` (the partial index on
`remind_at` where scheduled), marks them fired and sends `reminder_due` for each, all in one
transaction: kafka_bridge records the events in the outbox in that same transaction, so a
reminder is fired and announced together or not at all. Concurrent passes (several beat
schedulers, workers or `dispatch_reminders` loops) skip each other's locked rows, and a committed
row is no longer `scheduled`, so nothing fires twice. Cancelled reminders are never `scheduled`
again and a moved one has a new `remind_at`: tasks_app's services change both under the row lock
this pass takes, so they never fire. What happens next (a notification, its delivery) is the
business of `reminder.due`'s consumers; the reminder itself stays `fired`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from core.domain_events import outbox_batch
from tasks_app import metrics, signals
from tasks_app.models import Reminder, ReminderStatus
from tasks_app.representations import isoformat, reminder_representation, task_representation

logger = logging.getLogger(__name__)


@transaction.atomic
def reminders_dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Fire up to `limit` due reminders (oldest first) and emit `reminder.due` for each.

    A reminder more than `REMINDER_LATE_AFTER_SECONDS` behind its `remind_at` (the system was
    down or backlogged) still fires, marked `late`. Returns the number fired.
    """
    now = now or timezone.now()
    late_after = timedelta(seconds=settings.REMINDER_LATE_AFTER_SECONDS)
    reminders = list(
        Reminder.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=ReminderStatus.SCHEDULED, remind_at__lte=now)
        .select_related("task", "task__owner")
        .prefetch_related("task__tags", "task__reminders")
        .order_by("remind_at")[:limit]
    )
    if not reminders:
        return 0
    # One UPDATE for the batch (bulk_update's per-row CASE is far slower for hundreds of rows).
    Reminder.objects.filter(pk__in=[reminder.pk for reminder in reminders]).update(
        status=ReminderStatus.FIRED,
        fired_at=now,
        updated_at=now,
        late=Case(When(remind_at__lt=now - late_after, then=Value(True)), default=Value(False)),
    )
    for reminder in reminders:
        reminder.status, reminder.fired_at, reminder.updated_at = ReminderStatus.FIRED, now, now
        reminder.late = reminder.remind_at < now - late_after
    fired = {reminder.id: reminder for reminder in reminders}
    with outbox_batch():  # one outbox INSERT for the pass, not one per reminder
        for reminder in reminders:
            task = reminder.task
            # The task representation lists its reminders from the prefetch, read before this update.
            for listed in task.reminders.all():
                if listed.id in fired:
                    listed.status, listed.fired_at, listed.late = ReminderStatus.FIRED, now, fired[listed.id].late
            representation = reminder_representation(reminder)
            representation.update(fired_at=isoformat(reminder.fired_at), late=reminder.late)
            signals.reminder_due.send(
                sender=Reminder,
                task_id=task.id,
                user_id=task.owner_id,
                reminder=representation,
                task=task_representation(task),
            )
    late = sum(1 for reminder in reminders if reminder.late)
    for reminder in reminders:
        metrics.REMINDER_FIRE_LAG.observe(max((now - reminder.remind_at).total_seconds(), 0.0))
    metrics.REMINDERS_FIRED.labels("true").inc(late)
    metrics.REMINDERS_FIRED.labels("false").inc(len(reminders) - late)
    logger.info("reminders fired", extra={"count": len(reminders), "late": late})
    return len(reminders)
