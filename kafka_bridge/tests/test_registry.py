"""The consumer registry: every installed app's `kafka_handlers` module declares its consumer."""

from __future__ import annotations

import pytest

from core.domain_events import Topic
from kafka_bridge import registry
from kafka_bridge.registry import ConsumerDefinition, batch_handler_for, consumers, handlers_for, register_consumer


def test_consumers_finds_each_apps_definition_and_handlers() -> None:
    found = consumers()
    assert {"recurrence", "notifications", "sync", "audit"} <= set(found)
    assert found["recurrence"].topics == (Topic.TASK_EVENTS.value,)
    assert found["notifications"].topics == (Topic.REMINDERS.value,)
    assert found["sync"].batch
    assert found["sync"].dead_letter
    assert not found["audit"].dead_letter
    assert set(found["audit"].topics) == {name for topic in Topic for name in (topic.value, topic.dlq)}
    assert handlers_for("recurrence", "task.completed")
    assert found["notifications"].batch
    assert batch_handler_for("notifications") is not None
    assert batch_handler_for("sync") is not None
    assert batch_handler_for("audit") is not None
    assert consumers() is found  # discovery happens once


def test_register_consumer_returns_the_definition_and_refuses_a_different_one_under_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "CONSUMERS", {})
    definition = ConsumerDefinition(name="registry-test", group_id="registry-test", topics=("t",))
    assert register_consumer(definition) is definition
    assert register_consumer(ConsumerDefinition(name="registry-test", group_id="registry-test", topics=("t",)))
    with pytest.raises(ValueError, match="registered twice"):
        register_consumer(ConsumerDefinition(name="registry-test", group_id="other", topics=("t",)))


def test_a_handler_for_an_unknown_consumer_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown consumer"):
        registry.event_handler("no-such-consumer", "task.completed")
