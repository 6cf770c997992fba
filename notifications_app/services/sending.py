"""Sending notifications, a few per job: claim them, send each e-mail, record each outcome.

Each step that writes is a short transaction, and the e-mails are sent between them, outside any
transaction, over the thread's one SMTP connection, so a slow mail server never holds a row lock
or a database connection open in a transaction. One claim (one commit) leases the job's whole
batch, where a job per e-mail paid a PostgreSQL connection, a claim commit and a broker message
each (bench/README.md, scenario 6b). Each accepted e-mail is recorded `sent` at once, in a
transaction of its own: recording the batch at its end would make every e-mail the server had
already accepted go out again after a worker is killed. The claim leases each record (`sending`
until `lease_expires_at`):

- a sent, dead or skipped notification is never sent again, however often its job runs;
- a job that finds another attempt's lease still running comes back when it ends;
- a worker killed mid-send leaves the record `sending`; once the lease has passed, the redelivered
  job (acks late) or the stale-work sweep sends it again, with the same Message-ID. That repeat
  can reach the recipient twice only if the kill fell between the server's acceptance and the
  commit of `sent`.

A dead notification (permanent failure, or attempts exhausted) emits `reminder.failed` on
`reminders` and writes one dead letter to `reminders.dlq`: a redrivable `reminder.due` copy
(`services.dead_letters`). Sending it again once the cause is fixed:
- a `reminder.due` for the notification's reminder requeues it (fresh attempts, same Message-ID;
  `notification_create_for_reminder`): `redrive_dlq reminders` delivers that copy;
- staff: the admin action "Send selected dead notifications again", or
  `manage.py requeue_notifications` (by id, task, or every dead one since a time).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.correlation import correlation_scope_if_given
from notifications_app import mail_connections, metrics, signals
from notifications_app.delivery_errors import SendFailure, classify_send_error, retry_delay
from notifications_app.emails import build_reminder_message, render_reminder_email
from notifications_app.models import FINAL_SENT_STATUSES, Notification, NotificationStatus
from notifications_app.representations import notification_event_representation
from notifications_app.services.dead_letters import notification_dead_letter

logger = logging.getLogger(__name__)

# A retry job may run a moment before `next_attempt_at` (clock skew between hosts).
_EARLY_TOLERANCE = timedelta(seconds=1)
_NOT_TO_SEND = FINAL_SENT_STATUSES | {NotificationStatus.DEAD, NotificationStatus.SKIPPED}


@dataclass(frozen=True)
class Claim:
    notification_id: Any
    attempt: int
    recipient: str
    message_id: str
    payload: dict[str, Any]
    user_name: str


@dataclass(frozen=True)
class SendResult:
    """What the job should do next: nothing (`retry_in` None) or run again after `retry_in` s."""

    status: str
    retry_in: float | None = None


def _enqueue_send(notification_id: Any, countdown: float = 0.0) -> None:
    from notifications_app.tasks import enqueue_send_notification  # the task module imports us

    transaction.on_commit(lambda: enqueue_send_notification(notification_id, countdown=countdown))


def _outcome_signal_kwargs(notification: Notification) -> dict[str, Any]:
    """What `reminder_sent` and `reminder_failed` carry (their payload models: notifications_app/event_payloads.py)."""
    return {
        "task_id": notification.task_id,
        "user_id": notification.user_id,
        "reminder": notification.payload.get("reminder", {}),
        "task": notification.payload.get("task", {}),
        "notification": notification_event_representation(notification),
    }


def _emit_failed(notification: Notification, reason: str) -> None:
    # The dead letter names the reminder.failed event, so the event's id is chosen here.
    failed_event_id = str(uuid.uuid4())
    signals.reminder_failed.send(
        sender=Notification, reason=reason, event_id=failed_event_id, **_outcome_signal_kwargs(notification)
    )
    notification_dead_letter(notification=notification, reason=reason, failed_event_id=failed_event_id)


def _mark_dead(notification: Notification, *, reason: str, now: datetime) -> None:
    notification.status = NotificationStatus.DEAD
    notification.last_error = reason
    notification.dead_at = now
    notification.lease_expires_at = None
    notification.next_attempt_at = None
    notification.save(
        update_fields=["status", "last_error", "dead_at", "lease_expires_at", "next_attempt_at", "updated_at"]
    )
    _emit_failed(notification, reason)
    metrics.NOTIFICATION_ATTEMPTS.labels("dead").inc()
    logger.warning("notification dead", extra={"notification_id": str(notification.id), "reason": reason[:500]})


def _claim_one(notification: Notification, now: datetime) -> Claim | SendResult:
    """Lease one locked notification for a send attempt (its fields set, not saved), or say why
    not (a `SendResult`; the rare outcomes that write, skipped and dead, save here)."""
    if notification.status in _NOT_TO_SEND:
        return SendResult(status=notification.status)
    if notification.status == NotificationStatus.SENDING and (notification.lease_expires_at or now) > now:
        return SendResult(status="leased", retry_in=(notification.lease_expires_at - now).total_seconds())
    if (
        notification.status == NotificationStatus.FAILED
        and notification.next_attempt_at
        and notification.next_attempt_at > now + _EARLY_TOLERANCE
    ):
        # A duplicate job (the sweep's, or a redelivery): the scheduled retry will come.
        return SendResult(status="not_due")
    recipient = (notification.user.email or "").strip()
    if not recipient:
        notification.status = NotificationStatus.SKIPPED
        notification.last_error = "the user has no e-mail address"
        notification.save(update_fields=["status", "last_error", "updated_at"])
        return SendResult(status=NotificationStatus.SKIPPED)
    if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        # Only attempts that never reported back (crashed workers) get here.
        reason = f"gave up after {notification.attempts} attempts; last error: {notification.last_error or 'none'}"
        _mark_dead(notification, reason=reason, now=now)
        return SendResult(status=NotificationStatus.DEAD)
    notification.status = NotificationStatus.SENDING
    notification.attempts += 1
    notification.recipient = recipient
    notification.lease_expires_at = now + timedelta(seconds=settings.NOTIFICATION_SEND_LEASE_SECONDS)
    notification.next_attempt_at = None
    notification.updated_at = now  # bulk_update does not apply auto_now
    user = notification.user
    return Claim(
        notification_id=notification.id,
        attempt=notification.attempts,
        recipient=recipient,
        message_id=notification.message_id,
        payload=notification.payload,
        user_name=(user.get_full_name() or user.get_username()),
    )


_CLAIM_FIELDS = ["status", "attempts", "recipient", "lease_expires_at", "next_attempt_at", "updated_at"]


@transaction.atomic
def notifications_claim(
    *, notification_ids: Sequence[Any], now: datetime | None = None
) -> dict[str, Claim | SendResult]:
    """Take each notification for one send attempt, or say why not (a `SendResult`), keyed by
    the id as given; one transaction and one UPDATE for the leases, whatever the batch's size."""
    now = now or timezone.now()
    # Locked in id order: two jobs claiming overlapping batches cannot deadlock.
    rows = Notification.objects.select_for_update(of=("self",)).select_related("user").order_by("id")
    found = {str(notification.id): notification for notification in rows.filter(id__in=list(notification_ids))}
    outcomes: dict[str, Claim | SendResult] = {}
    leased = []
    for notification_id in notification_ids:
        key = str(notification_id)
        if key in outcomes:
            continue
        notification = found.get(key)
        outcomes[key] = SendResult(status="missing") if notification is None else _claim_one(notification, now)
        if isinstance(outcomes[key], Claim):
            leased.append(notification)
    Notification.objects.bulk_update(leased, _CLAIM_FIELDS)
    return outcomes


