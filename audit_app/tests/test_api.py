"""GET /api/v1/audit/ and /api/v1/audit/export/: visibility, filters, pagination, errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from audit_app.models import AuditLog
from audit_app.services import audit_records_store
from audit_app.tests.factories import make_event, make_record
from core.auth.tokens import issue_token
from tests.fixtures import bearer_client

pytestmark = pytest.mark.django_db

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
TASK_A = uuid.uuid4()
TASK_B = uuid.uuid4()


@pytest.fixture
def staff_client(make_user: Any) -> Any:
    return bearer_client(make_user("carol", is_staff=True))


@pytest.fixture
def log(user: Any, other_user: Any) -> dict[str, Any]:
    """Nine entries over six hours: alice's task A (created, updated on two topics, completed),
    a reminder, a dead letter; bob's task B (created, deleted) and a garbage record."""
    alice, bob = user.pk, other_user.pk

    def at(minutes: int) -> datetime:
        return BASE + timedelta(minutes=minutes)

    created = make_event(type="task.created", user_id=alice, task_id=TASK_A, time=at(0), correlation_id="req-a1")
    updated = make_event(type="task.updated", user_id=alice, task_id=TASK_A, time=at(10), correlation_id="req-a2")
    reminder = make_event(type="reminder.due", user_id=alice, task_id=TASK_A, time=at(20), correlation_id=None)
    completed = make_event(type="task.completed", user_id=alice, task_id=TASK_A, time=at(30), correlation_id="req-a3")
    bob_created = make_event(type="task.created", user_id=bob, task_id=TASK_B, time=at(40), correlation_id="req-b1")
    bob_deleted = make_event(type="task.deleted", user_id=bob, task_id=TASK_B, time=at(50), correlation_id="req-b2")
    audit_records_store(
        records=[
            make_record(created),
            make_record(updated, topic="task-events"),
            make_record(updated, topic="task-updates"),
            make_record(reminder, topic="reminders"),
            make_record(completed),
            make_record(completed, topic="task-events.dlq", headers={"error": "boom"}),
            make_record(bob_created),
            make_record(bob_deleted),
            make_record(None, topic="reminders", value=b"junk", timestamp=at(60), error="not JSON"),
        ]
    )
    return {
        "created": created.id,
        "updated": updated.id,
        "reminder": reminder.id,
        "completed": completed.id,
        "bob_created": bob_created.id,
        "bob_deleted": bob_deleted.id,
    }


def keys(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.content
    return [(entry["event_id"], entry["topic"]) for entry in response.json()["results"]]


def test_staff_see_every_entry_newest_first(staff_client: Any, log: dict[str, Any]) -> None:
    response = staff_client.get("/api/v1/audit/")

    entries = response.json()["results"]
    assert len(entries) == 9
    assert [entry["occurred_at"] for entry in entries] == sorted((e["occurred_at"] for e in entries), reverse=True)
    assert (entries[0]["type"], entries[0]["error"]) == ("", "not JSON")
    assert entries[0]["raw_value"] == "anVuaw=="


def test_users_see_only_their_own_events(api_client: Any, other_client: Any, user: Any, log: dict[str, Any]) -> None:
    alice = keys(api_client.get("/api/v1/audit/"))
    bob = keys(other_client.get("/api/v1/audit/"))

    assert {event_id for event_id, _ in alice} == {log[k] for k in ("created", "updated", "reminder", "completed")}
    assert len(alice) == 6
    assert set(bob) == {(log["bob_deleted"], "task-events"), (log["bob_created"], "task-events")}
    # Asking for someone else's events gives nothing, not their events.
    assert keys(other_client.get("/api/v1/audit/", {"user": str(user.pk)})) == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user": "BOB"}, {("bob_deleted", "task-events"), ("bob_created", "task-events")}),
        ({"action": "task.created"}, {("created", "task-events"), ("bob_created", "task-events")}),
        (
            {"action": "task.completed, reminder.due"},
            {("completed", "task-events"), ("completed", "task-events.dlq"), ("reminder", "reminders")},
        ),
        ({"topic": "task-updates"}, {("updated", "task-updates")}),
        ({"topic": "task-events.dlq,task-updates"}, {("completed", "task-events.dlq"), ("updated", "task-updates")}),
        ({"task": str(TASK_B)}, {("bob_deleted", "task-events"), ("bob_created", "task-events")}),
        ({"correlation_id": "req-a2"}, {("updated", "task-events"), ("updated", "task-updates")}),
        (
            {"since": (BASE + timedelta(minutes=30)).isoformat(), "until": (BASE + timedelta(minutes=50)).isoformat()},
            {("completed", "task-events"), ("completed", "task-events.dlq"), ("bob_created", "task-events")},
        ),
        (
            {"task": str(TASK_A), "action": "task.updated,task.completed", "topic": "task-events"},
            {("updated", "task-events"), ("completed", "task-events")},
        ),
        ({"task": str(uuid.uuid4())}, set()),
    ],
)
def test_each_filter_returns_exactly_the_matching_entries(
    staff_client: Any, other_user: Any, log: dict[str, Any], params: dict[str, str], expected: set[tuple[str, str]]
) -> None:
    if params.get("user") == "BOB":
        params = {**params, "user": str(other_user.pk)}

    result = keys(staff_client.get("/api/v1/audit/", params))

    assert len(result) == len(set(result))
    assert set(result) == {(log[name], topic) for name, topic in expected}


