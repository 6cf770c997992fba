"""The per-type event schemas: what the consuming edge accepts and rejects (no services needed)."""

from __future__ import annotations

import json
import uuid

import pytest

from kafka_bridge.envelope import CloudEvent, InvalidEvent
from kafka_bridge.schemas import EVENT_TYPES, decode_event, validate_data
from kafka_bridge.tests.kafka_helpers import reminder_representation, task_representation


def _notification() -> dict:
    return {
        "id": str(uuid.uuid4()),
        "channel": "email",
        "status": "dead",
        "attempts": 5,
        "last_error": "550 mailbox unavailable",
        "provider_message_id": None,
    }


def valid_data(event_type: str) -> dict:
    task = task_representation()
    reminder = reminder_representation(task["id"], fired_at=None, late=False)
    if event_type.startswith("task."):
        return {"task": task, "changes": {}}
    if event_type in {"reminder.sent", "reminder.failed"}:
        data = {"reminder": reminder, "notification": _notification()}
        return {**data, "reason": "bounced"} if event_type == "reminder.failed" else data
    return {"reminder": reminder, "task": task}


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_accepts_its_documented_shape(event_type: str) -> None:
    validate_data(event_type, valid_data(event_type))


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_rejects_an_unknown_top_level_data_key(event_type: str) -> None:
    with pytest.raises(InvalidEvent, match=r"unknown keys \['extra'\]"):
        validate_data(event_type, {**valid_data(event_type), "extra": 1})


def test_unknown_event_type_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match=r"unknown event type 'task\.exploded'"):
        validate_data("task.exploded", valid_data("task.created"))


def test_task_representation_may_grow_new_fields() -> None:
    data = valid_data("task.updated")
    data["task"]["estimated_minutes"] = 30
    data["task"]["recurrence_text"] = "every weekday"
    validate_data("task.updated", data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda task: task.pop("version"), r"data.task: missing keys \['version'\]"),
        (lambda task: task.update(id="not-a-uuid"), "data.task.id: must be a UUID"),
        (lambda task: task.update(priority="whenever"), "data.task.priority: must be one of"),
        (lambda task: task.update(tags="work"), "data.task.tags: must be a list"),
        (lambda task: task.update(version=True), "data.task.version: must be an integer"),
        (lambda task: task.update(due_at="tomorrow"), "data.task.due_at: must be an ISO 8601 timestamp"),
        (lambda task: task.update(due_at="2026-12-01T09:00:00"), "data.task.due_at: must carry a UTC offset"),
        (lambda task: task.update(recurrence_text=5), "data.task.recurrence_text: must be a string"),
    ],
)
def test_task_representation_with_a_missing_or_mistyped_field_is_rejected(mutate, message: str) -> None:
    data = valid_data("task.updated")
    mutate(data["task"])
    with pytest.raises(InvalidEvent, match=message):
        validate_data("task.updated", data)


def test_changes_must_map_fields_to_old_and_new_values() -> None:
    data = valid_data("task.updated")
    data["changes"] = {"title": {"old": "a", "new": "b"}}
    validate_data("task.updated", data)
    data["changes"] = {"title": "b"}
    with pytest.raises(InvalidEvent, match=r"data\.changes\.title: must be an object"):
        validate_data("task.updated", data)


def test_reminder_failed_needs_a_reason() -> None:
    data = valid_data("reminder.failed")
    del data["reason"]
    with pytest.raises(InvalidEvent, match=r"missing keys \['reason'\]"):
        validate_data("reminder.failed", data)


def test_decode_event_checks_envelope_then_data() -> None:
    data = valid_data("task.created")
    event = CloudEvent(type="task.created", source="/tasks", subject=data["task"]["id"], userid="1", data=data)
    assert decode_event(event.to_json()).to_dict() == event.to_dict()

    document = event.to_dict() | {"unexpected": True}
    with pytest.raises(InvalidEvent, match="unknown envelope fields"):
        decode_event(json.dumps(document))
    with pytest.raises(InvalidEvent, match="subject"):
        decode_event(json.dumps(event.to_dict() | {"subject": "task-1"}))
    with pytest.raises(InvalidEvent, match="not JSON"):
        decode_event(b"\xff")


def test_a_failure_inside_a_list_names_the_element() -> None:
    data = valid_data("task.updated")
    data["task"]["reminders"] = [{"id": str(uuid.uuid4())}, {"id": "reminder-2"}]
    with pytest.raises(InvalidEvent, match=r"^data\.task\.reminders\[1\]\.id: must be a UUID string$"):
        validate_data("task.updated", data)
    data = valid_data("task.updated")
    data["task"]["tags"] = ["work", 7]
    with pytest.raises(InvalidEvent, match=r"^data\.task\.tags\[1\]: must be a string$"):
        validate_data("task.updated", data)


def test_a_top_level_failure_names_data_alone() -> None:
    with pytest.raises(InvalidEvent, match=r"^data: must be an object$"):
        validate_data("task.updated", ["not", "an", "object"])


@pytest.mark.parametrize(
    "form", [str.upper, lambda text: f"{{{text}}}", lambda text: f"urn:uuid:{text}", lambda text: text.replace("-", "")]
)
def test_ids_are_accepted_in_every_form_uuid_accepts(form) -> None:
    data = valid_data("task.updated")
    data["task"]["id"] = form(data["task"]["id"])
    validate_data("task.updated", data)
    event = CloudEvent(type="task.updated", source="/tasks", subject=form(str(uuid.uuid4())), userid="1", data=data)
    document = event.to_dict() | {"id": form(event.id)}
    assert decode_event(json.dumps(document)).id == document["id"]


@pytest.mark.parametrize("value", [b'{"specversion": NaN}', b"\xef\xbb\xbf{}", b'{"a": "\\ud800"}'])
def test_values_that_are_not_strict_json_are_rejected(value: bytes) -> None:
    # NaN and a lone surrogate are what PostgreSQL's jsonb refuses too; a BOM is not RFC 8259 JSON.
    with pytest.raises(InvalidEvent, match="not JSON"):
        decode_event(value)
