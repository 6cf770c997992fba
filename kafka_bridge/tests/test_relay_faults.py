"""The relay under faults and concurrency, against the real broker and PostgreSQL.

- SIGKILL between produce and mark: nothing lost; the re-published duplicates have no visible
  effect downstream (processed events).
- 1,000 tasks x 20 updates written concurrently, two relays (the leader killed midway): every
  task's events arrive in order on both topics.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from django.db import connection, connections, transaction

from kafka_bridge import relay
from kafka_bridge.models import OutboxEvent, ProcessedEvent
from kafka_bridge.receivers import outbox_rows
from kafka_bridge.tests import handlers
from kafka_bridge.tests.kafka_helpers import (
    end_offsets,
    headers_of,
    messages_behind,
    read_from,
    task_event,
    task_representation,
)
from kafka_bridge.topics import Topic
from tasks_app.signals import task_updated
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("kafka_topics")]

TASK_TOPICS = [Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value]


def _update(task: dict) -> None:
    task_updated.send(
        sender=None,
        task_id=uuid.UUID(task["id"]),
        user_id=1,
        task=task,
        changes={"version": {"old": task["version"] - 1, "new": task["version"]}},
    )


def _raw_connection() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"] or "localhost",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or None,
    )


def _leadership_free() -> bool:
    with relay.leadership() as leader:
        return leader


def _log_has(process, text: str) -> bool:
    return text in Path(process.log_path).read_text()


def test_relay_killed_between_produce_and_mark_loses_nothing_and_redelivery_has_no_visible_effect(
    processes: ManagedProcesses,
) -> None:
    start = {topic: end_offsets(topic) for topic in TASK_TOPICS}
    tasks = [task_representation(title=f"kill test {n}", version=2) for n in range(10)]
    with transaction.atomic():
        for task in tasks:
            _update(task)
    event_ids = {str(e) for e in OutboxEvent.objects.values_list("event_id", flat=True)}
    assert len(event_ids) == 10

    # Hold the pending rows locked: the relay produces, then blocks on the DELETE that marks them.
    mark = 'DELETE FROM "kafka_bridge_outboxpending"%'
    locker = _raw_connection()
    try:
        locker.execute("SELECT id FROM kafka_bridge_outboxpending FOR UPDATE")
        relay_process = processes.manage("relay", "relay_outbox", "--loop")
        # Ours only: Tansu's end offsets can lag behind an earlier test's last batch.
        produced = [m for m in read_from(start, expected=20, timeout=30) if headers_of(m)["ce_id"] in event_ids]
        assert len(produced) == 20  # produced and acknowledged

        def mark_blocked() -> bool:
            locker.execute("SELECT pg_stat_clear_snapshot()")  # else the transaction's snapshot is reread
            return locker.execute(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s", [mark]
            ).fetchone()[0]

        wait_until(mark_blocked, timeout=30, message="the relay's mark blocked")
        processes.kill(relay_process, signal.SIGKILL)
        # The dead relay's backend would still run its DELETE once unblocked: end it too, as a
        # crash before the DELETE was sent would have.
        locker.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE %s",
            [mark],
        )
    finally:
        locker.rollback()
        locker.close()
    # pg_terminate_backend only signals. Until the dead relay's session has ended, it still leads
    # (a session lock): the next relay would publish nothing and leave the rows to later passes.
    wait_until(_leadership_free, timeout=30, message="the dead relay's session to end")
    assert OutboxEvent.objects.filter(pending__isnull=False).count() == 20  # nothing marked

    assert relay.publish_pending()[0] == 20  # the next relay publishes them again
    records = [m for m in read_from(start, expected=40) if headers_of(m)["ce_id"] in event_ids]
    assert len(records) == 40
    assert {headers_of(m)["ce_id"] for m in records} == event_ids

    group = f"kill-test-{uuid.uuid4().hex[:8]}"
    consumer = processes.manage(
        "consumer",
        "run_consumer",
        "bridge-test",
        env=subprocess_env(
            KAFKA_BRIDGE_TEST_CONSUMERS="1",
            KAFKA_BRIDGE_TEST_TOPICS=Topic.TASK_EVENTS.value,
            KAFKA_BRIDGE_TEST_GROUP=group,
        ),
    )
    wait_until(
        lambda: messages_behind(group, [Topic.TASK_EVENTS.value]) == 0 and _log_has(consumer, "partitions assigned"),
        timeout=60,
        interval=0.5,
        message="consumer caught up",
    )
    effects = [v.decode() for v in handlers.redis_client().lrange(handlers.effects_key(), 0, -1)]
    assert {event_id: effects.count(event_id) for event_id in event_ids} == dict.fromkeys(event_ids, 1)
    assert ProcessedEvent.objects.filter(group=group, event_id__in=event_ids).count() == 10


KEYS = 1000
UPDATES = 20
WRITERS = 4


def _write_updates(tasks: list[dict], errors: list[BaseException]) -> None:
    """Writes what the task services' receivers would, 50 tasks per transaction, in bulk: the
    per-signal path is covered above, this test is about the relay's ordering under load."""
    try:
        for version in range(1, UPDATES + 1):
            for offset in range(0, len(tasks), 50):
                events = [task_event({**task, "version": version}) for task in tasks[offset : offset + 50]]
                with transaction.atomic():
                    OutboxEvent.objects.bulk_create(
                        row for event in events for row in outbox_rows(event, tuple(TASK_TOPICS))
                    )
    except BaseException as exc:  # noqa: BLE001 - reported to the test thread
        errors.append(exc)
    finally:
        connections.close_all()


