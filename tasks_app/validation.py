"""Limits and messages of task input, shared by the serializers (API) and the services (everyone).

Messages are written for the chatbot as much as for people: each says what is allowed.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from django.utils import timezone as django_timezone

from core.errors import ApplicationError
from recurrence_rules.rules import RuleError, validate_rule
from tasks_app.models import Priority, RecurrenceMode

TITLE_MAX = 500
DESCRIPTION_MAX = 10_000
TAGS_MAX = 20
TAG_MAX_LENGTH = 50
REMINDERS_MAX = 10
OFFSET_MAX_MINUTES = 366 * 24 * 60

MESSAGES = {
    "title_blank": "Title must not be blank.",
    "title_too_long": f"Title must be at most {TITLE_MAX} characters.",
    "description_too_long": f"Description must be at most {DESCRIPTION_MAX} characters.",
    "priority_invalid": "Priority must be one of: low, medium, high, urgent.",
    "due_at_invalid": (
        "due_at must be an ISO 8601 date-time such as 2026-12-01T09:00:00+01:00; "
        "a time without an offset is read in the task's timezone."
    ),
    "timezone_invalid": "Timezone must be an IANA time zone name such as Europe/Berlin, America/New_York or UTC.",
    "rule_needs_due_at": "A recurrence rule needs due_at: set due_at too (the first occurrence).",
    "mode_invalid": "recurrence_mode must be one of: schedule, completion.",
    "tags_too_many": f"At most {TAGS_MAX} tags are allowed.",
    "tag_too_long": f"Each tag must be at most {TAG_MAX_LENGTH} characters.",
    "tag_blank": "Tags must not be blank.",
    "tags_not_list": "Tags must be a list of strings.",
    "reminders_too_many": f"At most {REMINDERS_MAX} reminders are allowed.",
    "reminder_one_of": (
        "Each reminder needs exactly one of remind_at (a date-time) or offset_minutes (minutes before due_at)."
    ),
    "reminder_needs_due_at": "A reminder with offset_minutes needs due_at on the task.",
    "reminder_offset_range": f"offset_minutes must be between 0 and {OFFSET_MAX_MINUTES} (one year).",
    "reminder_in_past": "remind_at must be in the future.",
    "read_only": "This field is read-only.",
    "status_read_only": "status is read-only here: use POST /api/v1/tasks/{id}/complete/ or /reopen/.",
    "unknown_field": "Unknown field.",
}


class InvalidInput(ValueError):
    """A value that breaks one of the rules above; the message is the field message."""


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(name: object) -> str:
    if not isinstance(name, str) or name not in _zones():
        raise InvalidInput(MESSAGES["timezone_invalid"])
    return name


def normalize_tags(names: Iterable[object]) -> list[str]:
    """Trimmed, lower-cased, de-duplicated tag names in their first-seen order."""
    if isinstance(names, str | bytes | dict) or not isinstance(names, Iterable):
        raise InvalidInput(MESSAGES["tags_not_list"])
    result: list[str] = []
    for raw in names:
        if not isinstance(raw, str):
            raise InvalidInput(MESSAGES["tags_not_list"])
        name = raw.strip().lower()
        if not name:
            raise InvalidInput(MESSAGES["tag_blank"])
        if len(name) > TAG_MAX_LENGTH:
            raise InvalidInput(MESSAGES["tag_too_long"])
        if name not in result:
            result.append(name)
    if len(result) > TAGS_MAX:
        raise InvalidInput(MESSAGES["tags_too_many"])
    return result


def normalize_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput(MESSAGES["title_blank"])
    title = title.strip()
    if len(title) > TITLE_MAX:
        raise InvalidInput(MESSAGES["title_too_long"])
    return title


def validate_description(description: object) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise InvalidInput("Description must be a string.")
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput(MESSAGES["description_too_long"])
    return description


def validation_error(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError("Some fields are invalid.", code="validation_error", status=400, fields=fields)


# --- Checks of service input (API and non-API callers alike) ------------------------------


class FieldErrors:
    """Collects field messages so a caller learns about every bad field at once."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def check(self, field: str, fn: Any, value: Any) -> Any:
        try:
            return fn(value)
        except InvalidInput as exc:
            self.add(field, str(exc))
            return None

    def raise_if_any(self) -> None:
        if self.fields:
            raise validation_error(self.fields)


def clean_priority(value: object) -> str:
    if value not in Priority.values:
        raise InvalidInput(MESSAGES["priority_invalid"])
    return str(value)


def clean_mode(value: object) -> str:
    if value not in RecurrenceMode.values:
        raise InvalidInput(MESSAGES["mode_invalid"])
    return str(value)


def clean_due_at(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or django_timezone.is_naive(value):
        raise InvalidInput(MESSAGES["due_at_invalid"])
    return value


def clean_reminders(value: object) -> list[dict[str, Any]]:
    """Reminder specs as `{"remind_at": aware datetime}` or `{"offset_minutes": int}`."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidInput(MESSAGES["reminder_one_of"])
    specs: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise InvalidInput(MESSAGES["reminder_one_of"])
        remind_at, offset = item.get("remind_at"), item.get("offset_minutes")
        if (remind_at is None) == (offset is None):
            raise InvalidInput(MESSAGES["reminder_one_of"])
        if offset is not None:
            if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= OFFSET_MAX_MINUTES:
                raise InvalidInput(MESSAGES["reminder_offset_range"])
            spec: dict[str, Any] = {"offset_minutes": offset}
        else:
            if not isinstance(remind_at, datetime) or django_timezone.is_naive(remind_at):
                raise InvalidInput(MESSAGES["reminder_one_of"])
            spec = {"remind_at": remind_at}
        if spec not in specs:
            specs.append(spec)
    if len(specs) > REMINDERS_MAX:
        raise InvalidInput(MESSAGES["reminders_too_many"])
    return specs


def clean_rule(errors: FieldErrors, rule: object, due_at: datetime | None, timezone_name: str | None) -> str:
    """The normalised rule; presets are refined for month ends in the task's own time zone."""
    if rule in (None, ""):
        return ""
    if not isinstance(rule, str):
        errors.add("recurrence_rule", "The recurrence rule must be a string.")
        return ""
    try:
        normalised = validate_rule(rule, dtstart=due_at, timezone_name=timezone_name)
    except RuleError as exc:
        errors.add("recurrence_rule", str(exc))
        return ""
    except (ValueError, ArithmeticError, TypeError, LookupError):
        # dateutil can fail in other ways on extreme values; that is still a bad rule, not a 500.
        errors.add("recurrence_rule", "The recurrence rule is not a valid RRULE.")
        return ""
    if due_at is None:
        errors.add("recurrence_rule", MESSAGES["rule_needs_due_at"])
    return normalised


def check_relative_reminders(errors: FieldErrors, specs: Iterable[Mapping[str, Any]], due_at: datetime | None) -> None:
    if due_at is None and any(spec.get("offset_minutes") is not None for spec in specs):
        errors.add("reminders", MESSAGES["reminder_needs_due_at"])
