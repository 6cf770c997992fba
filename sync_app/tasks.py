"""Celery jobs of sync_app."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from sync_app.services import sync_updates_prune


@shared_task(name="sync_app.prune_sync_updates")
def prune_sync_updates_task() -> int:
    """Enforce the resume window: delete updates older than SYNC_RETENTION_HOURS."""
    return sync_updates_prune(older_than=timezone.now() - timedelta(hours=settings.SYNC_RETENTION_HOURS))
