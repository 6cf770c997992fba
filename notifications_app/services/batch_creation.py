"""Notifications for a poll batch of `reminder.due` events, in a few statements whatever its size.

The notifications consumer used to handle each event in a transaction of its own: about eight
PostgreSQL round trips and a commit per reminder, one after the other. With the workers sending
meanwhile, each round trip waited on a busy database and the consumer, not the sending, set the
pace (bench/README.md, scenario 6b). Here a batch costs a fixed number of statements, and each
reminder keeps the contract of `notification_create_for_reminder`: one notification per reminder
and channel, its send job enqueued once the transaction commits, a user without an e-mail address
`skipped`, and a dead notification requeued by a new `reminder.due` (a redriven dead letter).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from core.correlation import correlation_scope_if_given
from notifications_app.models import Notification, NotificationChannel, NotificationStatus
from notifications_app.selectors import user_emails
from notifications_app.services.notifications import (
    InvalidReminder,
    enqueue_sends_on_commit,
    new_notification_fields,
    notification_requeue,
    parse_reminder_ids,
)

MAX_USER_ID = 2**63 - 1  # user ids are bigint: a larger one can name no user


@dataclass(frozen=True)
class ReminderDue:
    """One `reminder.due`, checked (`reminder_due`): whose, which task and reminder, and the data
    the e-mail is rendered from."""

    user_id: int
    task_id: uuid.UUID
    reminder_id: uuid.UUID
    payload: dict[str, Any]
    correlation_id: str | None = None


def reminder_due(*, user_id: Any, task: Any, reminder: Any, correlation_id: str | None = None) -> ReminderDue:
    """The reminder a `reminder.due` names; `InvalidReminder` if it can never become a notification."""
    task_id, reminder_id = parse_reminder_ids(task=task, reminder=reminder)
    text = str(user_id)
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_USER_ID):
        raise InvalidReminder(f"no user {user_id!r}")
    return ReminderDue(int(text), task_id, reminder_id, {"task": task, "reminder": reminder}, correlation_id)


@transaction.atomic
def notifications_create_for_reminders(
    *, due: Sequence[ReminderDue], emails: dict[int, str], channel: str = NotificationChannel.EMAIL
) -> int:
    """The one notification of each reminder in `due` on `channel`; `emails` holds the address of
    every user of `due` (empty: none). Returns the number created. New ones with an address get
    their send job enqueued on commit; a dead one is requeued (fresh attempts, same Message-ID);
    any other existing one is left as it is. A reminder named twice counts once."""
    wanted: dict[uuid.UUID, ReminderDue] = {}
    for item in due:
        wanted.setdefault(item.reminder_id, item)
    if not wanted:
        return 0
    existing = {
        notification.reminder_id: notification
        for notification in Notification.objects.filter(channel=channel, reminder_id__in=list(wanted))
        .order_by()
        .only("id", "reminder_id", "status")
    }
    new = []
    for reminder_id, item in wanted.items():
        if reminder_id not in existing:
            fields = new_notification_fields(new_id=uuid.uuid4(), email=emails[item.user_id], payload=item.payload)
            new.append(
                Notification(
                    reminder_id=reminder_id, channel=channel, user_id=item.user_id, task_id=item.task_id, **fields
                )
            )
    # A concurrent member (during a rebalance) may insert the same reminder meanwhile: its row wins,
    # and only the rows written here are enqueued here.
    Notification.objects.bulk_create(new, ignore_conflicts=True)
    new_ids = [notification.id for notification in new]
    written = set(Notification.objects.filter(id__in=new_ids).values_list("id", flat=True)) if new else set()
    # A few notifications per send job; each e-mail is sent under its own event's correlation id.
    enqueue_sends_on_commit(
        [
            (notification.id, wanted[notification.reminder_id].correlation_id)
            for notification in new
            if notification.id in written and notification.status == NotificationStatus.QUEUED
        ]
    )
    for reminder_id, notification in existing.items():
        if notification.status == NotificationStatus.DEAD:
            with correlation_scope_if_given(wanted[reminder_id].correlation_id):
                notification_requeue(notification_id=notification.id)
    return len(written)


@transaction.atomic
def notification_create_for_reminder(
    *, user_id: Any, task: dict[str, Any], reminder: dict[str, Any], channel: str = NotificationChannel.EMAIL
) -> tuple[Notification, bool]:
    """The one notification of `reminder` on `channel` (created if new, with its send job enqueued
    on commit). A user without an e-mail address gets a `skipped` record and no job.

    A `reminder.due` for a reminder whose notification is already dead is an operator's request
    to try again (a record redriven from `reminders.dlq`, see DESIGN.md section 6): the dead
    notification is requeued with fresh attempts and its original Message-ID. For any other
    existing notification it changes nothing.

    The one-reminder case of `notifications_create_for_reminders` (tests, tools)."""
    due = reminder_due(user_id=user_id, task=task, reminder=reminder)
    emails = user_emails(user_ids=[due.user_id])
    if due.user_id not in emails:
        raise InvalidReminder(f"no user {user_id!r}")
    created = notifications_create_for_reminders(due=[due], emails=emails, channel=channel)
    return Notification.objects.get(reminder_id=due.reminder_id, channel=channel), created == 1