def test_cursor_pagination_walks_every_entry_once_in_order(staff_client: Any, log: dict[str, Any]) -> None:
    everything = keys(staff_client.get("/api/v1/audit/", {"limit": 200}))
    seen: list[tuple[str, str]] = []
    url: str | None = "/api/v1/audit/?limit=2"
    pages = 0
    while url:
        response = staff_client.get(url)
        seen += keys(response)
        url = response.json()["next"]
        pages += 1

    assert seen == everything
    assert pages == 5


def test_cursor_pagination_is_stable_while_new_entries_arrive(staff_client: Any, log: dict[str, Any]) -> None:
    first = staff_client.get("/api/v1/audit/", {"limit": 3})
    audit_records_store(records=[make_record(make_event(time=datetime.now(UTC)))])
    rest = keys(staff_client.get(first.json()["next"].replace("limit=3", "limit=200")))

    assert keys(first) + rest == keys(staff_client.get("/api/v1/audit/", {"limit": 200}))[1:]


def test_cursor_keeps_the_filters_it_was_made_with(staff_client: Any, log: dict[str, Any]) -> None:
    first = staff_client.get("/api/v1/audit/", {"task": str(TASK_A), "limit": 4})
    second = staff_client.get(first.json()["next"])

    assert len(keys(first)) == 4
    assert len(keys(second)) == 2
    assert second.json()["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"task": "not-a-uuid"}, "task"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"topic": "payments"}, "topic"),
        ({"action": " , "}, "action"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "WzEsMl0"}, "cursor"),  # base64 of [1,2]: ours in shape, not in content
    ],
)
def test_invalid_filter_values_answer_400_with_the_field(api_client: Any, params: dict[str, str], field: str) -> None:
    response = api_client.get("/api/v1/audit/", params)

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert field in body["fields"]


def test_until_at_or_before_since_is_an_empty_range_not_an_error(staff_client: Any, log: dict[str, Any]) -> None:
    # The schema can say each bound's format, not how they relate: a well-formed pair is a 200.
    for until in ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"):
        response = staff_client.get("/api/v1/audit/", {"since": "2026-11-02T00:00:00Z", "until": until})
        assert keys(response) == []


def test_anonymous_requests_are_refused() -> None:
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/audit/").status_code == 401


def ndjson(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.decode().splitlines()]


def test_export_streams_the_filtered_range_oldest_first(staff_client: Any, log: dict[str, Any]) -> None:
    response = staff_client.get("/api/v1/audit/export/", {"task": str(TASK_A)})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    lines = ndjson(b"".join(response.streaming_content))
    assert [line["type"] for line in lines] == [
        "task.created",
        "task.updated",
        "task.updated",
        "reminder.due",
        "task.completed",
        "task.completed",
    ]
    assert lines[0]["envelope"]["data"]["task"]["id"] == str(TASK_A)


def test_export_shows_users_only_their_own_events(other_client: Any, log: dict[str, Any]) -> None:
    response = other_client.get("/api/v1/audit/export/")

    assert {line["event_id"] for line in ndjson(b"".join(response.streaming_content))} == {
        log["bob_created"],
        log["bob_deleted"],
    }


def test_export_rejects_invalid_filters_with_400(api_client: Any) -> None:
    response = api_client.get("/api/v1/audit/export/", {"since": "soon"}, HTTP_ACCEPT="application/x-ndjson")

    assert response.status_code == 400
    assert "since" in json.loads(response.content)["error"]["fields"]


def test_export_under_asgi_streams_asynchronously(other_user: Any, log: dict[str, Any]) -> None:
    client = AsyncClient()
    headers = {"Authorization": f"Bearer {issue_token(subject=other_user.username)}"}

    async def export() -> tuple[int, bytes]:
        response = await client.get("/api/v1/audit/export/", headers=headers)
        assert response.is_async
        return response.status_code, b"".join([part async for part in response.streaming_content])

    status, content = async_to_sync(export)()

    assert status == 200
    assert len(ndjson(content)) == 2 == AuditLog.objects.filter(user_id=str(other_user.pk)).count()
