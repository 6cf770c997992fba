"""What a tool is: its MCP description, and a plain function that does the work as the caller.

`run(caller, arguments)` is synchronous Django code: it calls the same services, selectors,
serializers and paginators as REST and raises what they raise; `mcp_app.server` turns an
exception into a tool error with REST's error body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp import types

from core.errors import ApplicationError
from mcp_app.context import Caller
from mcp_app.schemas import JsonSchema, parameter_schema
from tasks_app.idempotency import StoredResponse, request_fingerprint, run_idempotent
from tasks_app.validation import MESSAGES


@dataclass(frozen=True)
class Outcome:
    body: dict[str, Any]
    replayed: bool = False  # a write answered from its idempotency key's first response


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: Callable[[], JsonSchema]
    output_schema: Callable[[], JsonSchema]
    run: Callable[[Caller, dict[str, Any]], Outcome]
    read_only: bool
    destructive: bool = False
    idempotent: bool = True
    # Tools whose body goes through a REST serializer leave unknown keys to it (its messages
    # say which keys are read-only); the others refuse them here.
    serializer_checks_keys: bool = False

    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            inputSchema=self.input_schema(),
            outputSchema=self.output_schema(),
            annotations=types.ToolAnnotations(
                title=self.title,
                readOnlyHint=self.read_only,
                destructiveHint=self.destructive,
                idempotentHint=self.idempotent,
                openWorldHint=False,
            ),
        )


def reject_unknown(arguments: Mapping[str, Any], schema: JsonSchema) -> None:
    unknown = sorted(set(arguments) - set(schema.get("properties", {})))
    if unknown:
        raise ApplicationError(
            "Some fields are invalid.",
            code="validation_error",
            fields={name: [MESSAGES["unknown_field"]] for name in unknown},
        )


def query_params(arguments: Mapping[str, Any]) -> dict[str, str]:
    """Tool arguments as the query string REST would get (`null` means not given)."""
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in arguments.items()
        if value is not None
    }


# --- Arguments shared by the write tools --------------------------------------------------------

IDEMPOTENCY_KEY = "idempotency_key"


def idempotency_key_schema() -> JsonSchema:
    spec = parameter_schema("tasks_create", "Idempotency-Key")
    spec["description"] = (
        "Optional: a unique string (a UUID) for this intended change. Retrying the call with the same key and "
        "arguments returns the first result instead of doing the change twice; the same key with other arguments "
        "is an error (idempotency_key_reused). Keys are per user and kept 24 hours."
    )
    return spec


def task_id_schema() -> JsonSchema:
    spec = parameter_schema("tasks_retrieve", "task_id")
    spec["description"] = "The task's id, from add_task or list_tasks."
    return spec


EXPECTED_VERSION: JsonSchema = {
    "type": "integer",
    "minimum": 1,
    "description": "Optional: the task's `version` as you last read it. If the task changed since, the call is "
    "refused (precondition_failed) instead of overwriting that change: read it again and retry.",
}


def expected_version(value: Any) -> int | None:
    """`expected_version` as REST's If-Match would give it: a version number, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApplicationError(
            "Some fields are invalid.",
            code="validation_error",
            fields={"expected_version": ["Must be a task version: a whole number from 1."]},
        )
    return value


def pop_key(arguments: dict[str, Any]) -> str | None:
    return arguments.pop(IDEMPOTENCY_KEY, None)


def idempotent(
    caller: Caller, tool: str, arguments: dict[str, Any], perform: Callable[[dict[str, Any]], dict[str, Any]]
) -> Outcome:
    """Run `perform(arguments)` once per idempotency key (REST's `Idempotency-Key` rules:
    replay, 422 for other arguments, 409 while in flight), scoped to this tool."""
    key = pop_key(arguments)
    result = run_idempotent(
        user=caller.user,
        key=key,
        scope=f"mcp_{tool}",
        fingerprint=request_fingerprint("MCP", tool, arguments) if key is not None else "",
        perform=lambda: StoredResponse(200, perform(arguments)),
    )
    return Outcome(result.body, result.replayed)
