"""Prometheus metrics of e-mail delivery (counted by the Celery workers; served on their METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATION_ATTEMPTS = Counter(
    "notification_send_attempts_total", "E-mail send attempts, by outcome", ["outcome"]
)  # outcome: sent | retry | dead
