"""How a write wakes the relay: one NOTIFY per transaction from the outbox's INSERT trigger,
delivered at commit, plus a Celery relay job after the commit unless KAFKA_OUTBOX_CELERY_WAKEUP
is off (where the relay loop runs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from kafka_bridge.models import OutboxPending
from kafka_bridge.receivers import NOTIFY_CHANNEL, _wake_relay
from kafka_bridge.tests.kafka_helpers import task_representation
from tasks_app import signals as task_signals

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener() -> Iterator[psycopg.Connection]:
    """A session of its own LISTENing on the relay channel, as `relay_outbox --loop` does."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as session:
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