@pytest.mark.slow
def test_concurrent_updates_of_1000_tasks_arrive_in_per_task_order_with_two_relays(
    processes: ManagedProcesses,
) -> None:
    start = {topic: end_offsets(topic) for topic in TASK_TOPICS}
    first = processes.manage("relay-a", "relay_outbox", "--loop")
    wait_until(lambda: _log_has(first, "outbox relay is the leader"), timeout=30)
    second = processes.manage("relay-b", "relay_outbox", "--loop")
    wait_until(lambda: _log_has(second, "outbox relay started"), timeout=30)
    tasks = [task_representation(title=f"order {n}") for n in range(KEYS)]
    errors: list[BaseException] = []
    writers = [threading.Thread(target=_write_updates, args=(tasks[n::WRITERS], errors)) for n in range(WRITERS)]
    for writer in writers:
        writer.start()

    total = KEYS * UPDATES * len(TASK_TOPICS)
    wait_until(lambda: OutboxEvent.objects.filter(pending__isnull=True).count() > total // 3, timeout=120, interval=0.2)
    processes.kill(first, signal.SIGKILL)  # the leader dies midway; the standby takes over
    for writer in writers:
        writer.join()
    assert errors == []
    wait_until(lambda: not OutboxEvent.objects.filter(pending__isnull=False).exists(), timeout=120, interval=0.5)
    assert _log_has(second, "outbox relay is the leader")

    records = read_from(start, expected=total, timeout=60)
    versions: dict[tuple[str, bytes], list[int]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    keys = {task["id"].encode() for task in tasks}
    for message in records:
        if message.key() not in keys:
            continue  # another test's records
        event_id = headers_of(message)["ce_id"]
        if (message.topic(), event_id) in seen:
            continue  # a re-published duplicate (same event id): consumers skip it
        seen.add((message.topic(), event_id))
        versions[(message.topic(), message.key())].append(_version(message.value()))
    assert len(versions) == KEYS * len(TASK_TOPICS)
    expected = list(range(1, UPDATES + 1))
    out_of_order = [key for key, seen_versions in versions.items() if seen_versions != expected]
    assert out_of_order == []


def _version(value: bytes) -> int:
    import json

    return json.loads(value)["data"]["task"]["version"]
