"""Celery tasks of audit_app."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from audit_app.services import audit_retention_enforce


@shared_task(ignore_result=True)
def enforce_audit_retention_task() -> dict[str, object]:
    """Daily: drop/delete audit entries older than AUDIT_RETENTION_DAYS, create partitions ahead."""
    report = audit_retention_enforce(days=settings.AUDIT_RETENTION_DAYS)
    return {
        "created": report.created,
        "dropped": report.dropped,
        "deleted": report.deleted,
        "failed": report.failed,
    }
