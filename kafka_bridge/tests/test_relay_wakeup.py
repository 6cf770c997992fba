"""How a write wakes the relay: one NOTIFY per transaction from the outbox's INSERT trigger,
delivered at commit, plus a Celery relay job after the commit unless KAFKA_OUTBOX_CELERY_WAKEUP
is off (where the relay loop runs); and how the loop hears a commit that comes during a drain."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from kafka_bridge import relay
from kafka_bridge.models import OutboxPending
from kafka_bridge.receivers import NOTIFY_CHANNEL, _wake_relay
from kafka_bridge.relay import draining
from kafka_bridge.tests.kafka_helpers import task_representation
from tasks_app import signals as task_signals
from tests.fixtures import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener() -> Iterator[psycopg.Connection]:
    """A session of its own LISTENing on the relay channel, as `relay_outbox --loop` does."""
    with _session() as session:
        session.execute(f"LISTEN {NOTIFY_CHANNEL}")
        yield session


def _write_two_events() -> tuple[list[str], list[object]]:
    """Two task events in one transaction; returns the wake-up statements and on-commit callbacks."""
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        for _ in range(2):
            task = task_representation()
            task_signals.task_created.send(sender=None, task_id=uuid.UUID(task["id"]), user_id=7, task=task, changes={})
        callbacks = [callback for _, callback, _ in connection.run_on_commit]
    return [q["sql"] for q in queries if "pg_notify" in q["sql"]], callbacks


@pytest.mark.parametrize("celery_wakeup", [True, False])
def test_one_notify_per_transaction_delivered_at_commit_without_a_statement_of_its_own(
    settings, listener, celery_wakeup
) -> None:
    settings.KAFKA_OUTBOX_CELERY_WAKEUP = celery_wakeup
    notifies, _ = _write_two_events()
    assert notifies == []  # the INSERT trigger notifies: no round trip for it
    delivered = list(listener.notifies(timeout=3))
    assert [n.channel for n in delivered] == [NOTIFY_CHANNEL]


def test_a_rolled_back_write_notifies_nobody(listener) -> None:
    with transaction.atomic():
        task = task_representation()
        task_signals.task_created.send(sender=None, task_id=uuid.UUID(task["id"]), user_id=7, task=task, changes={})
        transaction.set_rollback(True)
    assert list(listener.notifies(timeout=1)) == []


def test_any_insert_into_the_outbox_notifies_and_is_pending_even_raw_sql(listener) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO kafka_bridge_outboxevent (event_id, event_type, topic, key, value, headers, created_at, "
            "attempts, last_error) VALUES (%s, 'task.updated', 'task-updates', 'k', '{}', '{}', now(), 0, ''), "
            "(%s, 'task.updated', 'task-events', 'k', '{}', '{}', now(), 0, '') RETURNING id",
            [str(uuid.uuid4()), str(uuid.uuid4())],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    assert [n.channel for n in listener.notifies(timeout=3, stop_after=1)] == [NOTIFY_CHANNEL]
    assert sorted(OutboxPending.objects.values_list("event_id", flat=True)) == ids


def test_celery_wakeup_is_enqueued_on_commit_by_default(settings) -> None:
    settings.KAFKA_OUTBOX_CELERY_WAKEUP = True
    _, callbacks = _write_two_events()
    assert callbacks == [_wake_relay]


def test_celery_wakeup_off_registers_nothing_on_commit(settings) -> None:
    settings.KAFKA_OUTBOX_CELERY_WAKEUP = False
    _, callbacks = _write_two_events()
    assert callbacks == []


@pytest.mark.usefixtures("kafka_topics")
def test_a_commit_during_a_drain_is_published_at_once_not_after_the_idle_wait(monkeypatch) -> None:
    """The relay loop waits for a NOTIFY between drains (here up to 60 s), without asking what is
    pending. A commit whose notification reaches the relay's session while it runs a statement
    must still start the next drain (psycopg keeps it for the next `notifies()`)."""
    real_drain = relay.drain
    written: list[int] = []

    def drain_then_commit_elsewhere(**kwargs):
        published = real_drain(**kwargs)
        if not written:
            with _session() as other:  # another transaction commits: NOTIFY to the relay's session
                written.append(_insert_outbox_row(other))
            time.sleep(0.3)  # the notification reaches the relay's socket...
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")  # ...and is read while this statement runs
        return published

    monkeypatch.setattr(draining, "drain", drain_then_commit_elsewhere)
    stop = threading.Event()
    loop = threading.Thread(target=_run_loop, args=(stop,), daemon=True)
    loop.start()
    try:
        wait_until(lambda: written, timeout=30, message="the relay's first drain")
        wait_until(  # well before the loop's 60 s idle wait
            lambda: not OutboxPending.objects.filter(pk=written[0]).exists(),
            timeout=10,
            message="the row committed during a drain to be published",
        )
    finally:
        stop.set()
        with _session() as other:
            other.execute(f"NOTIFY {NOTIFY_CHANNEL}")  # ends the loop's wait
        loop.join(timeout=70)


def _run_loop(stop: threading.Event) -> None:
    try:
        relay.run_loop(stop=stop, idle_wait=60)
    finally:
        connection.close()  # this thread's session (and its leadership) ends with it


def _session() -> psycopg.Connection:
    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    return psycopg.connect(**params, autocommit=True)


def _insert_outbox_row(session: psycopg.Connection) -> int:
    event_id = str(uuid.uuid4())
    headers = f'{{"ce_id":"{event_id}","ce_type":"task.updated"}}'
    return session.execute(
        "INSERT INTO kafka_bridge_outboxevent (event_id, event_type, topic, key, value, headers, created_at, "
        "attempts, last_error) VALUES (%s, 'task.updated', 'task-updates', 'k', '{}', %s, now(), 0, '') RETURNING id",
        [event_id, headers],
    ).fetchone()[0]