def notification_claim(*, notification_id: Any, now: datetime | None = None) -> Claim | SendResult:
    """Take the notification for one send attempt, or say why not (a `SendResult`)."""
    return notifications_claim(notification_ids=[notification_id], now=now)[str(notification_id)]


@transaction.atomic
def notification_record_sent(*, claim: Claim, provider_message_id: str, now: datetime | None = None) -> SendResult:
    """The server or ESP accepted the e-mail: `sent`, and `reminder.sent` is emitted once."""
    now = now or timezone.now()
    notification = Notification.objects.select_for_update().get(id=claim.notification_id)
    if notification.sent_at is not None:
        return SendResult(status=notification.status)  # a concurrent attempt got there first
    # An ESP's tracking webhook may have beaten this commit (delivered/bounced): keep its status.
    if notification.status not in FINAL_SENT_STATUSES:
        notification.status = NotificationStatus.SENT
    notification.sent_at = now
    notification.provider_message_id = provider_message_id
    notification.lease_expires_at = None
    notification.last_error = ""
    notification.save(
        update_fields=["status", "sent_at", "provider_message_id", "lease_expires_at", "last_error", "updated_at"]
    )
    signals.reminder_sent.send(sender=Notification, **_outcome_signal_kwargs(notification))
    metrics.NOTIFICATION_ATTEMPTS.labels("sent").inc()
    return SendResult(status=NotificationStatus.SENT)


