"""Two members of one consumer group, one SIGKILLed mid-stream: the other takes its partitions
once the dead member's session expires, and every record's effect happens exactly once.

Runs with either group protocol (`make test` runs it again with KAFKA_GROUP_PROTOCOL=consumer):
classic groups expire the member after the runner's `session.timeout.ms`, KIP-848 groups after
the broker's `group.consumer.session.timeout.ms` (both 6 s here).
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

from kafka_bridge.config import client_config
from kafka_bridge.consumer.config import SESSION_TIMEOUT_MS
from kafka_bridge.tests import handlers
from kafka_bridge.tests.kafka_helpers import create_topics, task_event, task_representation
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PARTITIONS = 4
EVENTS = 600
RATE_PER_SECOND = 100
# After the session expires: the group's rebalance (classic: a join round) and the first fetch.
REBALANCE_ALLOWANCE_S = 6.0


def assignments(log_path: str, *, after: float = 0.0) -> list[tuple[float, set[str]]]:
    """(time, partitions) of every "partitions assigned" line of a member's log after `after`."""
    found = []
    for line in Path(log_path).read_text(errors="replace").splitlines():
        if '"partitions assigned"' not in line:
            continue
        record = json.loads(line)
        at = datetime.fromisoformat(record["time"]).timestamp()
        if at > after:
            found.append((at, set(record["partitions"])))
    return found


def held(log_path: str) -> set[str]:
    """The partitions a member holds by its log: assignments added, revocations taken away (with
    KIP-848 both come incrementally; a classic rebalance revokes all and assigns anew)."""
    holding: set[str] = set()
    for line in Path(log_path).read_text(errors="replace").splitlines():
        if '"partitions assigned"' in line:
            holding |= set(json.loads(line)["partitions"])
        elif '"partitions revoked"' in line:
            holding -= set(json.loads(line)["partitions"])
    return holding


def effects_of(ids: set[str]) -> Counter[str]:
    values = handlers.redis_client().lrange(handlers.effects_key(), 0, -1)
    return Counter(value.decode() for value in values if value.decode() in ids)


class Stream(threading.Thread):
    """Produces EVENTS task events at RATE_PER_SECOND, each key its own task; `sent` holds the
    ids the broker acknowledged, `failed` those it did not."""

    def __init__(self, topic: str) -> None:
        super().__init__(name="event-stream")
        self.topic = topic
        self.sent: list[str] = []
        self.failed: list[str] = []

    def run(self) -> None:
        producer = Producer(client_config(**{"enable.idempotence": True, "linger.ms": 1}))
        started = time.monotonic()
        for n in range(EVENTS):
            event = task_event(task_representation(title=f"stream {n}"))

            def report(error: object, _message: object, event_id: str = event.id) -> None:
                (self.failed if error else self.sent).append(event_id)

            producer.produce(self.topic, key=event.subject, value=event.to_json(), on_delivery=report)
            producer.poll(0)
            time.sleep(max(0.0, started + (n + 1) / RATE_PER_SECOND - time.monotonic()))
        producer.flush(120)


def test_a_member_sigkilled_mid_stream_has_its_partitions_taken_over_and_nothing_is_lost(
    processes: ManagedProcesses, figures
) -> None:
    topic = f"member-kill-{uuid.uuid4().hex[:8]}"
    create_topics(topic, partitions=PARTITIONS)
    env = subprocess_env(
        KAFKA_BRIDGE_TEST_CONSUMERS="1", KAFKA_BRIDGE_TEST_TOPICS=topic, KAFKA_BRIDGE_TEST_GROUP=f"{topic}-group"
    )
    victim = processes.manage("victim", "run_consumer", "bridge-test", env=env)
    survivor = processes.manage("survivor", "run_consumer", "bridge-test", env=env)
    wait_until(
        lambda: held(victim.log_path) and held(survivor.log_path),
        timeout=60,
        message="both members holding partitions",
    )
    stream = Stream(topic)
    stream.start()
    wait_until(lambda: len(stream.sent) >= EVENTS // 3, timeout=30, message="the stream under way")
    victims_partitions = held(victim.log_path)
    processed_before_kill = sum(effects_of(set(stream.sent)).values())
    processes.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    sent_at_kill = len(stream.sent)
    stream.join()

    sent = set(stream.sent)
    assert not stream.failed
    assert len(sent) == EVENTS
    wait_until(lambda: set(effects_of(sent)) == sent, timeout=90, interval=0.5, message="every record's effect")
    time.sleep(1)  # room for a late duplicate to show
    effects = effects_of(sent)
    takeover_s = None
    gained: set[str] = set()
    for at, partitions in assignments(survivor.log_path, after=killed_at):
        gained |= partitions  # KIP-848 assigns incrementally; a classic assignment lists them all
        if victims_partitions <= gained:
            takeover_s = at - killed_at
            break
    figures.record(
        sent=len(sent),
        sent_after_kill=len(sent) - sent_at_kill,
        processed_before_kill=processed_before_kill,
        victims_partitions=len(victims_partitions),
        received=len(effects),
        lost=len(sent - set(effects)),
        duplicates=sum(count - 1 for count in effects.values()),
        takeover_s=takeover_s,
    )
    assert victims_partitions, "the killed member held partitions"
    assert 0 < processed_before_kill < len(sent), "killed mid-stream"
    assert len(sent) - sent_at_kill > 0
    assert takeover_s is not None, "the survivor never got the killed member's partitions"
    assert takeover_s <= SESSION_TIMEOUT_MS / 1000 + REBALANCE_ALLOWANCE_S
    assert sent == set(effects)
    assert all(count == 1 for count in effects.values())
