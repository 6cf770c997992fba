"""Prometheus metrics of reminder dispatch and e-mail delivery (counted where the work happens:
the dispatcher and the Celery workers; served on their METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REMINDERS_FIRED = Counter("reminders_fired_total", "Reminders fired by the dispatcher", ["late"])
REMINDER_FIRE_LAG = Histogram(
    "reminder_fire_lag_seconds",
    "Seconds between a reminder's remind_at and its dispatch (target: p99 <= 2 s)",
    buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 3600),
)
NOTIFICATION_ATTEMPTS = Counter(
    "notification_send_attempts_total", "E-mail send attempts, by outcome", ["outcome"]
)  # outcome: sent | retry | dead
