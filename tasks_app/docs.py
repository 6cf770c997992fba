"""OpenAPI documentation of the task API: descriptions, parameters, examples, error responses.

Written for an LLM calling the API as a tool: every parameter, field and error says what it
does and shows a value.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from core.pagination import MAXIMUM
from core.query import END
from tasks_app.filters import ORDERING_FIELDS, ORDERING_PATTERN, PRIORITY_PATTERN, TAG_PATTERN
from tasks_app.schema import DocumentedSerializer
from tasks_app.serializers import TagOutputSerializer, TaskOutputSerializer

# --- Errors -----------------------------------------------------------------------------------


class ErrorBodySerializer(DocumentedSerializer):
    field_examples = {
        "code": "validation_error",
        "message": "Some fields are invalid.",
        "fields": {"title": ["Title must not be blank."]},
        "request_id": "2b1f0c3e9a8d4c7b",
    }

    code = serializers.CharField(
        help_text="Stable machine-readable code: validation_error, not_authenticated, not_found, "
        "precondition_failed, idempotency_key_reused, idempotency_request_in_flight, task_deleted, payload_too_large, "
        "unsupported_media_type, bad_request, server_error."
    )
    message = serializers.CharField(help_text="What went wrong and how to fix it, in English.")
    fields = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Only for validation errors: field name → list of messages (nested for list items).",
    )
    request_id = serializers.CharField(help_text="Correlation id of the request (also in the X-Request-ID header).")


class ErrorSerializer(DocumentedSerializer):
    field_examples = {"error": ErrorBodySerializer.field_examples}

    error = ErrorBodySerializer(help_text="The error.")


def _error(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": "2b1f0c3e9a8d4c7b"}
    if fields:
        body["fields"] = fields
    return {"error": body}


_ERRORS: dict[int, tuple[str, list[OpenApiExample]]] = {
    400: (
        "Invalid input: `fields` names each bad field with its messages.",
        [
            OpenApiExample(
                "Invalid fields",
                value=_error(
                    "validation_error",
                    "Some fields are invalid.",
                    {
                        "title": ["Title must not be blank."],
                        "timezone": [
                            "Timezone must be an IANA time zone name such as Europe/Berlin, America/New_York or UTC."
                        ],
                    },
                ),
            ),
            OpenApiExample(
                "Rule without due_at",
                value=_error(
                    "validation_error",
                    "Some fields are invalid.",
                    {"recurrence_rule": ["A recurrence rule needs due_at: set due_at too (the first occurrence)."]},
                ),
            ),
            OpenApiExample(
                "Bad filter",
                value=_error(
                    "validation_error",
                    "Some fields are invalid.",
                    {"priority": ["priority must be a comma-separated list of: low, medium, high, urgent."]},
                ),
            ),
        ],
    ),
    401: (
        "Missing, invalid or expired bearer token.",
        [
            OpenApiExample(
                "No token", value=_error("not_authenticated", "Authentication credentials were not provided.")
            )
        ],
    ),
    404: (
        "No such task for the caller (another user's task is also a 404).",
        [OpenApiExample("Not found", value=_error("not_found", "Not found."))],
    ),
    409: (
        "A request with the same Idempotency-Key is still in flight; retry after `Retry-After` seconds.",
        [
            OpenApiExample(
                "In flight",
                value=_error(
                    "idempotency_request_in_flight",
                    "A request with this Idempotency-Key is still being processed; retry in a moment.",
                ),
            )
        ],
    ),
    410: (
        "The Idempotency-Key's first request created a task that has been deleted since: nothing is created again. "
        "Use a new key to create another task.",
        [
            OpenApiExample(
                "Task deleted since",
                value=_error(
                    "task_deleted",
                    "This Idempotency-Key already created task 6f1d3c1a-8a0e-4d8b-9a8e-1c2b3d4e5f60, which has been "
                    "deleted since. Use a new key to create another task.",
                ),
            )
        ],
    ),
    412: (
        "`If-Match` names a version that is no longer current: read the task again and retry.",
        [
            OpenApiExample(
                "Stale version",
                value=_error(
                    "precondition_failed",
                    "The task changed since version 3; it is now at version 4. Read it again (GET) and retry with "
                    "the new ETag in If-Match.",
                ),
            )
        ],
    ),
    413: (
        "The request body is too large.",
        [
            OpenApiExample(
                "Too large", value=_error("payload_too_large", "The request body is larger than 262144 bytes.")
            )
        ],
    ),
    415: (
        "The body is not `application/json`.",
        [
            OpenApiExample(
                "Not JSON", value=_error("unsupported_media_type", 'Unsupported media type "text/plain" in request.')
            )
        ],
    ),
    422: (
        "The Idempotency-Key was already used with a different body.",
        [
            OpenApiExample(
                "Key reused",
                value=_error(
                    "idempotency_key_reused",
                    "This Idempotency-Key was already used with a different request body. Use a new key for a new "
                    "request.",
                ),
            )
        ],
    ),
}


def ok(description: str, serializer: Any = TaskOutputSerializer) -> OpenApiResponse:
    return OpenApiResponse(response=serializer, description=description)


TASK_OK = ok("The task; the ETag header carries its version for If-Match.")
CREATED = ok("Created (with a repeated Idempotency-Key: the first response again). Headers: ETag, Location.")


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=_ERRORS[code][0], examples=_ERRORS[code][1])
        for code in codes
    }


# --- Pagination -------------------------------------------------------------------------------


def _page(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    return type(
        name,
        (DocumentedSerializer,),
        {
            "field_examples": {
                "count": 123,
                "next": "https://todo.example.com/api/v1/tasks/?limit=50&offset=50",
                "previous": None,
            },
            "count": serializers.IntegerField(help_text="Rows matching the filters, all pages together."),
            "next": serializers.URLField(allow_null=True, help_text="URL of the next page, or null."),
            "previous": serializers.URLField(allow_null=True, help_text="URL of the previous page, or null."),
            "results": item(many=True, help_text="This page's rows."),
        },
    )


TaskPageSerializer = _page("TaskPage", TaskOutputSerializer)
TagPageSerializer = _page("TagPage", TagOutputSerializer)

# --- Parameters -------------------------------------------------------------------------------

_ETAG = r'[ \t]*(W/)?"?[0-9]{1,12}"?[ \t]*'
IF_MATCH_PATTERN = rf"^([ \t]*\*[ \t]*|{_ETAG}(,{_ETAG})*){END}"

LIMIT = OpenApiParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAXIMUM},
    description="Page size: default 50, at most 200 (larger values are capped).",
    examples=[OpenApiExample("Twenty", value=20)],
)
OFFSET = OpenApiParameter(
    "offset",
    {"type": "integer", "minimum": 0, "maximum": MAXIMUM},
    description="Rows to skip (0 = first page). Use `next` from the response to page on.",
    examples=[OpenApiExample("Second page of 20", value=20)],
)


def _query(name: str, type_: Any, description: str, example: Any, **extra: Any) -> OpenApiParameter:
    return OpenApiParameter(
        name, type_, description=description, examples=[OpenApiExample(name, value=example)], **extra
    )


LIST_PARAMETERS = [
    _query("status", OpenApiTypes.STR, "Only `open` or only `completed` tasks.", "open", enum=["open", "completed"]),
    _query(
        "priority",
        OpenApiTypes.STR,
        "Comma-separated priorities (up to 4); a task matches if it has any of them (low, medium, high, urgent).",
        "high,urgent",
        pattern=PRIORITY_PATTERN,
    ),
    _query(
        "tag",
        OpenApiTypes.STR,
        "Comma-separated tag names (up to 20); a task matches only if it has all of them (case-insensitive).",
        "work,reports",
        pattern=TAG_PATTERN,
    ),
    _query(
        "q",
        # No NUL: Django's form fields refuse it.
        {"type": "string", "maxLength": 200, "pattern": rf"^[^\u0000]*{END}"},
        "Keyword search in title and description: case-insensitive, every word must match as a word or word "
        "prefix (`rep` finds report). Without `ordering`, tasks with every word in the title come first, then by "
        "relevance. At most 200 characters.",
        "quarterly rep",
    ),
    _query(
        "due_before",
        OpenApiTypes.DATETIME,
        "Tasks due strictly before this time (ISO 8601; without an offset: UTC). Tasks without due_at never match.",
        "2030-12-08T00:00:00Z",
    ),
    _query(
        "due_after",
        OpenApiTypes.DATETIME,
        "Tasks due at or after this time (ISO 8601; without an offset: UTC). Tasks without due_at never match.",
        "2030-12-01T00:00:00Z",
    ),
    _query(
        "overdue",
        OpenApiTypes.STR,
        "`true`: open tasks whose due_at has passed; `false`: every other task.",
        "true",
        enum=["true", "false"],
    ),
    _query(
        "recurring",
        OpenApiTypes.STR,
        "`true`: tasks with a recurrence rule; `false`: one-off tasks.",
        "false",
        enum=["true", "false"],
    ),
    _query(
        "ordering",
        OpenApiTypes.STR,
        "Comma-separated sort keys among " + ", ".join(ORDERING_FIELDS) + " (up to 5); prefix `-` "
        "for descending. `priority` sorts low < medium < high < urgent; tasks without due_at sort last either way; "
        "default: newest first (`-created_at`), or relevance with `q`.",
        "due_at,-priority",
        pattern=ORDERING_PATTERN,
    ),
    LIMIT,
    OFFSET,
]

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # tasks_app/idempotency.py: 1 to 255 printable ASCII characters.
    # No space at either end: HTTP strips it, so the server would see another key.
    {"type": "string", "pattern": rf"^[!-~]([ -~]{{0,253}}[!-~])?{END}"},
    OpenApiParameter.HEADER,
    description="Optional, recommended for retries: a unique string (a UUID) per intended creation. Repeating the "
    "request with the same key and body returns the first response (header `Idempotent-Replayed: true`) instead of "
    "creating a duplicate; the same key with another body is a 422; while the first request is still running, "
    "409; if the task it created has been deleted since, 410. Keys are per user and kept 24 hours.",
    examples=[OpenApiExample("UUID", value="8e2b7c1e-4f0a-4c9b-a3c2-5d6e7f809a1b")],
)
TASK_ID = OpenApiParameter(
    "task_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The task's `id` (from a list or create response).",
    examples=[OpenApiExample("Task id", value="6f1d3c1a-8a0e-4d8b-9a8e-1c2b3d4e5f60")],
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    # tasks_app/api.py `expected_version`: `*`, or a list of ETags (`"3"`, `W/"3"` or `3`).
    {"type": "string", "pattern": IF_MATCH_PATTERN},
    OpenApiParameter.HEADER,
    description='Optional: the ETag (`"<version>"`) of the task as you last read it. If the task changed since, '
    "the request is refused with 412 instead of overwriting that change.",
    examples=[OpenApiExample("Version 3", value='"3"')],
)

# --- Descriptions and examples ----------------------------------------------------------------

LIST_DESCRIPTION = (
    "The caller's tasks, filtered, searched and ordered, `limit`/`offset` paginated "
    "(`count`, `next`, `previous`, `results`). Filters combine with AND."
)
CREATE_DESCRIPTION = (
    "Creates a task for the caller. Only `title` is required. A naive `due_at` is read in `timezone`. "
    "A `recurrence_rule` (RRULE or preset) needs `due_at`: completing the task then creates the next "
    "occurrence. Reminders are absolute (`remind_at`) or relative (`offset_minutes` before `due_at`). "
    "Send an `Idempotency-Key` header so a retried request cannot create a duplicate."
)
PATCH_DESCRIPTION = (
    "Changes only the fields given. `tags` and `reminders`, when given, replace the whole list. Changing "
    "`due_at` moves relative reminders. `status` cannot be set here: use /complete/ and /reopen/. "
    "Send `If-Match` with the ETag you read to refuse the change (412) if someone changed the task meanwhile."
)
PUT_DESCRIPTION = (
    "Replaces every writable field; omitted ones take their defaults (no description, medium priority, no tags, "
    "no due date, UTC, no recurrence, no reminders). `If-Match` as for PATCH."
)
COMPLETE_DESCRIPTION = (
    "Marks the task completed and cancels its pending reminders. For a recurring task, the next occurrence is "
    "created shortly after as a new task in the same series. Idempotent: completing a completed task changes "
    "nothing."
)
REOPEN_DESCRIPTION = (
    "Marks a completed task open again and reschedules the reminders its completion cancelled that are still in "
    "the future. Idempotent: reopening an open task changes nothing. It does not remove an already generated next "
    "occurrence, and completing again creates no second one."
)

CREATE_EXAMPLES = [
    OpenApiExample(
        "Simple task",
        value={"title": "Buy milk"},
        request_only=True,
    ),
    OpenApiExample(
        "Due, tagged, with reminders",
        value={
            "title": "Submit the quarterly report",
            "description": "Numbers from finance first.",
            "priority": "high",
            "tags": ["work", "reports"],
            "due_at": "2030-12-01T09:00:00",
            "timezone": "Europe/Berlin",
            "reminders": [{"offset_minutes": 60}, {"remind_at": "2030-11-30T18:00:00+01:00"}],
        },
        request_only=True,
    ),
    OpenApiExample(
        "Recurring every Monday and Wednesday",
        value={
            "title": "Team standup notes",
            "due_at": "2030-12-07T09:30:00+01:00",
            "timezone": "Europe/Berlin",
            "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,WE",
            "recurrence_mode": "schedule",
        },
        request_only=True,
    ),
]
PATCH_EXAMPLES = [
    OpenApiExample("Postpone", value={"due_at": "2030-12-03T09:00:00+01:00"}, request_only=True),
    OpenApiExample("Raise priority and retag", value={"priority": "urgent", "tags": ["work"]}, request_only=True),
    OpenApiExample("Stop repeating", value={"recurrence_rule": ""}, request_only=True),
]
