"""Celery jobs of notifications_app (thin: the services do the work).

`send_notification_task` is acknowledged late and rejected back to the queue if its worker dies,
so a killed worker's job runs again; the claim in `services.sending` makes any repeat harmless.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from core.correlation import correlation_scope_if_given
from notifications_app.services.notifications import notifications_requeue_stale
from notifications_app.services.sending import notifications_deliver

logger = logging.getLogger(__name__)

# A job that finds another attempt's lease comes back just after it ends.
_LEASE_SLACK_SECONDS = 0.5


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def send_notification_task(*notification_ids: str, correlation_ids: Sequence[str | None] | None = None) -> list[str]:
    """Send these notifications (one attempt each), the n-th under `correlation_ids[n]` if given.
    Retries of failed sends are new one-notification jobs with a countdown, enqueued by the
    service that recorded the failure."""
    results = notifications_deliver(notification_ids=notification_ids, correlation_ids=correlation_ids)
    scopes = dict(zip(notification_ids, correlation_ids or (), strict=False))
    for notification_id, result in results.items():
        if result.retry_in is not None:
            with correlation_scope_if_given(scopes.get(notification_id)):
                enqueue_send_notification(notification_id, countdown=result.retry_in + _LEASE_SLACK_SECONDS)
    return [result.status for result in results.values()]


def _publish(notification_ids: Sequence[Any], correlation_ids: Sequence[str | None] | None, countdown: float) -> None:
    """Publish one send job; a failure to reach the broker is logged, not raised: the records are
    committed and the stale-work sweep enqueues them again."""
    try:
        send_notification_task.apply_async(
            args=[str(notification_id) for notification_id in notification_ids],
            kwargs={"correlation_ids": list(correlation_ids)} if correlation_ids else None,
            countdown=countdown or None,
        )
    except Exception:  # noqa: BLE001 - see the docstring
        logger.warning(
            "could not enqueue a notification send; the sweep will retry",
            extra={"notification_ids": [str(notification_id) for notification_id in notification_ids]},
            exc_info=True,
        )


def enqueue_send_notification(notification_id: Any, *, countdown: float = 0.0) -> None:
    """Enqueue the send job of one notification (under the current correlation id)."""
    _publish([notification_id], None, countdown)


def enqueue_send_notifications(notifications: Sequence[tuple[Any, str | None]]) -> None:
    """Enqueue the send jobs of many (notification id, correlation id) pairs, in even chunks of at
    most NOTIFICATION_SEND_BATCH_SIZE: one job claims its chunk at once and sends it over one SMTP
    connection, and the chunks go to as many worker threads. Each job is published under its first
    notification's correlation id; each e-mail is sent under its own."""
    if not notifications:
        return
    count = len(notifications)
    jobs = math.ceil(count / max(1, settings.NOTIFICATION_SEND_BATCH_SIZE))
    for job in range(jobs):
        chunk = notifications[job * count // jobs : (job + 1) * count // jobs]
        with correlation_scope_if_given(chunk[0][1]):
            _publish([notification_id for notification_id, _ in chunk], [cid for _, cid in chunk], 0.0)


@shared_task(ignore_result=True)
def requeue_stale_notifications_task() -> int:
    """Safety net for lost send jobs (broker down at commit time, a purged queue)."""
    return notifications_requeue_stale()
