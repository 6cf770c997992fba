"""The JSON field types of event payloads, their JSON Schemas, and the message an invalid payload gets.

Payload models (one per event type, in the app that owns the event) are built from these types.
Each type checks a JSON value exactly (no coercion: `true` is not an integer, `"5"` is not a
number) and fails with a short message; `invalid_payload_message` turns pydantic's errors into
one line naming the bad field, such as `data.task.reminders[1].id: must be a UUID string`.
Nested representations (`OpenPayload`) may carry more keys than declared, so adding a field to
the REST representation is an extension; an event's top-level `data` (`Payload`) may not.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

# The form every producer of ours writes (str(uuid.uuid4())): checked without building a UUID.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: Any) -> bool:
    """Whether `uuid.UUID(value)` accepts `value` (braces, a urn:uuid: prefix, no hyphens...),
    with a fast path for the canonical form: every consumer checks several ids per record."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return True
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _field(check: Callable[[Any], bool], message: str, schema: dict[str, Any], *, nullable: bool = False) -> Any:
    """An annotated type accepting what `check` accepts (and null if `nullable`)."""
    if nullable:
        message = f"{message} or null"
        schema = {"anyOf": [schema, {"type": "null"}]}

    def validate(value: Any) -> Any:
        if (value is None and nullable) or check(value):
            return value
        raise PydanticCustomError("invalid_field", message)

    return Annotated[Any, PlainValidator(validate), WithJsonSchema(schema)]


def _integer(value: Any) -> bool:
    # bool is an int in Python; a count or version must not be true/false.
    return isinstance(value, int) and not isinstance(value, bool)


def _timestamp(value: Any) -> bool:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        raise PydanticCustomError("invalid_field", "must be an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise PydanticCustomError("invalid_field", "must carry a UTC offset")
    return True


def choice(*choices: str, nullable: bool = False) -> Any:
    """A string among `choices`."""
    message = f"must be one of {sorted(choices)}"
    schema: dict[str, Any] = {"type": "string", "enum": list(choices)}
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}

    def validate(value: Any) -> Any:
        if (value is None and nullable) or value in choices:
            return value
        raise PydanticCustomError("invalid_field", message)

    return Annotated[Any, PlainValidator(validate), WithJsonSchema(schema)]


Str = _field(lambda value: isinstance(value, str), "must be a string", {"type": "string"})
NullableStr = _field(lambda value: isinstance(value, str), "must be a string", {"type": "string"}, nullable=True)
Int = _field(_integer, "must be an integer", {"type": "integer"})
NullableInt = _field(_integer, "must be an integer", {"type": "integer"}, nullable=True)
Bool = _field(lambda value: isinstance(value, bool), "must be a boolean", {"type": "boolean"})
StrOrInt = _field(
    lambda value: isinstance(value, str) or _integer(value),
    "must be a string or integer",
    {"anyOf": [{"type": "string"}, {"type": "integer"}]},
)
UUIDStr = _field(is_uuid, "must be a UUID string", {"type": "string", "format": "uuid"})
NullableUUIDStr = _field(is_uuid, "must be a UUID string", {"type": "string", "format": "uuid"}, nullable=True)
Timestamp = _field(_timestamp, "must be an ISO 8601 timestamp", {"type": "string", "format": "date-time"})
NullableTimestamp = _field(
    _timestamp, "must be an ISO 8601 timestamp", {"type": "string", "format": "date-time"}, nullable=True
)
JSONValue = Annotated[Any, WithJsonSchema({})]


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(description: str | None = None) -> Any:
    """A key that may be absent (its default is not part of the contract)."""
    return Field(default=None, description=description, json_schema_extra=_without_default)


class Payload(BaseModel):
    """An event's `data`: exactly the declared keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class OpenPayload(BaseModel):
    """A representation nested in `data`: the declared keys, and any others."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


_SHAPE_MESSAGES = {
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def _path(loc: tuple[int | str, ...]) -> str:
    return "data" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def invalid_payload_message(error: ValidationError) -> str:
    """One line for the first failure, as a reader checking top-down would find it: an object's
    missing keys, then its unknown keys, come before the checks of its fields."""
    errors = error.errors()
    first = errors[0]
    for depth in range(len(first["loc"])):
        parent = first["loc"][:depth]
        missing = [e["loc"][-1] for e in errors if e["type"] == "missing" and e["loc"][:-1] == parent]
        if missing:
            return f"{_path(parent)}: missing keys {missing}"
        extra = [e["loc"][-1] for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent]
        unknown = sorted(str(key) for key in extra)
        if unknown:
            return f"{_path(parent)}: unknown keys {unknown}"
    return f"{_path(first['loc'])}: {_SHAPE_MESSAGES.get(first['type'], first['msg'])}"
