"""`/mcp` on a real uvicorn, driven by the official SDK's Streamable HTTP client: the tool list
and its schemas, every tool, isolation between users, and refused tokens."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from django.conf import settings
from django.utils import timezone

from core.auth.tokens import issue_token
from mcp_app.schemas import openapi
from mcp_app.tests.client import error_of, mcp_session, ok, run
from tasks_app.models import Task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TOOLS = {
    # name: (readOnlyHint, destructiveHint, idempotentHint)
    "add_task": (False, False, False),
    "list_tasks": (True, False, True),
    "get_task": (True, False, True),
    "update_task": (False, False, True),
    "complete_task": (False, False, True),
    "reopen_task": (False, False, True),
    "delete_task": (False, True, False),
    "preview_recurrence": (True, False, True),
    "list_tags": (True, False, True),
    "list_notifications": (True, False, True),
    "task_history": (True, False, True),
}
WRITE_TOOLS = {"add_task", "update_task", "complete_task", "reopen_task", "delete_task"}


def token(user: Any, **kwargs: Any) -> str:
    return issue_token(subject=user.username, email=user.email, **kwargs)


def rest(web: Any, method: str, path: str, user: Any, body: Any = None, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - our own http URL
        f"{web.base}/api/v1/{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token(user)}", "Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_the_tool_list_names_every_tool_with_schemas_from_the_openapi_document(web, user):
    async def scenario() -> list[Any]:
        async with mcp_session(web.base, token(user)) as session:
            return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in run(scenario)}
    assert set(tools) == set(TOOLS)
    for name, tool in tools.items():
        annotations = tool.annotations
        hints = (annotations.readOnlyHint, annotations.destructiveHint, annotations.idempotentHint)
        assert hints == TOOLS[name], name
        assert annotations.openWorldHint is False
        assert len(tool.description) > 80, name  # written for a model: what it does and how to call it
        for schema in (tool.inputSchema, tool.outputSchema):
            jsonschema.Draft202012Validator.check_schema(schema)
            assert schema["type"] == "object"
        assert ("idempotency_key" in tool.inputSchema["properties"]) == (name in WRITE_TOOLS), name

    # The same source as REST: every filter of GET /tasks/ is an argument, with REST's description.
    document = openapi()
    list_parameters = {p["name"]: p for p in document["paths"]["/api/v1/tasks/"]["get"]["parameters"]}
    arguments = tools["list_tasks"].inputSchema["properties"]
    assert set(arguments) == set(list_parameters)
    assert all(arguments[name]["description"] == list_parameters[name]["description"] for name in arguments)
    body = document["components"]["schemas"]["TaskInputRequest"]
    assert set(tools["add_task"].inputSchema["properties"]) == {*body["properties"], "idempotency_key"}
    assert tools["add_task"].inputSchema["required"] == body["required"]
    task_output = document["components"]["schemas"]["TaskOutput"]
    assert set(tools["get_task"].outputSchema["properties"]) == set(task_output["properties"])
    assert tools["update_task"].inputSchema["required"] == ["task_id"]


def test_every_tool_answers_as_rest_does(web, user):
    due = (timezone.now() + timedelta(days=2)).replace(microsecond=0).isoformat()

    async def scenario() -> dict[str, Any]:
        async with mcp_session(web.base, token(user)) as session:
            seen: dict[str, Any] = {}
            created = ok(
                await session.call_tool(
                    "add_task",
                    {
                        "title": "Submit the quarterly report",
                        "priority": "high",
                        "tags": ["Work", "reports"],
                        "due_at": due,
                        "reminders": [{"offset_minutes": 30}],
                    },
                )
            )
            seen["created"] = created
            other = ok(await session.call_tool("add_task", {"title": "Buy milk", "tags": ["home"]}))
            seen["search"] = ok(await session.call_tool("list_tasks", {"q": "quarterly rep", "limit": 5}))
            seen["filtered"] = ok(
                await session.call_tool("list_tasks", {"tag": "work", "priority": "high,urgent", "status": "open"})
            )
            seen["ordered"] = ok(await session.call_tool("list_tasks", {"ordering": "title", "limit": 1, "offset": 1}))
            seen["got"] = ok(await session.call_tool("get_task", {"task_id": created["id"]}))
            seen["updated"] = ok(
                await session.call_tool(
                    "update_task",
                    {"task_id": created["id"], "expected_version": created["version"], "title": "Submit the report"},
                )
            )
            seen["stale"] = error_of(
                await session.call_tool(
                    "update_task", {"task_id": created["id"], "expected_version": created["version"], "title": "x"}
                )
            )
            seen["completed"] = ok(await session.call_tool("complete_task", {"task_id": created["id"]}))
            seen["reopened"] = ok(await session.call_tool("reopen_task", {"task_id": created["id"]}))
            seen["preview"] = ok(
                await session.call_tool(
                    "preview_recurrence",
                    {"recurrence_rule": "weekdays", "due_at": "2026-12-04T09:00:00", "timezone": "Europe/Berlin"}
                    | {"count": 3},
                )
            )
            seen["tags"] = ok(await session.call_tool("list_tags", {}))
            seen["notifications"] = ok(await session.call_tool("list_notifications", {"task": created["id"]}))
            seen["history"] = ok(await session.call_tool("task_history", {"task_id": created["id"]}))
            seen["deleted"] = ok(await session.call_tool("delete_task", {"task_id": other["id"]}))
            seen["deleted_id"] = other["id"]
            seen["gone"] = error_of(await session.call_tool("get_task", {"task_id": other["id"]}))
            return seen

    seen = run(scenario)
    created = seen["created"]
    assert (created["title"], created["priority"], created["tags"]) == (
        "Submit the quarterly report",
        "high",
        ["reports", "work"],
    )
    assert [reminder["offset_minutes"] for reminder in created["reminders"]] == [30]
    assert [task["id"] for task in seen["search"]["results"]] == [created["id"]]
    assert [task["id"] for task in seen["filtered"]["results"]] == [created["id"]]
    assert seen["ordered"]["count"] == 2
    assert [task["title"] for task in seen["ordered"]["results"]] == ["Submit the quarterly report"]
    assert seen["ordered"]["next"] is None
    assert seen["ordered"]["previous"] == f"{web.base}/api/v1/tasks/?limit=1&ordering=title"  # REST's own link
    assert seen["got"] == created
    assert (seen["updated"]["title"], seen["updated"]["version"]) == ("Submit the report", created["version"] + 1)
    assert seen["stale"]["code"] == "precondition_failed"
    assert seen["completed"]["status"] == "completed"
    assert seen["reopened"]["status"] == "open"
    assert seen["preview"]["occurrences"] == [
        "2026-12-04T09:00:00+01:00",
        "2026-12-07T09:00:00+01:00",
        "2026-12-08T09:00:00+01:00",
    ]
    assert {tag["name"] for tag in seen["tags"]["results"]} == {"home", "reports", "work"}
    assert seen["notifications"] == {"count": 0, "next": None, "previous": None, "results": []}
    assert seen["history"]["results"] == []  # no audit consumer in this module
    assert seen["deleted"] == {"id": seen["deleted_id"], "deleted": True}
    assert seen["gone"]["code"] == "not_found"
    assert Task.objects.get(id=created["id"]).title == "Submit the report"


def test_bad_input_is_a_tool_error_with_the_field_messages_rest_gives(web, user):
    cases = {
        "add_task": ("POST", "tasks/", {"title": " ", "timezone": "Mars/Olympus", "priority": "soon", "owner": 3}),
        "list_tasks": ("GET", "tasks/?status=done&priority=low,soon&ordering=owner", None),
        "preview_recurrence": ("POST", "recurrence/preview/", {"recurrence_rule": "FREQ=MINUTELY", "due_at": "x"}),
        "list_notifications": ("GET", "notifications/?status=lost", None),
    }
    arguments = {
        "add_task": cases["add_task"][2],
        "list_tasks": {"status": "done", "priority": "low,soon", "ordering": "owner"},
        "preview_recurrence": cases["preview_recurrence"][2],
        "list_notifications": {"status": "lost"},
    }

    async def scenario() -> dict[str, Any]:
        async with mcp_session(web.base, token(user)) as session:
            return {name: error_of(await session.call_tool(name, arguments[name])) for name in cases}

    errors = run(scenario)
    for name, (method, path, body) in cases.items():
        status, rest_body = rest(web, method, path, user, body)
        assert status == 400, (name, rest_body)
        assert errors[name]["code"] == rest_body["error"]["code"] == "validation_error"
        assert errors[name]["fields"] == rest_body["error"]["fields"], name
    assert errors["add_task"]["fields"]["owner"] == ["This field is read-only."]

    async def unknown_argument() -> dict[str, Any]:
        async with mcp_session(web.base, token(user)) as session:
            return error_of(await session.call_tool("get_task", {"task_id": str(uuid.uuid4()), "owner": 1}))

    assert run(unknown_argument)["fields"] == {"owner": ["Unknown field."]}
    assert not Task.objects.exists()


def test_a_retried_write_with_its_idempotency_key_creates_one_task_through_either_door(web, user):
    key = str(uuid.uuid4())

    async def scenario() -> tuple[Any, Any, Any]:
        async with mcp_session(web.base, token(user)) as session:
            first = await session.call_tool("add_task", {"title": "Pay rent", "idempotency_key": key})
            again = await session.call_tool("add_task", {"title": "Pay rent", "idempotency_key": key})
            other = await session.call_tool("add_task", {"title": "Pay the rent", "idempotency_key": key})
            return first, again, other

    first, again, other = run(scenario)
    assert ok(again) == ok(first)
    assert again.meta == {"idempotent_replayed": True}
    assert not first.meta
    assert error_of(other)["code"] == "idempotency_key_reused"
    status, body = rest(web, "POST", "tasks/", user, {"title": "Pay rent"}, **{"Idempotency-Key": key})
    assert (status, body["id"]) == (201, ok(first)["id"])
    assert Task.objects.filter(owner=user).count() == 1

    complete_key = str(uuid.uuid4())

    async def complete_twice() -> tuple[Any, Any]:
        async with mcp_session(web.base, token(user)) as session:
            arguments = {"task_id": ok(first)["id"], "idempotency_key": complete_key}
            first_call = await session.call_tool("complete_task", arguments)
            return first_call, await session.call_tool("complete_task", arguments)

    done, replayed = run(complete_twice)
    assert ok(replayed) == ok(done)
    assert replayed.meta == {"idempotent_replayed": True}

    assert rest(web, "DELETE", f"tasks/{ok(first)['id']}/", user)[0] == 204

    async def add_after_the_delete() -> Any:
        async with mcp_session(web.base, token(user)) as session:
            return await session.call_tool("add_task", {"title": "Pay rent", "idempotency_key": key})

    assert error_of(run(add_after_the_delete))["code"] == "task_deleted"
    assert not Task.objects.filter(owner=user).exists()


def test_a_second_user_sees_none_of_the_first_users_tasks_and_cannot_change_them(web, user, other_user):
    async def as_alice() -> dict[str, Any]:
        async with mcp_session(web.base, token(user)) as session:
            return ok(await session.call_tool("add_task", {"title": "Alice's secret", "tags": ["private"]}))

    alice_task = run(as_alice)
    task_id = alice_task["id"]

    async def as_bob() -> dict[str, Any]:
        async with mcp_session(web.base, token(other_user)) as session:
            answers = {
                "list": ok(await session.call_tool("list_tasks", {})),
                "search": ok(await session.call_tool("list_tasks", {"q": "secret"})),
                "tags": ok(await session.call_tool("list_tags", {})),
                "history": ok(await session.call_tool("task_history", {"task_id": task_id})),
            }
            for name, arguments in {
                "get_task": {"task_id": task_id},
                "update_task": {"task_id": task_id, "title": "Bob was here"},
                "complete_task": {"task_id": task_id},
                "reopen_task": {"task_id": task_id},
                "delete_task": {"task_id": task_id},
            }.items():
                answers[name] = error_of(await session.call_tool(name, arguments))["code"]
            return answers

    answers = run(as_bob)
    assert answers["list"]["count"] == answers["search"]["count"] == answers["tags"]["count"] == 0
    assert answers["history"]["results"] == []
    for name in ("get_task", "update_task", "complete_task", "reopen_task", "delete_task"):
        assert answers[name] == "not_found", name
    task = Task.objects.get(id=task_id)
    assert (task.title, task.status, task.version) == ("Alice's secret", "open", 1)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def test_a_missing_bad_or_expired_token_is_401_with_a_challenge_naming_the_metadata(web, user):
    headers = {"Accept": "application/json, text/event-stream"}
    answers = {}
    for case, value in {
        "missing": None,
        "bad": "Bearer not.a.token",
        "forged": f"Bearer {token(user)[:-4]}AAAA",
        "expired": f"Bearer {token(user, ttl_seconds=-600)}",
        "not bearer": "Basic YWxpY2U6c2VjcmV0",
    }.items():
        sent = headers | ({"Authorization": value} if value else {})
        answers[case] = httpx.post(f"{web.base}/mcp", json=INITIALIZE, headers=sent, timeout=10)
    for case, response in answers.items():
        assert response.status_code == 401, case
        assert response.json()["error"]["code"] == "not_authenticated", case
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="mcp"'), case
        assert f'resource_metadata="{web.base}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert "error=" not in answers["missing"].headers["www-authenticate"]
    assert 'error="invalid_token"' in answers["expired"].headers["www-authenticate"]
    assert 'error_description="Token has expired."' in answers["expired"].headers["www-authenticate"]
    assert answers["forged"].json()["error"]["message"] == "Token signature is invalid."

    async def sdk_without_token() -> None:
        async with mcp_session(web.base, None):
            pass

    with pytest.raises(Exception) as refused:  # noqa: PT011 - the SDK wraps the HTTP error in a task group
        run(sdk_without_token)
    assert "401" in repr(refused.value.exceptions if hasattr(refused.value, "exceptions") else refused.value)

    metadata = httpx.get(f"{web.base}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
    assert metadata["resource"] == f"{web.base}/mcp"
    assert metadata["authorization_servers"] == [settings.JWT_ISSUER]
    assert metadata["bearer_methods_supported"] == ["header"]
    assert httpx.get(f"{web.base}/.well-known/oauth-protected-resource", timeout=10).json()["resource"] == web.base

    with_token = headers | {"Authorization": f"Bearer {token(user)}"}
    assert httpx.get(f"{web.base}/mcp", headers=with_token, timeout=10).status_code == 405
    response = httpx.post(
        f"{web.base}/mcp", json=INITIALIZE, headers=with_token | {"X-Request-ID": "req-123"}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-123"
    assert response.json()["result"]["serverInfo"]["name"] == "todo"
    assert "mcp-session-id" not in response.headers  # stateless: any replica answers the next request
