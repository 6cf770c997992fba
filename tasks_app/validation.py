"""Limits and messages of task input, shared by the serializers (API) and the services (everyone).

Messages are written for the chatbot as much as for people: each says what is allowed.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from functools import cache

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
