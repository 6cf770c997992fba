"""One typed schema per event type, checked where events are consumed (DESIGN.md section 3).

The envelope is checked by `CloudEvent.from_dict`; this module checks `data` for the event's
type, and the envelope fields whose form is our contract (`subject`, `sequence`). An unknown
type, a missing or mistyped field, or an unknown top-level `data` key makes the event invalid
(`InvalidEvent`), and the consumer runner dead-letters it.

Nested representations are open for extension: the task representation must carry every key of
DESIGN.md section 4 with the right type, but may carry more (adding a field to the REST
representation is an extension, not a breaking change). The same holds for reminders and
notifications. The `TypedDict`s describe the shapes for handler authors and type checkers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, NotRequired, TypedDict

from kafka_bridge.envelope import SEQUENCE_DIGITS, CloudEvent, InvalidEvent, is_uuid

# --- Shapes (for readers and type checkers) -------------------------------------------------


class TaskRepresentation(TypedDict):
    id: str
    title: str
    description: str
    status: str
    priority: str
    tags: list[str]
    due_at: str | None
    timezone: str
    recurrence_rule: str | None
    recurrence_mode: str | None
    series_id: str | None
    completed_at: str | None
    reminders: list[dict[str, Any]]
    created_at: str
    updated_at: str
    version: int
    recurrence_text: NotRequired[str | None]


class TaskEventData(TypedDict):
    task: TaskRepresentation
    changes: dict[str, dict[str, Any]]  # {field: {"old": ..., "new": ...}}; empty except for updates


class ReminderRepresentation(TypedDict):
    id: str
    task_id: str
    remind_at: str
    offset_minutes: int | None
    status: str
    fired_at: NotRequired[str | None]
    late: NotRequired[bool]


class NotificationRepresentation(TypedDict):
    id: str | int
    channel: str
    status: str
    attempts: int
    last_error: str | None
    provider_message_id: str | None


class ReminderEventData(TypedDict):
    reminder: ReminderRepresentation
    task: TaskRepresentation


class ReminderOutcomeData(TypedDict):
    reminder: ReminderRepresentation
    notification: NotificationRepresentation
    task: NotRequired[TaskRepresentation]
    reason: NotRequired[str]  # reminder.failed only


# --- Checks ---------------------------------------------------------------------------------
#
# A check takes a value and returns nothing, or raises `_Invalid`. The failing field's path is
# assembled only on a failure, as the exception passes up through the objects and lists that
# hold it: a valid event (nearly every one) builds no path strings (the audit consumer decodes
# every record of every topic; bench/README.md, audit profile).

Check = Callable[[Any], None]


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.parts: list[str] = []  # innermost first: ".key" or "[index]"

    def to_invalid_event(self) -> InvalidEvent:
        return InvalidEvent(f"data{''.join(reversed(self.parts))}: {self.message}")


def _fail(message: str) -> NoReturn:
    raise _Invalid(message)


def _type(expected: type | tuple[type, ...], name: str, *, nullable: bool = False) -> Check:
    # bool is an int in Python; a count or version must not be true/false.
    rejects_bool = bool not in (expected if isinstance(expected, tuple) else (expected,))
    message = f"must be {name}{' or null' if nullable else ''}"

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        if rejects_bool and isinstance(value, bool):
            _fail(f"must be {name}")
        if not isinstance(value, expected):
            _fail(message)

    return check


def _uuid(*, nullable: bool = False) -> Check:
    message = f"must be a UUID string{' or null' if nullable else ''}"

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        if not is_uuid(value):
            _fail(message)

    return check


def _timestamp(*, nullable: bool = False) -> Check:
    def check(value: Any) -> None:
        if value is None and nullable:
            return
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except (TypeError, ValueError, AttributeError):
            _fail("must be an ISO 8601 timestamp")
        if moment.tzinfo is None:
            _fail("must carry a UTC offset")

    return check


def _choice(*choices: str, nullable: bool = False) -> Check:
    message = f"must be one of {sorted(choices)}"

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        if value not in choices:
            _fail(message)

    return check


def _list_of(item: Check) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, list):
            _fail("must be a list")
        for index, element in enumerate(value):
            try:
                item(element)
            except _Invalid as error:
                error.parts.append(f"[{index}]")
                raise

    return check


def _dict_of(item: Check) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, dict):
            _fail("must be an object")
        for key, element in value.items():
            try:
                item(element)
            except _Invalid as error:
                error.parts.append(f".{key}")
                raise

    return check


def _anything(value: Any) -> None:
    return None


class ObjectSchema:
    """A JSON object: `required` keys, `optional` keys, and whether other keys are allowed."""

    def __init__(
        self, required: Mapping[str, Check], optional: Mapping[str, Check] | None = None, *, open: bool = False
    ) -> None:
        self.required = dict(required)
        self.optional = dict(optional or {})
        self.open = open
        self._required_keys = frozenset(self.required)
        self._known_keys = self._required_keys | frozenset(self.optional)
        self._checks = (*self.required.items(), *self.optional.items())

    def __call__(self, value: Any) -> None:
        if not isinstance(value, dict):
            _fail("must be an object")
        keys = value.keys()
        if not keys >= self._required_keys:
            _fail(f"missing keys {[key for key in self.required if key not in value]}")
        if not self.open and not keys <= self._known_keys:
            _fail(f"unknown keys {sorted(keys - self._known_keys)}")
        for key, check in self._checks:
            if key in value:  # always true of a required key (checked above)
                try:
                    check(value[key])
                except _Invalid as error:
                    error.parts.append(f".{key}")
                    raise


_str = _type(str, "a string")
_nullable_str = _type(str, "a string", nullable=True)
_int = _type(int, "an integer")

TASK = ObjectSchema(
    required={
        "id": _uuid(),
        "title": _str,
        "description": _str,
        "status": _choice("open", "completed"),
        "priority": _choice("low", "medium", "high", "urgent"),
        "tags": _list_of(_str),
        "due_at": _timestamp(nullable=True),
        "timezone": _str,
        "recurrence_rule": _nullable_str,
        "recurrence_mode": _choice("schedule", "completion", nullable=True),
        "series_id": _uuid(nullable=True),
        "completed_at": _timestamp(nullable=True),
        "reminders": _list_of(ObjectSchema(required={"id": _uuid()}, open=True)),
        "created_at": _timestamp(),
        "updated_at": _timestamp(),
        "version": _int,
    },
    optional={"recurrence_text": _nullable_str},
    open=True,
)

CHANGES = _dict_of(ObjectSchema(required={"old": _anything, "new": _anything}))

REMINDER = ObjectSchema(
    required={
        "id": _uuid(),
        "task_id": _uuid(),
        "remind_at": _timestamp(),
        "offset_minutes": _type(int, "an integer", nullable=True),
        "status": _str,
    },
    optional={"fired_at": _timestamp(nullable=True), "late": _type(bool, "a boolean")},
    open=True,
)

NOTIFICATION = ObjectSchema(
    required={
        "id": _type((str, int), "a string or integer"),
        "channel": _str,
        "status": _str,
        "attempts": _int,
        "last_error": _nullable_str,
        "provider_message_id": _nullable_str,
    },
    open=True,
)

TASK_EVENT = ObjectSchema(required={"task": TASK, "changes": CHANGES})
REMINDER_EVENT = ObjectSchema(required={"reminder": REMINDER, "task": TASK})
REMINDER_SENT = ObjectSchema(required={"reminder": REMINDER, "notification": NOTIFICATION}, optional={"task": TASK})
REMINDER_FAILED = ObjectSchema(
    required={"reminder": REMINDER, "notification": NOTIFICATION, "reason": _str}, optional={"task": TASK}
)


@dataclass(frozen=True)
class EventSchema:
    type: str
    data: ObjectSchema
    shape: type


SCHEMAS: dict[str, EventSchema] = {
    schema.type: schema
    for schema in (
        EventSchema("task.created", TASK_EVENT, TaskEventData),
        EventSchema("task.updated", TASK_EVENT, TaskEventData),
        EventSchema("task.completed", TASK_EVENT, TaskEventData),
        EventSchema("task.reopened", TASK_EVENT, TaskEventData),
        EventSchema("task.deleted", TASK_EVENT, TaskEventData),
        EventSchema("reminder.scheduled", REMINDER_EVENT, ReminderEventData),
        EventSchema("reminder.due", REMINDER_EVENT, ReminderEventData),
        EventSchema("reminder.cancelled", REMINDER_EVENT, ReminderEventData),
        EventSchema("reminder.sent", REMINDER_SENT, ReminderOutcomeData),
        EventSchema("reminder.failed", REMINDER_FAILED, ReminderOutcomeData),
    )
}

EVENT_TYPES = frozenset(SCHEMAS)


def validate_data(event_type: str, data: Any) -> None:
    """Raise `InvalidEvent` unless `data` fits the schema of `event_type`."""
    schema = SCHEMAS.get(event_type)
    if schema is None:
        raise InvalidEvent(f"unknown event type {event_type!r}")
    try:
        schema.data(data)
    except _Invalid as error:
        raise error.to_invalid_event() from None


# Any bigint (an outbox id) in SEQUENCE_DIGITS digits: what the audit log stores as a number.
_SEQUENCE = re.compile(rf"[0-9]{{{SEQUENCE_DIGITS}}}")
_MAX_SEQUENCE = 2**63 - 1


def validate_event(event: CloudEvent) -> CloudEvent:
    """Check an envelope-valid event against its type's schema; returns it for chaining."""
    validate_data(event.type, event.data)
    if not is_uuid(event.subject):
        raise InvalidEvent("envelope field 'subject' must be the task id (a UUID)")
    if event.sequence is not None and not (
        _SEQUENCE.fullmatch(event.sequence) and int(event.sequence) <= _MAX_SEQUENCE
    ):
        raise InvalidEvent(f"envelope field 'sequence' must be a bigint in {SEQUENCE_DIGITS} zero-padded digits")
    return event


def decode_event(value: bytes | str | None) -> CloudEvent:
    """Parse a record value into a schema-valid `CloudEvent` (or raise `InvalidEvent`)."""
    return validate_event(CloudEvent.from_json(value))
