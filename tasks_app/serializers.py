"""Input and output serializers of the task API: shapes, types and field messages only.

Business rules (a rule needs due_at, relative reminders need due_at, tag normalisation) are
enforced by the services, which answer with the same field-level error shape. Output is always
`tasks_app.representations` (the same dict the events carry); the output serializers here exist
to document it in the OpenAPI schema.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone as django_timezone
from rest_framework import serializers

from recurrence_rules.rules import PRESETS
from tasks_app.models import Priority, RecurrenceMode, ReminderStatus, TaskStatus
from tasks_app.representations import task_representation
from tasks_app.schema import DocumentedSerializer
from tasks_app.validation import (
    DESCRIPTION_MAX,
    MESSAGES,
    OFFSET_MAX_MINUTES,
    REMINDERS_MAX,
    TAG_MAX_LENGTH,
    TAGS_MAX,
    TITLE_MAX,
    InvalidInput,
    validate_timezone,
)

# The names `validate_timezone` accepts, published as the schema's enum.
TIMEZONES = sorted(zoneinfo.available_timezones())
READ_ONLY_FIELDS = ("id", "owner", "status", "series_id", "created_at", "updated_at", "version", "completed_at")
EARLIEST, LATEST = 1970, 2999


def no_surrogates(value: str) -> None:
    # Lone surrogates cannot be stored as UTF-8: refuse them here instead of failing in the DB.
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise serializers.ValidationError("Text must be valid Unicode (no lone surrogate characters).")


def timezone_field(**kwargs: Any) -> serializers.ChoiceField:
    """An IANA time zone name; the schema lists every one (`TimezoneEnum`)."""
    return serializers.ChoiceField(
        choices=TIMEZONES,
        error_messages={
            "invalid_choice": MESSAGES["timezone_invalid"],
            "blank": MESSAGES["timezone_invalid"],
            "null": MESSAGES["timezone_invalid"],
        },
        **kwargs,
    )


class LocalDateTimeField(serializers.DateTimeField):
    """ISO 8601 date-time; a naive value stays naive here and is read in the task's time zone by
    `TaskInputSerializer.validate`."""

    default_error_messages = {
        "invalid": MESSAGES["due_at_invalid"],
        "date": MESSAGES["due_at_invalid"],
        "range": f"Date-times must lie between the years {EARLIEST} and {LATEST}.",
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        return value

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid", format="")
        parsed = super().to_internal_value(value)
        if not EARLIEST <= parsed.year <= LATEST:
            self.fail("range")
        if django_timezone.is_aware(parsed):
            # In UTC: PostgreSQL refuses offsets beyond ±16 h, which ISO 8601 allows.
            parsed = parsed.astimezone(UTC)
        return parsed


def localize(value: datetime | None, zone_name: str) -> datetime | None:
    if value is None or django_timezone.is_aware(value):
        return value
    return django_timezone.make_aware(value, ZoneInfo(zone_name))


class StrictFieldsMixin:
    """Unknown and read-only keys are errors, not silently ignored, so a caller learns at once
    that a change did not happen."""

    rejects_unknown_keys = True

    def validate_keys(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        errors = {}
        for key in data:
            if key == "status":
                errors[key] = [MESSAGES["status_read_only"]]
            elif key in READ_ONLY_FIELDS:
                errors[key] = [MESSAGES["read_only"]]
            elif key not in self.fields:  # type: ignore[attr-defined]
                errors[key] = [MESSAGES["unknown_field"]]
        if errors:
            raise serializers.ValidationError(errors)


class ReminderInputSerializer(StrictFieldsMixin, DocumentedSerializer):
    """A reminder: exactly one of `remind_at` (absolute) or `offset_minutes` (before due_at)."""

    # One example of the whole: examples per field would give both, which the `oneOf` refuses.
    example = {"offset_minutes": 30}
    exactly_one_of = ("remind_at", "offset_minutes")

    remind_at = LocalDateTimeField(
        required=False,
        allow_null=True,
        help_text="Absolute time of the reminder (ISO 8601; without an offset it is read in the task's "
        "timezone). Must be in the future. Give this or offset_minutes, not both.",
    )
    offset_minutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=OFFSET_MAX_MINUTES,
        help_text="Minutes before due_at (needs due_at); follows due_at when it changes. "
        "Give this or remind_at, not both.",
        error_messages={
            "min_value": MESSAGES["reminder_offset_range"],
            "max_value": MESSAGES["reminder_offset_range"],
            "invalid": MESSAGES["reminder_offset_range"],
        },
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        self.validate_keys(data)
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("remind_at") is None) == (attrs.get("offset_minutes") is None):
            raise serializers.ValidationError(MESSAGES["reminder_one_of"])
        return {key: value for key, value in attrs.items() if value is not None}


class TaskInputSerializer(StrictFieldsMixin, DocumentedSerializer):
    """Body of POST (create), PUT (replace: omitted fields take their defaults) and PATCH (change
    only the given fields). Read-only fields (id, status, series_id, version, timestamps) are
    rejected; use /complete/ and /reopen/ to change status."""

    field_examples = {
        "title": "Submit the quarterly report",
        "description": "Numbers from finance first; send to Dana.",
        "priority": "high",
        "tags": ["work", "reports"],
        "due_at": "2030-12-01T09:00:00+01:00",
        "timezone": "Europe/Berlin",
        "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,WE",
        "recurrence_mode": "schedule",
        "reminders": [{"offset_minutes": 30}, {"remind_at": "2030-11-30T18:00:00+01:00"}],
    }

    title = serializers.CharField(
        max_length=TITLE_MAX,
        validators=[no_surrogates],
        help_text=f"What to do, 1 to {TITLE_MAX} characters (surrounding spaces are trimmed).",
        error_messages={
            "required": "Title is required.",
            "blank": MESSAGES["title_blank"],
            "null": MESSAGES["title_blank"],
            "max_length": MESSAGES["title_too_long"],
            "invalid": "Title must be a string.",
        },
    )
    description = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=DESCRIPTION_MAX,
        validators=[no_surrogates],
        help_text=f"Free-text details, at most {DESCRIPTION_MAX} characters.",
        error_messages={
            "max_length": MESSAGES["description_too_long"],
            "null": 'Description must be a string (use "" for none).',
            "invalid": "Description must be a string.",
        },
    )
    priority = serializers.ChoiceField(
        choices=Priority.choices,
        required=False,
        default=Priority.MEDIUM,
        help_text="low, medium (default), high or urgent; ordering=priority sorts in this order.",
        error_messages={"invalid_choice": MESSAGES["priority_invalid"], "null": MESSAGES["priority_invalid"]},
    )
    tags = serializers.ListField(
        child=serializers.CharField(
            max_length=TAG_MAX_LENGTH,
            validators=[no_surrogates],
            error_messages={"blank": MESSAGES["tag_blank"], "max_length": MESSAGES["tag_too_long"]},
        ),
        required=False,
        default=list,
        max_length=TAGS_MAX,
        help_text=f"Up to {TAGS_MAX} labels of at most {TAG_MAX_LENGTH} characters; trimmed, lower-cased and "
        "de-duplicated. Replaces the task's tags.",
        error_messages={"max_length": MESSAGES["tags_too_many"], "not_a_list": MESSAGES["tags_not_list"]},
    )
    due_at = LocalDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the task is due, ISO 8601. A time without an offset (2030-12-01T09:00:00) is read in the "
        "task's timezone. null: no due date.",
    )
    timezone = timezone_field(
        required=False,
        default="UTC",
        help_text="IANA time zone of the task (Europe/Berlin, America/New_York, UTC): naive times are read in it, "
        "due_at is shown in it and recurrences are expanded in it.",
    )
    recurrence_rule = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        validators=[no_surrogates],
        help_text="Repeat rule: an RFC 5545 RRULE (FREQ=WEEKLY;BYDAY=MO,WE, with or without the RRULE: prefix) or a "
        f'preset ({", ".join(PRESETS)}). Needs due_at (the first occurrence). "" for none.',
        error_messages={"null": 'Use "" for no recurrence rule.'},
    )
    recurrence_mode = serializers.ChoiceField(
        choices=RecurrenceMode.choices,
        required=False,
        default=RecurrenceMode.SCHEDULE,
        help_text="schedule: the next occurrence follows the calendar; completion: the rule restarts when the task "
        "is completed (every 3 days after I finish).",
        error_messages={"invalid_choice": MESSAGES["mode_invalid"], "null": MESSAGES["mode_invalid"]},
    )
    reminders = ReminderInputSerializer(
        many=True,
        required=False,
        default=list,
        help_text=f"Up to {REMINDERS_MAX} reminders, each {{remind_at}} or {{offset_minutes}}. Replaces the task's "
        "pending reminders (unchanged ones keep their id).",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        self.validate_keys(data)
        return super().to_internal_value(data)

    def validate_reminders(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > REMINDERS_MAX:
            raise serializers.ValidationError(MESSAGES["reminders_too_many"])
        return value

    def validate_timezone(self, value: str) -> str:
        try:
            return validate_timezone(value)
        except InvalidInput as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        zone = attrs.get("timezone") or self.context.get("timezone") or "UTC"
        if "due_at" in attrs:
            attrs["due_at"] = localize(attrs["due_at"], zone)
        if "reminders" in attrs:
            now = django_timezone.now()
            for index, reminder in enumerate(attrs["reminders"]):
                if "remind_at" in reminder:
                    reminder["remind_at"] = localize(reminder["remind_at"], zone)
                    if reminder["remind_at"] <= now:
                        raise serializers.ValidationError({"reminders": {index: [MESSAGES["reminder_in_past"]]}})
        return attrs


# --- Output (documentation of `task_representation`) -----------------------------------------


class ReminderOutputSerializer(DocumentedSerializer):
    """A reminder as `task_representation` lists it (schema only)."""

    field_examples = {
        "id": "0b7f8c1e-2f4e-4a43-9d53-3c3f7f0c1a11",
        "remind_at": "2030-12-01T08:30:00+01:00",
        "offset_minutes": 30,
        "status": "scheduled",
    }

    id = serializers.UUIDField(help_text="Reminder id.")
    remind_at = serializers.DateTimeField(help_text="When it fires, in the task's timezone.")
    offset_minutes = serializers.IntegerField(allow_null=True, help_text="Minutes before due_at, or null (absolute).")
    status = serializers.ChoiceField(
        choices=ReminderStatus.choices,
        help_text="scheduled (pending), fired (sent) or cancelled (task completed or deleted).",
    )


class TaskOutputSerializer(DocumentedSerializer):
    """A task as the API returns it and events carry it. The data come from its one builder,
    `task_representation`; the fields declared here describe it in the schema, and a test keeps
    them equal to its keys (tasks_app/tests/test_representation_shape.py)."""

    field_examples = {
        **TaskInputSerializer.field_examples,
        "id": "6f1d3c1a-8a0e-4d8b-9a8e-1c2b3d4e5f60",
        "status": "open",
        "recurrence_text": "every week on Monday and Wednesday",
        "series_id": "2d7b0c5e-1f5a-4b8e-8b8e-0a1b2c3d4e5f",
        "completed_at": None,
        "created_at": "2030-11-28T15:04:05.123456Z",
        "updated_at": "2030-11-28T15:04:05.123456Z",
        "version": 3,
        "reminders": [
            {
                "id": "0b7f8c1e-2f4e-4a43-9d53-3c3f7f0c1a11",
                "remind_at": "2030-12-01T08:30:00+01:00",
                "offset_minutes": 30,
                "status": "scheduled",
            }
        ],
    }

    id = serializers.UUIDField(help_text="Task id (use it in /api/v1/tasks/{id}/).")
    title = serializers.CharField(help_text="What to do.")
    description = serializers.CharField(allow_blank=True, help_text="Details; may be empty.")
    status = serializers.ChoiceField(choices=TaskStatus.choices, help_text="open or completed.")
    priority = serializers.ChoiceField(choices=Priority.choices, help_text="low, medium, high or urgent.")
    tags = serializers.ListField(child=serializers.CharField(), help_text="Lower-case labels, sorted.")
    due_at = serializers.DateTimeField(allow_null=True, help_text="Due time in the task's timezone, or null.")
    timezone = serializers.CharField(help_text="IANA time zone of the task.")
    recurrence_rule = serializers.CharField(allow_blank=True, help_text='Normalised RRULE, or "" (not recurring).')
    recurrence_mode = serializers.ChoiceField(choices=RecurrenceMode.choices, help_text="schedule or completion.")
    recurrence_text = serializers.CharField(allow_blank=True, help_text='The rule in words, or "".')
    series_id = serializers.UUIDField(
        allow_null=True, help_text="The recurring series this task belongs to (all its occurrences share it)."
    )
    completed_at = serializers.DateTimeField(allow_null=True, help_text="When it was completed (UTC), or null.")
    reminders = ReminderOutputSerializer(many=True, help_text="Reminders, earliest first.")
    created_at = serializers.DateTimeField(help_text="Creation time (UTC).")
    updated_at = serializers.DateTimeField(help_text="Last change (UTC).")
    version = serializers.IntegerField(
        help_text="Incremented on every change; the ETag header carries it. Send it back in If-Match to avoid "
        "overwriting someone else's change."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return task_representation(instance)


class TagOutputSerializer(DocumentedSerializer):
    field_examples = {"name": "work", "task_count": 12, "open_task_count": 5}

    name = serializers.CharField(help_text="Tag name (lower-case); filter tasks with ?tag=<name>.")
    task_count = serializers.IntegerField(help_text="Tasks with this tag.")
    open_task_count = serializers.IntegerField(help_text="Open tasks with this tag.")
