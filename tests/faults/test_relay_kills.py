"""The outbox relay SIGKILLed again and again while events are written.

Scaled for CI (DESIGN budget: the fault suite runs in ~4 minutes on 2 cores): 2,000 events
(4,000 records, each event goes to `task-events` and `task-updates`) instead of the issue's
10,000; the relay is killed at least 5 times while they are written.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter

import pytest
from django.db import connections, transaction

from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import OutboxEvent, ProcessedEvent
from kafka_bridge.receivers import TASK_TOPICS, record_event
from kafka_bridge.tests import handlers
from kafka_bridge.tests.kafka_helpers import headers_of, read_from, task_event, task_representation
from tests.faults.support import kafka_lag, wait_for_log
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EVENTS = 2_000
PER_TRANSACTION = 20
MIN_KILLS = 5


def _write(events: list[CloudEvent], errors: list[BaseException]) -> None:
    """What the task services' receivers do, 20 events per transaction, paced over ~10 s."""
    try:
        for start in range(0, len(events), PER_TRANSACTION):
            with transaction.atomic():
                for event in events[start : start + PER_TRANSACTION]:
                    record_event(event, TASK_TOPICS)
            time.sleep(0.1)
    except BaseException as exc:  # noqa: BLE001 - reported to the test thread
        errors.append(exc)
    finally:
        connections.close_all()


def _published() -> int:
    return OutboxEvent.objects.filter(pending__isnull=True).count()


def test_relay_sigkilled_repeatedly_publishes_every_event_and_none_is_applied_twice(
    private_broker, processes: ManagedProcesses, figures
) -> None:
    events = [task_event(task_representation(title=f"relay kill {n}")) for n in range(EVENTS)]
    errors: list[BaseException] = []
    writer = threading.Thread(target=_write, args=(events, errors))
    writer.start()

    kills = 0
    takeovers = []  # seconds from a kill until the next relay leads
    while writer.is_alive() or kills < MIN_KILLS:
        restarted = time.monotonic()
        relay = processes.manage(f"relay-{kills}", "relay_outbox", "--loop")
        wait_for_log(relay, "outbox relay is the leader", timeout=30)
        if kills:
            takeovers.append(time.monotonic() - restarted)
        before = _published()
        # Killed mid-stream: after it has published something, or when everything is out.
        wait_until(
            lambda before=before: _published() >= before + 150
            or not OutboxEvent.objects.filter(pending__isnull=False).exists(),
            timeout=30,
            interval=0.05,
        )
        processes.kill(relay, signal.SIGKILL)
        kills += 1
    writer.join()
    assert errors == []

    processes.manage("relay-last", "relay_outbox", "--loop")
    wait_until(
        lambda: not OutboxEvent.objects.filter(pending__isnull=False).exists(), timeout=60, message="outbox drained"
    )

    # Every event reached Kafka, on both topics; re-published copies carry the same id.
    records = read_from({topic: dict.fromkeys(range(3), 0) for topic in TASK_TOPICS}, expected=2 * EVENTS, timeout=60)
    copies = Counter((message.topic(), headers_of(message)["ce_id"]) for message in records)
    wanted = {(topic, event.id) for event in events for topic in TASK_TOPICS}
    lost = wanted - set(copies)
    republished = sum(count - 1 for count in copies.values())
    assert lost == set()

    # Downstream, a consumer of both topics applies each event exactly once (processed events).
    group = f"faults-relay-{private_broker.port}"
    consumer = processes.manage(
        "consumer",
        "run_consumer",
        "bridge-test",
        env=subprocess_env(
            KAFKA_BRIDGE_TEST_CONSUMERS="1",
            KAFKA_BRIDGE_TEST_TOPICS=",".join(TASK_TOPICS),
            KAFKA_BRIDGE_TEST_GROUP=group,
        ),
    )
    wait_for_log(consumer, "partitions assigned", timeout=60)
    ids = {event.id for event in events}
    wait_until(
        lambda: ProcessedEvent.objects.filter(group=group, event_id__in=ids).count() == EVENTS,
        timeout=90,
        interval=0.5,
        message="every event applied downstream",
    )
    wait_until(lambda: kafka_lag("bridge-test", env=consumer_env(group)) == 0, timeout=60, interval=0.5)
    effects = Counter(value.decode() for value in handlers.redis_client().lrange(handlers.effects_key(), 0, -1))
    applied = {event_id: effects[event_id] for event_id in ids}
    figures.record(
        events_sent=EVENTS,
        records_expected=len(wanted),
        received=len(wanted) - len(lost),
        republished_duplicates=republished,
        lost=len(lost),
        relay_kills=kills,
        applied_once=sum(1 for count in applied.values() if count == 1),
        applied_twice=sum(1 for count in applied.values() if count > 1),
        time_to_recover_s=max(takeovers),
    )
    assert applied == dict.fromkeys(ids, 1)


def consumer_env(group: str) -> dict[str, str]:
    return subprocess_env(KAFKA_BRIDGE_TEST_CONSUMERS="1", KAFKA_BRIDGE_TEST_GROUP=group)
