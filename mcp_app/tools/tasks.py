"""The task tools: the same serializers, services and selectors as `/api/v1/tasks/`."""

from __future__ import annotations

from typing import Any

from mcp_app.context import Caller
from mcp_app.rest import rest_get
from mcp_app.schemas import JsonSchema, parameters, request_body, response
from mcp_app.tools.base import (
    EXPECTED_VERSION,
    IDEMPOTENCY_KEY,
    Outcome,
    ToolSpec,
    expected_version,
    idempotency_key_schema,
    idempotent,
    pop_key,
    query_params,
    task_id_schema,
)
from tasks_app import selectors, services
from tasks_app.api import TASKS_PATH, task_create_from_input, task_list_page, task_update_from_input
from tasks_app.representations import task_representation


def _task_output() -> JsonSchema:
    return response("tasks_retrieve")


def _task_id_only() -> JsonSchema:
    return {
        "type": "object",
        "properties": {"task_id": task_id_schema(), IDEMPOTENCY_KEY: idempotency_key_schema()},
        "required": ["task_id"],
        "additionalProperties": False,
    }


# --- add_task -----------------------------------------------------------------------------------


def _add_task(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    key = pop_key(arguments)
    result = task_create_from_input(user=caller.user, data=arguments, idempotency_key=key)
    return Outcome(result.body, result.replayed)


ADD_TASK = ToolSpec(
    name="add_task",
    title="Add a task",
    description=(
        "Create a task for the user. Only `title` is required. Give `due_at` as ISO 8601; without an offset it is "
        "read in `timezone` (an IANA name, default UTC). A `recurrence_rule` (RRULE such as FREQ=WEEKLY;BYDAY=MO "
        "or a preset: daily, weekdays, weekly, monthly, yearly) needs `due_at`; completing the task then creates "
        "the next occurrence. Reminders: `{remind_at}` (absolute) or `{offset_minutes}` (before due_at). Pass an "
        "`idempotency_key` (a fresh UUID per intended task) so that retrying after a timeout never creates a "
        "second task. Returns the created task."
    ),
    input_schema=lambda: request_body("tasks_create", extra={IDEMPOTENCY_KEY: idempotency_key_schema()}),
    output_schema=_task_output,
    run=_add_task,
    read_only=False,
    idempotent=False,
    serializer_checks_keys=True,
)

# --- list_tasks / get_task ----------------------------------------------------------------------


def _list_tasks(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    return Outcome(task_list_page(rest_get(caller, TASKS_PATH, query_params(arguments))))


LIST_TASKS = ToolSpec(
    name="list_tasks",
    title="List and search tasks",
    description=(
        "List the user's tasks, newest first, 50 per page (`limit` up to 200, `offset` to page on; `count` is the "
        "total). Filters combine with AND: `status` (open|completed), `priority` (comma list), `tag` (comma list, "
        "all must match), `q` (words searched in title and description), `due_before`/`due_after` (ISO 8601), "
        "`overdue`, `recurring`. `ordering`: comma list of due_at, priority, created_at, updated_at, title, with "
        "`-` for descending. Use it to find a task's id before changing it."
    ),
    input_schema=lambda: parameters("tasks_list"),
    output_schema=lambda: response("tasks_list"),
    run=_list_tasks,
    read_only=True,
)


def _get_task(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    return Outcome(task_representation(selectors.task_get(user=caller.user, task_id=arguments.get("task_id"))))


GET_TASK = ToolSpec(
    name="get_task",
    title="Read a task",
    description="Read one of the user's tasks by id, with its reminders and its `version` (for expected_version).",
    input_schema=lambda: {
        "type": "object",
        "properties": {"task_id": task_id_schema()},
        "required": ["task_id"],
        "additionalProperties": False,
    },
    output_schema=_task_output,
    run=_get_task,
    read_only=True,
)

# --- update_task --------------------------------------------------------------------------------


def _update(arguments: dict[str, Any], caller: Caller) -> dict[str, Any]:
    task = selectors.task_get(user=caller.user, task_id=arguments.pop("task_id", None))
    version = expected_version(arguments.pop("expected_version", None))
    return task_representation(task_update_from_input(task=task, data=arguments, partial=True, version=version))


UPDATE_TASK = ToolSpec(
    name="update_task",
    title="Change a task",
    description=(
        "Change some fields of a task; fields you leave out stay as they are. `tags` and `reminders`, when given, "
        'replace the whole list. Moving `due_at` moves relative reminders. Set `recurrence_rule` to "" to stop '
        "repeating. Status cannot be set here: use complete_task or reopen_task. Pass `expected_version` (from the "
        "task you read) to refuse the change if someone else changed the task meanwhile. Returns the task."
    ),
    input_schema=lambda: request_body(
        "tasks_partial_update",
        extra={
            "task_id": task_id_schema(),
            "expected_version": EXPECTED_VERSION,
            IDEMPOTENCY_KEY: idempotency_key_schema(),
        },
    )
    | {"required": ["task_id"]},
    output_schema=_task_output,
    run=lambda caller, arguments: idempotent(
        caller, "update_task", arguments, lambda data: _update(dict(data), caller)
    ),
    read_only=False,
    idempotent=True,
    serializer_checks_keys=True,
)

# --- complete / reopen / delete -----------------------------------------------------------------


def _state_change(service: Any) -> Any:
    def perform(caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
        task = selectors.task_get(user=caller.user, task_id=arguments.get("task_id"))
        return task_representation(service(task=task))

    return perform


def _state_tool(name: str, title: str, description: str, service: Any) -> ToolSpec:
    change = _state_change(service)
    return ToolSpec(
        name=name,
        title=title,
        description=description,
        input_schema=_task_id_only,
        output_schema=_task_output,
        run=lambda caller, arguments: idempotent(caller, name, arguments, lambda data: change(caller, data)),
        read_only=False,
        idempotent=True,
    )


COMPLETE_TASK = _state_tool(
    "complete_task",
    "Complete a task",
    "Mark a task done; its pending reminders are cancelled. If the task repeats, its next occurrence is created "
    "shortly after as a new task (find it with list_tasks). Completing a completed task changes nothing.",
    services.task_complete,
)
REOPEN_TASK = _state_tool(
    "reopen_task",
    "Reopen a task",
    "Mark a completed task open again; reminders still in the future are rescheduled. Reopening an open task "
    "changes nothing, and it does not remove an already created next occurrence.",
    services.task_reopen,
)


def _delete(caller: Caller, arguments: dict[str, Any]) -> dict[str, Any]:
    task = selectors.task_get(user=caller.user, task_id=arguments.get("task_id"))
    task_id = str(task.id)
    services.task_delete(task=task, expected_version=expected_version(arguments.get("expected_version")))
    return {"id": task_id, "deleted": True}


DELETE_TASK = ToolSpec(
    name="delete_task",
    title="Delete a task",
    description=(
        "Delete a task for good and cancel its pending reminders (to keep it, complete it instead). Pass "
        "`expected_version` to refuse if the task changed since you read it. Deleting a task that is already gone "
        "is a not_found error, unless you retry with the same `idempotency_key`."
    ),
    input_schema=lambda: {
        "type": "object",
        "properties": {
            "task_id": task_id_schema(),
            "expected_version": EXPECTED_VERSION,
            IDEMPOTENCY_KEY: idempotency_key_schema(),
        },
        "required": ["task_id"],
        "additionalProperties": False,
    },
    output_schema=lambda: {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "The deleted task's id."},
            "deleted": {"type": "boolean", "const": True},
        },
        "required": ["id", "deleted"],
        "additionalProperties": False,
    },
    run=lambda caller, arguments: idempotent(caller, "delete_task", arguments, lambda data: _delete(caller, data)),
    read_only=False,
    destructive=True,
    idempotent=False,
)

TOOLS = [ADD_TASK, LIST_TASKS, GET_TASK, UPDATE_TASK, COMPLETE_TASK, REOPEN_TASK, DELETE_TASK]
