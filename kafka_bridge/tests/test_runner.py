"""The consumer runner against the real broker: processing, retries, DLQ, redrive, lag, shutdown.

One long-lived `run_consumer bridge-test` child process (test handlers in
kafka_bridge/tests/handlers.py) serves the whole module, so the group joins once.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from kafka_bridge.consumer.loop import ConsumerRunner
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import ProcessedEvent
from kafka_bridge.registry import CONSUMERS, ConsumerDefinition
from kafka_bridge.tests import handlers
from kafka_bridge.tests.kafka_helpers import (
    create_topics,
    end_offsets,
    headers_of,
    messages_behind,
    produce,
    read_from,
    task_event,
    task_representation,
)
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

[TOPIC] = CONSUMERS["bridge-test"].topics
DLQ = f"{TOPIC}.dlq"
GROUP = CONSUMERS["bridge-test"].group_id

pytestmark = pytest.mark.django_db(transaction=True)


class BridgeConsumer:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.managed = ManagedProcesses("kafka_bridge-test_runner")
        self.process = None

    def start(self, name: str = "bridge-test") -> None:
        self.process = self.managed.manage(name, "run_consumer", name, env=self.env)
        log = Path(self.process.log_path)
        wait_until(lambda: "partitions assigned" in log.read_text(), timeout=30, message=f"{name} assigned")

    def log(self) -> str:
        return Path(self.process.log_path).read_text()


@pytest.fixture(scope="module")
def bridge_consumer(django_db_setup: None, django_db_blocker) -> Iterator[BridgeConsumer]:
    create_topics(TOPIC, DLQ)
    with django_db_blocker.unblock():
        env = subprocess_env(KAFKA_BRIDGE_TEST_CONSUMERS="1")
    consumer = BridgeConsumer(env)
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.managed.stop_all()


def make_event(title: str = "Buy milk", event_type: str = "task.updated") -> CloudEvent:
    return task_event(task_representation(title=title), event_type=event_type)


def send(event: CloudEvent, *, key: str | None = None) -> None:
    produce(
        TOPIC,
        key=key or event.subject,
        value=event.to_json(),
        headers={"ce_id": event.id, "ce_type": event.type, "correlation_id": "corr-1"},
    )


def effects() -> list[str]:
    return [value.decode() for value in handlers.redis_client().lrange(handlers.effects_key(), 0, -1)]


def attempts(event: CloudEvent) -> int:
    return int(handlers.redis_client().get(handlers.attempts_key(event.id)) or 0)


def wait_for_effect(event: CloudEvent, timeout: float = 15.0) -> None:
    wait_until(lambda: event.id in effects(), timeout=timeout, message=f"effect of {event.id}")


def test_valid_event_is_handled_once_and_recorded_as_processed(bridge_consumer: BridgeConsumer) -> None:
    event = make_event()

    send(event)
    send(event)  # a redelivery (same event id)

    wait_for_effect(event)
    later = make_event()
    send(later, key=event.subject)  # same partition, after the duplicate
    wait_for_effect(later)
    assert effects().count(event.id) == 1
    assert ProcessedEvent.objects.filter(group=GROUP, event_id=event.id).count() == 1
    # The record's correlation id was bound while the handler ran (so its logs carry it).
    assert handlers.redis_client().hget(handlers.correlations_key(), event.id) == b"corr-1"


def test_consumer_without_handlers_still_consumes_and_commits(bridge_consumer: BridgeConsumer) -> None:
    definition = ConsumerDefinition(name="bridge-test-unhandled", group_id=f"{GROUP}-unhandled", topics=(TOPIC,))
    send(make_event())
    stop = threading.Event()
    runner = threading.Thread(target=ConsumerRunner(definition, stop=stop).run)
    runner.start()
    try:
        wait_until(
            lambda: messages_behind(definition.group_id, [TOPIC]) == 0,
            timeout=30,
            interval=0.5,
            message="offsets committed without handlers",
        )
    finally:
        stop.set()
        runner.join(timeout=15)
    assert not runner.is_alive()


def test_poison_record_goes_to_the_dlq_with_its_reason_and_the_next_record_is_processed(
    bridge_consumer: BridgeConsumer,
) -> None:
    start = {DLQ: end_offsets(DLQ)}
    after = make_event()

    produce(TOPIC, key=after.subject, value=b"{not json")
    send(after)

    wait_for_effect(after)
    [dead] = read_from(start, expected=1)
    headers = headers_of(dead)
    assert dead.value() == b"{not json"
    assert dead.key() == after.subject.encode()
    assert "not JSON" in headers["error"]
    assert headers["handler"] == "decode"
    assert headers["attempts"] == "1"
    assert headers["original_topic"] == TOPIC
    assert headers["group"] == GROUP
    assert {"failed_at", "original_partition", "original_offset"} <= set(headers)


def test_event_with_an_unknown_data_field_is_dead_lettered_as_invalid(bridge_consumer: BridgeConsumer) -> None:
    start = {DLQ: end_offsets(DLQ)}
    event = make_event()
    bad = CloudEvent(
        type=event.type, source="/tasks", subject=event.subject, userid="1", data={**event.data, "surprise": 1}
    )

    send(bad)

    [dead] = read_from(start, expected=1)
    assert "unknown keys ['surprise']" in headers_of(dead)["error"]
    assert attempts(bad) == 0  # never reached a handler


def test_transient_failure_is_retried_in_place_and_succeeds(bridge_consumer: BridgeConsumer) -> None:
    start = {DLQ: end_offsets(DLQ)}
    event = make_event(title="transient hiccup")

    send(event)

    wait_for_effect(event)
    assert attempts(event) == 3
    assert effects().count(event.id) == 1
    assert read_from(start, expected=0, timeout=0.5) == []


def test_permanent_error_is_dead_lettered_at_once(bridge_consumer: BridgeConsumer) -> None:
    start = {DLQ: end_offsets(DLQ)}
    event = make_event(title="permanent refusal")

    send(event)

    [dead] = read_from(start, expected=1)
    headers = headers_of(dead)
    assert headers["attempts"] == "1"
    assert headers["error"] == "PermanentError: this event can never be handled"
    assert headers["handler"] == "kafka_bridge.tests.handlers.handle_test_event"
    assert headers["ce_id"] == event.id  # the original headers are kept
    assert not ProcessedEvent.objects.filter(event_id=event.id).exists()


def test_always_failing_event_ends_in_the_dlq_and_redrive_brings_it_back(bridge_consumer: BridgeConsumer) -> None:
    start = {DLQ: end_offsets(DLQ)}
    event = make_event(title="always-fail")
    send(event)
    [dead] = read_from(start, expected=1)
    assert headers_of(dead)["attempts"] == "3"
    assert "RuntimeError: handler always fails" in headers_of(dead)["error"]
    assert event.id not in effects()

    handlers.redis_client().set(handlers.fixed_key(event.id), 1)  # the operator fixed the cause
    dry = _call("redrive_dlq", DLQ, "--dry-run")
    assert event.subject in dry
    assert "would redrive" in dry
    source = {TOPIC: end_offsets(TOPIC)}
    output = _call("redrive_dlq", TOPIC)

    assert "redrove" in output
    wait_for_effect(event)
    [redriven] = [m for m in read_from(source, expected=1) if headers_of(m).get("ce_id") == event.id]
    assert "error" not in headers_of(redriven)
    assert redriven.value() == dead.value()
    # Each dead record is redriven once (invalid records redriven above may have bounced back).
    assert event.subject not in _call("redrive_dlq", TOPIC)


def test_batch_consumer_gets_every_record_of_the_topic_including_invalid_ones(
    bridge_consumer: BridgeConsumer,
) -> None:
    event = make_event()
    send(event)
    produce(TOPIC, key=event.subject, value=b"garbage")
    batch = BridgeConsumer(bridge_consumer.env)
    batch.managed = bridge_consumer.managed

    batch.start("bridge-test-batch")

    def entries() -> list[str]:
        return [v.decode() for v in handlers.redis_client().lrange(handlers.batches_key(), 0, -1)]

    wait_until(lambda: any(e.endswith(event.id) for e in entries()), timeout=15)
    wait_until(lambda: any(e.endswith(":invalid") for e in entries()), timeout=5)
    batch.managed.kill(batch.process, signal.SIGTERM)


def test_lag_is_reported_while_the_consumer_is_stopped_and_zero_after_it_catches_up(
    bridge_consumer: BridgeConsumer,
) -> None:
    warmup = make_event()
    send(warmup)
    wait_for_effect(warmup)
    assert _lag()["messages_behind"] == 0

    bridge_consumer.managed.kill(bridge_consumer.process, signal.SIGTERM)
    assert bridge_consumer.process.returncode == 0  # a clean shutdown on SIGTERM
    assert "consumer stopped" in bridge_consumer.log()
    pending = [make_event() for _ in range(5)]
    for event in pending:
        send(event)

    lag = _lag(expect_failure=True, max_messages=4)
    assert lag["messages_behind"] == 5
    assert lag["seconds_behind"] > 0
    assert sum(p["messages_behind"] for p in lag["partitions"]) == 5
    assert _lag()["ok"]  # within the default thresholds

    bridge_consumer.start()
    for event in pending:
        wait_for_effect(event)
    wait_until(lambda: _lag()["messages_behind"] == 0, timeout=10, message="lag back to zero")
    assert _lag()["seconds_behind"] == 0


def _call(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _lag(*, expect_failure: bool = False, max_messages: int = 1000) -> dict:
    from io import StringIO

    out = StringIO()
    args = ["kafka_lag", "--json", "--group", "bridge-test", "--max-messages", str(max_messages)]
    if expect_failure:
        with pytest.raises(CommandError):
            call_command(*args, stdout=out)
    else:
        call_command(*args, stdout=out)
    [group] = json.loads(out.getvalue())["groups"]
    return group
