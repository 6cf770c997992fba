"""The consuming edge's check of an event: its envelope, then its `data` against the payload model of its type.

The envelope is checked by `CloudEvent.from_dict`; this module checks `data` with the pydantic
model the owning app declares for the event's type (`core.domain_events.payload_models`), and
the envelope fields whose form is our contract (`subject`, `sequence`). An unknown type, a
missing or mistyped field, or an unknown top-level `data` key makes the event invalid
(`InvalidEvent`, its message naming the field), and the consumer runner dead-letters it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from core.domain_events import payload_models
from core.domain_events.fields import invalid_payload_message
from kafka_bridge.envelope import SEQUENCE_DIGITS, CloudEvent, InvalidEvent, is_uuid

# Any bigint (an outbox id) in SEQUENCE_DIGITS digits: what the audit log stores as a number.
_SEQUENCE = re.compile(rf"[0-9]{{{SEQUENCE_DIGITS}}}")
_MAX_SEQUENCE = 2**63 - 1


def event_types() -> frozenset[str]:
    """Every declared event type."""
    return frozenset(payload_models())


def __getattr__(name: str) -> Any:
    # EVENT_TYPES is read once the apps have declared their routes, not at import.
    if name == "EVENT_TYPES":
        return event_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate_data(event_type: str, data: Any) -> None:
    """Raise `InvalidEvent` unless `data` fits the payload model of `event_type`."""
    model = payload_models().get(event_type)
    if model is None:
        raise InvalidEvent(f"unknown event type {event_type!r}")
    try:
        model.model_validate(data)
    except ValidationError as error:
        raise InvalidEvent(invalid_payload_message(error)) from None


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
