"""Input and output of the recurrence API (DESIGN.md sections 4 and 5)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from recurrence_rules.occurrences import MAX_PREVIEW
from recurrence_rules.rules import MAX_RULE_LENGTH, RuleError, validate_rule
from tasks_app.models import RecurrenceMode
from tasks_app.schema import DocumentedSerializer
from tasks_app.serializers import LocalDateTimeField, StrictFieldsMixin, localize, timezone_field
from tasks_app.validation import InvalidInput, validate_timezone

DEFAULT_COUNT = 10


def _count_field(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1,
        max_value=MAX_PREVIEW,
        default=DEFAULT_COUNT,
        help_text=help_text,
        error_messages={
            "invalid": f"count must be a whole number from 1 to {MAX_PREVIEW}.",
            "min_value": f"count must be a whole number from 1 to {MAX_PREVIEW}.",
            "max_value": f"count must be a whole number from 1 to {MAX_PREVIEW}.",
            "max_string_length": f"count must be a whole number from 1 to {MAX_PREVIEW}.",
        },
    )


class PreviewInputSerializer(StrictFieldsMixin, DocumentedSerializer):
    recurrence_rule = serializers.CharField(
        max_length=MAX_RULE_LENGTH,
        trim_whitespace=True,
        help_text="An RFC 5545 RRULE (FREQ=…;…, with or without RRULE:) or a preset: daily, weekdays, weekly, "
        "monthly, yearly.",
    )
    due_at = LocalDateTimeField(
        help_text="The first occurrence (ISO 8601). With an offset it is that instant; without one it is read in "
        "`timezone`.",
    )
    timezone = timezone_field(
        default="UTC", help_text="IANA time zone the rule is expanded in (local wall-clock time)."
    )
    count = _count_field("How many occurrences to return, the first included (1-100, default 10).")
    recurrence_mode = serializers.ChoiceField(
        choices=RecurrenceMode.choices,
        default=RecurrenceMode.SCHEDULE,
        help_text="schedule (default): on the rule's dates. completion: the rule restarts when a task is "
        "completed; the preview assumes each is completed when due.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        self.validate_keys(data)
        return super().to_internal_value(data)

    def validate_timezone(self, value: str) -> str:
        try:
            return validate_timezone(value)
        except InvalidInput as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["due_at"] = localize(attrs["due_at"], attrs["timezone"])
        try:
            attrs["recurrence_rule"] = validate_rule(
                attrs["recurrence_rule"], dtstart=attrs["due_at"], timezone_name=attrs["timezone"]
            )
        except RuleError as exc:
            raise serializers.ValidationError({"recurrence_rule": [str(exc)]}) from exc
        return attrs


class PreviewOutputSerializer(serializers.Serializer):
    occurrences = serializers.ListField(
        child=serializers.DateTimeField(),
        help_text="Due times (ISO 8601 with the zone's offset); the first is due_at itself.",
    )
    text = serializers.CharField(help_text='The rule in words, e.g. "every 2 weeks on Tuesday and Thursday, 8 times".')
    ends = serializers.BooleanField(help_text="Whether the series ends (COUNT or UNTIL).")
    recurrence_rule = serializers.CharField(help_text="The normalised RRULE a task with this rule would store.")


class OccurrencesQuerySerializer(serializers.Serializer):
    count = _count_field("How many occurrences to return (1-100, default 10).")


class OccurrencesOutputSerializer(serializers.Serializer):
    occurrences = serializers.ListField(
        child=serializers.DateTimeField(),
        help_text="The next due times of the task's series after this task, in its time zone; empty when the "
        "task does not recur or its series has ended.",
    )
    text = serializers.CharField(help_text="The series' rule in words; empty when the task does not recur.")
