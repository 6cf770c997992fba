"""Celery jobs of notifications_app (thin: the services do the work).

`send_notification_task` is acknowledged late and rejected back to the queue if its worker dies,
so a killed worker's job runs again; the claim in `services.sending` makes any repeat harmless.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from notifications_app.services.notifications import notifications_requeue_stale
from notifications_app.services.sending import notification_deliver

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
def send_notification_task(notification_id: str) -> str:
    """Send one notification (one attempt). Retries of failed sends are new jobs with a countdown,
    enqueued by the service that recorded the failure."""
    result = notification_deliver(notification_id=notification_id)
    if result.retry_in is not None:
        enqueue_send_notification(notification_id, countdown=result.retry_in + _LEASE_SLACK_SECONDS)
    return result.status


def enqueue_send_notification(notification_id: Any, *, countdown: float = 0.0) -> None:
    """Enqueue a send job. A failure to reach the broker is logged, not raised: the record is
    committed and the stale-work sweep enqueues it again."""
    try:
        send_notification_task.apply_async(args=[str(notification_id)], countdown=countdown or None)
    except Exception:  # noqa: BLE001 - see the docstring
        logger.warning(
            "could not enqueue a notification send; the sweep will retry",
            extra={"notification_id": str(notification_id)},
            exc_info=True,
        )


@shared_task(ignore_result=True)
def requeue_stale_notifications_task() -> int:
    """Safety net for lost send jobs (broker down at commit time, a purged queue)."""
    return notifications_requeue_stale()
