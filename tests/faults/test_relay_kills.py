"""The outbox relay SIGKILLed again and again between produce and mark while events are written.

Each relay but the last runs with the test-only fault point KAFKA_RELAY_FAULT_PAUSE_BEFORE_MARK
(kafka_bridge/relay/mark.py): after a round's delivery reports it logs the round's outbox ids and
waits before the round's DELETE. The test SIGKILLs it on that line, so every kill provably lands
with rows the broker acknowledged still pending (asserted). The next relay publishes them again:
the re-published copies are counted on Kafka (asserted > 0, each killed row at least twice) and
a downstream consumer applies each event once. The last relay runs without the fault point (it
is off by default: asserted from its log).

Scale: 2,000 events (4,000 records: each event goes to `task-events` and `task-updates`) and
at least 5 kills in CI; `make test-faults FULL=1` writes the issue's 10,000 events with at least
10 kills (a relay is killed as long as the writer writes: 43 in the run of 2026-12-02).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connections, transaction

from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import OutboxEvent, OutboxPending, ProcessedEvent
from kafka_bridge.receivers import record_event
from kafka_bridge.tests import handlers
from kafka_bridge.tests.kafka_helpers import headers_of, read_from, task_event, task_representation
from kafka_bridge.topics import Topic
from tasks_app.events import TASK_TOPICS
from tests.faults.support import at_scale, kafka_lag, wait_for_log
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EVENTS = at_scale(2_000, 10_000)
MIN_KILLS = at_scale(5, 10)
PER_TRANSACTION = 20
# Long enough for the test to see the fault point's line and kill before the DELETE runs.
FAULT_PAUSE_S = 5.0
FAULT_LINE = "relay fault point: delivered, not yet marked"
# The downstream consumer reads one topic: an event's copy on the other topic has the same id
# and would count as a repeat too.
DOWNSTREAM_TOPIC = Topic.TASK_EVENTS.value


def _write(events: list[CloudEvent], errors: list[BaseException]) -> None:
    """What the task services' receivers do, 20 events per transaction, paced (~150 events/s) so
    that writes keep coming while relays are killed."""
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


def fault_points(log_path: str) -> list[dict[str, Any]]:
    """The relay's fault-point lines: each lists a round's acknowledged, not yet marked rows."""
    lines = Path(log_path).read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if FAULT_LINE in line]


def test_relay_sigkilled_between_produce_and_mark_republishes_and_nothing_is_lost_or_applied_twice(
    private_broker, processes: ManagedProcesses, figures
) -> None:
    events = [task_event(task_representation(title=f"relay kill {n}")) for n in range(EVENTS)]
    errors: list[BaseException] = []
    writer = threading.Thread(target=_write, args=(events, errors))
    writer.start()

    faulty_env = subprocess_env(KAFKA_RELAY_FAULT_PAUSE_BEFORE_MARK=str(FAULT_PAUSE_S))
    killed_rows: set[int] = set()  # outbox ids acknowledged by the broker, pending when killed
    kills = kills_while_writing = 0
    takeovers = []  # seconds from a relay's start until it leads
    while writer.is_alive() or kills < MIN_KILLS:
        started = time.monotonic()
        relay = processes.manage(f"relay-{kills}", "relay_outbox", "--loop", env=faulty_env)
        wait_for_log(relay, "outbox relay is the leader", timeout=60)
        takeovers.append(time.monotonic() - started)
        # There is always work: the writer's rows, or the rows the previous kill left unmarked.
        wait_for_log(relay, FAULT_LINE, timeout=60)
        writing = writer.is_alive()
        processes.kill(relay, signal.SIGKILL)
        round_rows = set(fault_points(relay.log_path)[-1]["outbox_ids"])
        # The fault landed between produce and mark: every row of the round is still pending.
        assert round_rows
        assert OutboxPending.objects.filter(event_id__in=round_rows).count() == len(round_rows)
        killed_rows |= round_rows
        kills += 1
        kills_while_writing += writing
    writer.join()
    assert errors == []

    recovering = time.monotonic()
    last = processes.manage("relay-last", "relay_outbox", "--loop")
    wait_until(
        lambda: not OutboxEvent.objects.filter(pending__isnull=False).exists(), timeout=120, message="outbox drained"
    )
    drained_s = time.monotonic() - recovering
    assert fault_points(last.log_path) == []  # the fault point is off unless the test sets it

    # What should arrive is what this test wrote: each event on both topics.
    wanted = {(topic, event.id) for event in events for topic in TASK_TOPICS}
    records = read_from({topic: dict.fromkeys(range(3), 0) for topic in TASK_TOPICS}, expected=len(wanted), timeout=120)
    copies = Counter((message.topic(), headers_of(message)["ce_id"]) for message in records)
    killed = {
        (topic, str(event_id))
        for topic, event_id in OutboxEvent.objects.filter(id__in=killed_rows).values_list("topic", "event_id")
    }
    republished = sum(count - 1 for count in copies.values())
    republished_downstream = sum(copies[key] - 1 for key in copies if key[0] == DOWNSTREAM_TOPIC)

    # Downstream, a consumer applies each event exactly once (processed events).
    group = f"faults-relay-{private_broker.port}"
    consumer_env = subprocess_env(
        KAFKA_BRIDGE_TEST_CONSUMERS="1", KAFKA_BRIDGE_TEST_TOPICS=DOWNSTREAM_TOPIC, KAFKA_BRIDGE_TEST_GROUP=group
    )
    processes.manage("consumer", "run_consumer", "bridge-test", env=consumer_env)
    ids = {event.id for event in events}
    wait_until(
        lambda: ProcessedEvent.objects.filter(group=group, event_id__in=ids).count() == EVENTS,
        timeout=180,
        interval=0.5,
        message="every event applied downstream",
    )
    # Lag 0: the consumer has read past every copy, the re-published ones included.
    wait_until(lambda: kafka_lag("bridge-test", env=consumer_env) == 0, timeout=60, interval=0.5)
    time.sleep(1)  # room for a late duplicate effect to show
    effects = Counter(value.decode() for value in handlers.redis_client().lrange(handlers.effects_key(), 0, -1))
    applied = Counter({event_id: effects[event_id] for event_id in ids})
    lost = wanted - set(copies)
    figures.record(
        events_sent=EVENTS,
        records_expected=len(wanted),
        received=len(wanted & set(copies)),
        lost=len(lost),
        unexpected=len(set(copies) - wanted),
        relay_kills=kills,
        kills_while_writing=kills_while_writing,
        rows_pending_at_kills=len(killed_rows),
        republished=republished,
        republished_downstream_topic=republished_downstream,
        applied_once=sum(1 for count in applied.values() if count == 1),
        applied_twice=sum(1 for count in applied.values() if count > 1),
        not_applied=sum(1 for count in applied.values() if count == 0),
        takeover_s_max=max(takeovers),
        time_to_recover_s=drained_s,
    )
    assert kills >= MIN_KILLS
    assert kills_while_writing >= 1
    assert lost == set()
    assert set(copies) == wanted
    # Every row pending at a kill had been acknowledged: it is on Kafka at least twice.
    assert killed
    assert all(copies[key] >= 2 for key in killed), sorted(k for k in killed if copies[k] < 2)[:5]
    assert republished >= len(killed) > 0
    assert republished_downstream > 0
    assert applied == Counter(dict.fromkeys(ids, 1))
