"""Beat entries of notifications_app (merged into the beat schedule by todo_project/celery.py).

Dispatch runs every REMINDER_DISPATCH_INTERVAL_SECONDS (0.5 s by default) so a reminder fires at
most about that long, plus the pass itself, after its time (fire-lag target: p99 ≤ 1 s; with 1 s
the polling alone puts p99 at 1 s, bench/README.md). Like every periodic run, a dispatch run
expires once the next is due (todo_project/celery.py; 1 s here, django-celery-beat counts whole
seconds): after an overload one pass drains the backlog, and the stale runs are discarded.
"""

from __future__ import annotations

from django.conf import settings

BEAT_SCHEDULE = {
    "notifications-dispatch-reminders": {
        "task": "notifications_app.tasks.dispatch_reminders_task",
        "schedule": settings.REMINDER_DISPATCH_INTERVAL_SECONDS,
    },
    "notifications-requeue-stale": {
        "task": "notifications_app.tasks.requeue_stale_notifications_task",
        "schedule": 60.0,
    },
}
