"""Notification: the delivery record of one reminder on one channel (DESIGN.md section 6).

A notification is created once per (reminder, channel) by the `reminder.due` handler and moves
through these states, written only by `notifications_app.services`:

    queued ──▶ sending ──▶ sent ──▶ delivered | bounced | complained   (ESP tracking webhooks)
                  │  ▲
                  ▼  │ (transient error, attempts left; a crashed attempt also comes back here)
                failed
                  │
                  ▼ (permanent error, or attempts exhausted)
                dead ──▶ queued   (an operator redrives it from reminders.dlq)
    skipped: nothing to send (the user has no e-mail address)
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class NotificationStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    FAILED = "failed"
    DEAD = "dead"
    SKIPPED = "skipped"


# Statuses in which the e-mail has left us: never send it again.
FINAL_SENT_STATUSES = frozenset(
    {NotificationStatus.SENT, NotificationStatus.DELIVERED, NotificationStatus.BOUNCED, NotificationStatus.COMPLAINED}
)


class NotificationChannel(models.TextChoices):
    EMAIL = "email"


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    # Plain ids, not foreign keys: the delivery history outlives a deleted task or reminder.
    task_id = models.UUIDField()
    reminder_id = models.UUIDField()
    channel = models.CharField(max_length=16, choices=NotificationChannel.choices, default=NotificationChannel.EMAIL)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    recipient = models.CharField(max_length=254, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Our own Message-ID header, fixed at creation: every attempt (and any repeat after a crash)
    # carries the same one, so receivers and ESPs can recognise a duplicate.
    message_id = models.CharField(max_length=255, unique=True)
    provider_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    # What the e-mail is about, as the `reminder.due` event described it (task and reminder
    # representations), so the e-mail renders the same whatever happens to the task later.
    payload = models.JSONField(default=dict)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A send attempt owns the record until then; after a crash it is retried once this passes.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=("reminder_id", "channel"), name="notification_unique_reminder_channel"),
        ]
        indexes = [
            models.Index(fields=("user", "-created_at"), name="notification_user_created"),
            models.Index(fields=("user", "task_id"), name="notification_user_task"),
            # The stale-work sweep looks only at unfinished records.
            models.Index(
                fields=("status", "updated_at"),
                name="notification_pending",
                condition=models.Q(status__in=("queued", "sending", "failed")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} notification {self.id} ({self.status})"
