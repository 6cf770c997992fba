"""Beat entries of tasks_app (merged into the Celery beat schedule by todo_project/celery.py).

Reminder dispatch runs every REMINDER_DISPATCH_INTERVAL_SECONDS (0.5 s by default), so a reminder
fires at most about that long, plus the pass itself, after its time (fire-lag target: p99 ≤ 1 s).
Like every periodic run, a dispatch run expires once the next is due (1 s here: django-celery-beat
counts whole seconds), so after an overload one pass drains the backlog and stale runs are
discarded.
"""

from __future__ import annotations

from celery.schedules import crontab
from django.conf import settings

BEAT_SCHEDULE = {
    "tasks-dispatch-reminders": {
        "task": "tasks_app.tasks.dispatch_reminders_task",
        "schedule": settings.REMINDER_DISPATCH_INTERVAL_SECONDS,
    },
    # Expired keys are already ignored by the API; pruning only keeps the table small.
    "tasks-prune-idempotency-keys": {
        "task": "tasks_app.tasks.prune_idempotency_keys_task",
        "schedule": crontab(minute=23),
        "options": {"expires": 3600},
    },
}
