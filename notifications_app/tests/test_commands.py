"""Operator command: requeue_notifications."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.factories import make_notification

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_requeue_notifications_requeues_only_dead_ones_and_dry_run_changes_nothing(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    dead, sent = make_notification(user), make_notification(user)
    Notification.objects.filter(id=dead.id).update(status=NotificationStatus.DEAD, dead_at=timezone.now())
    Notification.objects.filter(id=sent.id).update(status=NotificationStatus.SENT)

    assert "would requeue 1 notification(s)" in _call("requeue_notifications", "--all-dead", "--dry-run")
    assert Notification.objects.get(id=dead.id).status == NotificationStatus.DEAD
    with django_capture_on_commit_callbacks() as callbacks:
        assert "requeued 1 notification(s)" in _call("requeue_notifications", "--task", str(dead.task_id))
    assert Notification.objects.get(id=dead.id).status == NotificationStatus.QUEUED
    assert Notification.objects.get(id=sent.id).status == NotificationStatus.SENT
    assert len(callbacks) == 1


def test_requeue_notifications_rejects_bad_ids() -> None:
    with pytest.raises(CommandError, match="not a UUID"):
        _call("requeue_notifications", "--id", "nope")
