"""When the relay runs: a pass for the Celery task, or the `--loop` leader woken by NOTIFY."""

from __future__ import annotations

import logging
import threading
import time

from django.db import InterfaceError, OperationalError, connection

from kafka_bridge.receivers import NOTIFY_CHANNEL
from kafka_bridge.relay import draining
from kafka_bridge.relay.backlog import has_pending
from kafka_bridge.relay.claim import DEFAULT_BATCH_SIZE
from kafka_bridge.relay.leader import leadership

logger = logging.getLogger(__name__)


def publish_pending(*, batch_size: int = DEFAULT_BATCH_SIZE, max_seconds: float = 30.0) -> tuple[int, bool]:
    """One pass for the Celery task and the sweep: publish what is pending if no other relay
    leads. Returns (published, more_pending).

    After giving up leadership it looks once more: a wake-up that arrived while this relay was
    the leader found the lock taken and returned, so its rows are this relay's to publish.
    """
    deadline = time.monotonic() + max_seconds
    published = 0
    while True:
        with leadership() as leader:
            if not leader:
                return published, False
            published += draining.drain(batch_size=batch_size, deadline=deadline)
        if not has_pending():
            return published, False
        if time.monotonic() >= deadline:
            return published, True


def run_loop(*, batch_size: int = DEFAULT_BATCH_SIZE, stop: threading.Event, idle_wait: float = 1.0) -> None:
    """`relay_outbox --loop`: stand by until leader, then publish as rows are committed.

    Woken by PostgreSQL NOTIFY (sent in the recording transaction, so delivered at commit), and
    every `idle_wait` seconds regardless, so a lost notification strands nothing.
    """
    logger.info("outbox relay started", extra={"batch_size": batch_size})
    while not stop.is_set():
        try:
            _lead_when_possible(batch_size=batch_size, stop=stop, idle_wait=idle_wait)
        except (OperationalError, InterfaceError):
            # The database went away (and with it our lock): reconnect and compete again.
            logger.exception("outbox relay lost the database; retrying")
            connection.close()
            stop.wait(2.0)
    logger.info("outbox relay stopped")


def _lead_when_possible(*, batch_size: int, stop: threading.Event, idle_wait: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
    while not stop.is_set():
        with leadership() as leader:
            if not leader:
                stop.wait(idle_wait)
                continue
            logger.info("outbox relay is the leader")
            while not stop.is_set():
                # Ends caught up, after a failed delivery (retried at the next wake-up) or on stop.
                draining.drain(batch_size=batch_size, stop=stop)
                # No query for what is pending now: a commit during the drain has notified
                # already, and psycopg keeps a notification that arrives while the session runs
                # a statement for its next `notifies()` (it would not, were a notify handler set).
                _wait_for_notification(idle_wait)


def _wait_for_notification(timeout: float) -> None:
    raw = connection.connection
    # Consume every queued notification: one wake-up covers all of them.
    for _ in raw.notifies(timeout=timeout, stop_after=1):
        pass
    for _ in raw.notifies(timeout=0):
        pass
