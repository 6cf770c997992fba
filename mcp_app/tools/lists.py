"""Read-only tools over the other apps' REST reads: tags, notifications, a task's audit trail,
and the recurrence preview."""

from __future__ import annotations

from typing import Any

from audit_app.api import audit_log_page
from mcp_app.context import Caller
from mcp_app.rest import rest_get
from mcp_app.schemas import parameters, request_body, response
from mcp_app.tools.base import Outcome, ToolSpec, query_params, task_id_schema
from notifications_app.api import notification_page
from recurrence_app.selectors import recurrence_preview
from recurrence_app.serializers import PreviewInputSerializer
from tasks_app.api import tag_list_page


def _preview(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    serializer = PreviewInputSerializer(data=arguments)
    serializer.is_valid(raise_exception=True)
    return Outcome(recurrence_preview(**serializer.validated_data))


PREVIEW_RECURRENCE = ToolSpec(
    name="preview_recurrence",
    title="Preview a repeat rule",
    description=(
        "Check a repeat rule before setting it on a task: the first `count` due times (the first is `due_at`), "
        "the rule in words, whether it ends, and the normalised rule to store. Rules: an RFC 5545 RRULE such as "
        "FREQ=MONTHLY;BYMONTHDAY=-1 or a preset (daily, weekdays, weekly, monthly, yearly), expanded in "
        "`timezone`. An invalid rule is an error naming the wrong part."
    ),
    input_schema=lambda: request_body("recurrence_preview"),
    output_schema=lambda: response("recurrence_preview"),
    run=_preview,
    read_only=True,
    serializer_checks_keys=True,
)


LIST_TAGS = ToolSpec(
    name="list_tags",
    title="List tags",
    description=(
        "The user's tags in use, by name, each with how many tasks and open tasks carry it. Filter tasks by tag "
        "with list_tasks(tag=...)."
    ),
    input_schema=lambda: parameters("tags_list"),
    output_schema=lambda: response("tags_list"),
    run=lambda caller, arguments: Outcome(tag_list_page(rest_get(caller, "/api/v1/tags/", query_params(arguments)))),
    read_only=True,
)

LIST_NOTIFICATIONS = ToolSpec(
    name="list_notifications",
    title="List reminder notifications",
    description=(
        "The user's reminder deliveries (e-mails), newest first: whether each was sent, delivered, bounced or "
        "given up (dead, with last_error). Filter by `status` (comma list) and `task` (a task id)."
    ),
    input_schema=lambda: parameters("notifications_list"),
    output_schema=lambda: response("notifications_list"),
    run=lambda caller, arguments: Outcome(
        notification_page(rest_get(caller, "/api/v1/notifications/", query_params(arguments)))
    ),
    read_only=True,
)


def _history(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    params = query_params(arguments)
    # One entry per change (task-events), and only the caller's own events even for staff: through
    # MCP a user sees only their own tasks.
    params.update(task=params.pop("task_id", ""), topic="task-events", user=str(caller.user.pk))
    return Outcome(audit_log_page(rest_get(caller, "/api/v1/audit/", params)))


TASK_HISTORY = ToolSpec(
    name="task_history",
    title="A task's history",
    description=(
        "What happened to a task, newest first, from the audit log: one entry per event (task.created, "
        "task.updated with the changed fields in envelope.data.changes, task.completed, task.reopened, "
        "task.deleted), with its time and correlation id. Works for deleted tasks too. Events appear a moment "
        "after the change. Page on with `cursor` from `next`."
    ),
    input_schema=lambda: parameters(
        "v1_audit_list",
        extra={"task_id": task_id_schema()},
        required=("task_id",),
        exclude=("user", "task", "topic"),
    ),
    output_schema=lambda: response("v1_audit_list"),
    run=_history,
    read_only=True,
)

TOOLS = [PREVIEW_RECURRENCE, LIST_TAGS, LIST_NOTIFICATIONS, TASK_HISTORY]
