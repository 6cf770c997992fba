"""Beat entries of audit_app (merged into the Celery beat schedule by todo_project/celery.py)."""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE = {
    # Daily, off the hour; it also creates a week of partitions ahead, so a missed day or two
    # never sends rows to the DEFAULT partition.
    "audit-retention": {
        "task": "audit_app.tasks.enforce_audit_retention_task",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 6 * 3600},
    },
}
