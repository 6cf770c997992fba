"""The batch a batch handler receives: records decoded as the handler reaches them (no broker)."""

from __future__ import annotations

import pytest
from confluent_kafka import Message

from kafka_bridge.consumer import decode
from kafka_bridge.consumer.decode import decoded_on_use
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.tests.kafka_helpers import task_representation


def _message(offset: int, value: bytes) -> Message:
    return Message(
        topic="task-events", partition=0, offset=offset, key=b"k", value=value, headers=[("ce_type", b"task.created")]
    )


def _event() -> CloudEvent:
    task = task_representation()
    return CloudEvent(
        type="task.created", source="/tasks", subject=task["id"], userid="1", data={"task": task, "changes": {}}
    )


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The values decoded so far, in order."""
    seen: list[bytes] = []
    original = decode.decode_event

    def counting(value: bytes) -> CloudEvent:
        seen.append(value)
        return original(value)

    monkeypatch.setattr(decode, "decode_event", counting)
    return seen


def test_each_record_is_decoded_once_when_first_read(decoded: list[bytes]) -> None:
    events = [_event() for _ in range(3)]
    batch = decoded_on_use([_message(i, event.to_json()) for i, event in enumerate(events)], group="audit")

    assert len(batch) == 3
    assert decoded == []
    assert batch[1].event == CloudEvent.from_json(events[1].to_json())
    assert decoded == [events[1].to_json()]

    assert [record.event.id for record in batch] == [event.id for event in events]  # type: ignore[union-attr]
    assert [record.event.id for record in batch] == [event.id for event in events]  # type: ignore[union-attr]
    assert decoded == [events[1].to_json(), events[0].to_json(), events[2].to_json()]


def test_records_carry_their_coordinates_group_and_decoding_error(decoded: list[bytes]) -> None:
    event = _event()
    batch = decoded_on_use([_message(7, event.to_json()), _message(8, b"{not json")], group="audit")

    valid, invalid = batch
    assert (valid.offset, valid.group, valid.headers, valid.error) == (7, "audit", {"ce_type": "task.created"}, None)
    assert invalid.event is None
    assert "not JSON" in (invalid.error or "")
    assert batch[-1] is invalid
    assert batch[0:1] == [valid]
    with pytest.raises(IndexError):
        batch[2]
