"""Notification records: created from `reminder.due`, requeued by operators, updated by ESP
tracking webhooks, and swept for work whose Celery job was lost."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.correlation import correlation_scope_if_given, get_correlation_id
from notifications_app.emails import notification_message_id
from notifications_app.models import (
    FINAL_SENT_STATUSES,
    Notification,
    NotificationStatus,
)

logger = logging.getLogger(__name__)


class InvalidReminder(ValueError):
    """The `reminder.due` event cannot become a notification (it never will: dead-letter it)."""


def enqueue_send_on_commit(notification_id: Any) -> None:
    """Enqueue the notification's send job once the transaction commits, under the correlation id
    current now (a batch's commit runs outside its events' scopes)."""
    from notifications_app.tasks import enqueue_send_notification  # the task module imports services

    correlation_id = get_correlation_id()

    def enqueue() -> None:
        with correlation_scope_if_given(correlation_id):
            enqueue_send_notification(notification_id)

    transaction.on_commit(enqueue)


def enqueue_sends_on_commit(notifications: list[tuple[Any, str | None]]) -> None:
    """Enqueue the send jobs of (notification id, correlation id) pairs once the transaction
    commits, a few notifications per job (`tasks.enqueue_send_notifications`)."""
    from notifications_app.tasks import enqueue_send_notifications  # the task module imports services

    if notifications:
        transaction.on_commit(lambda: enqueue_send_notifications(notifications))


def _uuid(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError) as exc:
        raise InvalidReminder(f"{name} is not a UUID: {value!r}") from exc


def parse_reminder_ids(*, task: Any, reminder: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """(task id, reminder id) of a `reminder.due`'s data; `InvalidReminder` if it has none."""
    if not isinstance(task, dict) or not isinstance(reminder, dict):
        raise InvalidReminder("the event needs a task and a reminder object")
    reminder_id = _uuid(reminder.get("id"), "reminder.id")
    task_id = _uuid(reminder.get("task_id") or task.get("id"), "task id")
    return task_id, reminder_id


def new_notification_fields(*, new_id: uuid.UUID, email: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    """A new notification's own fields: its id and Message-ID, the payload, and `queued`, or
    `skipped` for a user without an e-mail address."""
    has_address = bool((email or "").strip())
    return {
        "id": new_id,
        "message_id": notification_message_id(new_id),
        "payload": payload,
        "status": NotificationStatus.QUEUED if has_address else NotificationStatus.SKIPPED,
        "last_error": "" if has_address else "the user has no e-mail address",
    }


@transaction.atomic
def notification_requeue(*, notification_id: Any) -> bool:
    """Give a dead notification a fresh set of attempts (after its cause was fixed). It keeps its
    Message-ID. Returns False, changing nothing, unless the notification is dead."""
    notification = Notification.objects.select_for_update().filter(id=notification_id).first()
    if notification is None or notification.status != NotificationStatus.DEAD:
        return False
    notification.status = NotificationStatus.QUEUED
    notification.attempts = 0
    notification.dead_at = None
    notification.next_attempt_at = None
    notification.lease_expires_at = None
    notification.save(
        update_fields=["status", "attempts", "dead_at", "next_attempt_at", "lease_expires_at", "updated_at"]
    )
    enqueue_send_on_commit(notification.id)
    logger.info("notification requeued", extra={"notification_id": str(notification.id)})
    return True


# anymail's normalized tracking event types → our status; a later, "worse" report wins.
TRACKING_STATUS = {
    "delivered": NotificationStatus.DELIVERED,
    "bounced": NotificationStatus.BOUNCED,
    "rejected": NotificationStatus.BOUNCED,
    "complained": NotificationStatus.COMPLAINED,
}
_RANK = {
    NotificationStatus.SENDING: 0,
    NotificationStatus.SENT: 1,
    NotificationStatus.DELIVERED: 2,
    NotificationStatus.BOUNCED: 3,
    NotificationStatus.COMPLAINED: 4,
}


@transaction.atomic
def notification_record_tracking(
    *,
    event_type: str,
    provider_message_id: str | None,
    notification_id: Any = None,
    occurred_at: datetime | None = None,
    description: str = "",
) -> int:
    """Apply an ESP tracking event (delivered, bounced, rejected, complained) to the notification it
    is about, found by the ESP's message id or the `notification_id` metadata we sent. Events may
    arrive in any order, or twice: a status only ever moves forward. Returns rows changed."""
    new_status = TRACKING_STATUS.get(event_type)
    if new_status is None:
        return 0
    lookup = Q()
    if provider_message_id:
        lookup |= Q(provider_message_id=provider_message_id)
    if notification_id:
        with contextlib.suppress(ValueError):
            lookup |= Q(id=uuid.UUID(str(notification_id)))
    if not lookup:
        return 0
    changed = 0
    for notification in Notification.objects.select_for_update().filter(lookup):
        if notification.status not in FINAL_SENT_STATUSES | {NotificationStatus.SENDING}:
            continue
        if _RANK[new_status] <= _RANK[notification.status]:
            continue
        notification.status = new_status
        fields = ["status", "updated_at"]
        if new_status == NotificationStatus.DELIVERED:
            notification.delivered_at = occurred_at or timezone.now()
            fields.append("delivered_at")
        elif description:
            notification.last_error = description[:2000]
            fields.append("last_error")
        notification.save(update_fields=fields)
        changed += 1
    return changed


def notifications_requeue_stale(*, now: datetime | None = None, grace_seconds: float = 60.0, limit: int = 500) -> int:
    """Enqueue a send job for every notification whose own job looks lost: queued for longer than
    `grace_seconds`, a retry overdue by that much, or a send lease expired that long ago. A job
    that turns out to be a duplicate does nothing (the claim decides). Returns the number enqueued."""
    from notifications_app.tasks import enqueue_send_notification

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=grace_seconds)
    stale = Q(status=NotificationStatus.QUEUED, updated_at__lt=cutoff)
    stale |= Q(status=NotificationStatus.FAILED, next_attempt_at__lt=cutoff)
    stale |= Q(status=NotificationStatus.SENDING, lease_expires_at__lt=cutoff)
    ids = list(Notification.objects.filter(stale).order_by("updated_at").values_list("id", flat=True)[:limit])
    for notification_id in ids:
        enqueue_send_notification(notification_id)
    if ids:
        logger.warning("requeued stale notifications", extra={"count": len(ids)})
    return len(ids)