@transaction.atomic
def notification_record_failure(*, claim: Claim, failure: SendFailure, now: datetime | None = None) -> SendResult:
    """A send attempt failed: retry later (`failed`) when transient and attempts remain, else `dead`."""
    now = now or timezone.now()
    notification = Notification.objects.select_for_update().get(id=claim.notification_id)
    if notification.status in _NOT_TO_SEND:
        return SendResult(status=notification.status)
    if not failure.transient:
        _mark_dead(notification, reason=f"permanent failure: {failure.reason}", now=now)
        return SendResult(status=NotificationStatus.DEAD)
    if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        _mark_dead(notification, reason=f"gave up after {notification.attempts} attempts: {failure.reason}", now=now)
        return SendResult(status=NotificationStatus.DEAD)
    delay = retry_delay(
        notification.attempts,
        base=settings.NOTIFICATION_RETRY_BASE_SECONDS,
        cap=settings.NOTIFICATION_RETRY_MAX_SECONDS,
    )
    notification.status = NotificationStatus.FAILED
    notification.last_error = failure.reason
    notification.lease_expires_at = None
    notification.next_attempt_at = now + timedelta(seconds=delay)
    notification.save(update_fields=["status", "last_error", "lease_expires_at", "next_attempt_at", "updated_at"])
    _enqueue_send(notification.id, countdown=delay)
    metrics.NOTIFICATION_ATTEMPTS.labels("retry").inc()
    logger.info(
        "notification send failed, will retry",
        extra={"notification_id": str(notification.id), "attempt": notification.attempts, "retry_in": delay},
    )
    return SendResult(status=NotificationStatus.FAILED)


@transaction.atomic
def notification_release(*, claim: Claim, now: datetime | None = None) -> SendResult:
    """The job ran out of time before sending this one: give its lease back, the attempt not
    counted (nothing was tried), and send it in a job of its own at once."""
    now = now or timezone.now()
    notification = Notification.objects.select_for_update().get(id=claim.notification_id)
    if notification.status != NotificationStatus.SENDING:
        return SendResult(status=notification.status)
    notification.status = NotificationStatus.FAILED
    notification.attempts = max(0, notification.attempts - 1)
    notification.last_error = "not sent: the job's earlier sends took half the send lease"
    notification.lease_expires_at = None
    notification.next_attempt_at = now
    notification.save(
        update_fields=["status", "attempts", "last_error", "lease_expires_at", "next_attempt_at", "updated_at"]
    )
    _enqueue_send(notification.id)
    return SendResult(status="released")


def send_email_for_claim(claim: Claim) -> str:
    """Render and send the e-mail; returns the provider's message id (our Message-ID for SMTP).
    Raises whatever the backend raises."""
    rendered = render_reminder_email(
        task=claim.payload.get("task", {}), reminder=claim.payload.get("reminder", {}), user_name=claim.user_name
    )
    message = build_reminder_message(
        notification_id=claim.notification_id, message_id=claim.message_id, recipient=claim.recipient, rendered=rendered
    )
    sent = mail_connections.send_message(message)
    if not sent:
        raise RuntimeError("the e-mail backend reported nothing sent")
    # anymail ESP backends report the ESP's id (one recipient: a single value); SMTP has only ours.
    provider_id = getattr(getattr(message, "anymail_status", None), "message_id", None)
    if isinstance(provider_id, (set, frozenset, list, tuple)):
        provider_id = next(iter(provider_id), None)
    return str(provider_id or claim.message_id)[:255]


def notifications_deliver(
    *, notification_ids: Sequence[Any], correlation_ids: Sequence[str | None] | None = None
) -> dict[str, SendResult]:
    """One send attempt for each notification, end to end, keyed by the id as given; each
    e-mail sent and logged under its correlation id (`correlation_ids`, in the same order; none:
    the caller's). Safe to run any number of times for the same notifications."""
    scopes = {str(n): c for n, c in zip(notification_ids, correlation_ids or (), strict=False)}
    claims = notifications_claim(notification_ids=notification_ids)
    # Past half the lease another attempt could soon take the rest: they are retried instead.
    send_until = time.monotonic() + settings.NOTIFICATION_SEND_LEASE_SECONDS / 2
    outcomes: dict[str, SendResult] = {}
    for key, claim in claims.items():
        if not isinstance(claim, Claim):
            outcomes[key] = claim
            continue
        with correlation_scope_if_given(scopes.get(key)):
            if time.monotonic() > send_until:
                outcomes[key] = notification_release(claim=claim)
                continue
            try:
                provider_message_id = send_email_for_claim(claim)
            except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded, none is lost
                outcomes[key] = notification_record_failure(claim=claim, failure=classify_send_error(exc))
                continue
            outcomes[key] = notification_record_sent(claim=claim, provider_message_id=provider_message_id)
    return {str(n): outcomes[str(n)] for n in notification_ids}


def notification_deliver(*, notification_id: Any) -> SendResult:
    """One send attempt, end to end (the one-notification case of `notifications_deliver`)."""
    return notifications_deliver(notification_ids=[notification_id])[str(notification_id)]
