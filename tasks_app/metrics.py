"""Prometheus metrics of reminder dispatch (counted by the dispatcher: a Celery worker or the
`dispatch_reminders` loop, served on its METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REMINDERS_FIRED = Counter("reminders_fired_total", "Reminders fired by the dispatcher", ["late"])
REMINDER_FIRE_LAG = Histogram(
    "reminder_fire_lag_seconds",
    "Seconds between a reminder's remind_at and its dispatch (target: p99 <= 2 s)",
    buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 3600),
)
