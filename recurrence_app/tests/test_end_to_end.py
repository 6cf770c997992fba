"""Recurring tasks through the whole path, against the real database and broker: REST API →
outbox → `relay_outbox` → Kafka → `run_consumer recurrence` (child processes) → next task."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import OutboxEvent, ProcessedEvent
from kafka_bridge.tests.kafka_helpers import produce
from recurrence_app.models import Series
from tasks_app.models import Task
from tests.fixtures import ManagedProcesses, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(scope="module")
def pipeline(kafka_topics: None, django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The relay and two members of the `recurrence` group (records are handled in parallel),
    started once for the module: Tansu can be slow to let a group that just emptied form again."""
    managed = ManagedProcesses("recurrence-e2e")
    try:
        with django_db_blocker.unblock():
            logs = [Path(managed.manage(f"consumer-{n}", "run_consumer", "recurrence").log_path) for n in range(2)]
            managed.manage("relay", "relay_outbox", "--loop")
        for log in logs:
            wait_until(lambda log=log: "partitions assigned" in log.read_text(), timeout=90, message="consumer")
        yield
    finally:
        managed.stop_all()


def create_recurring(client: Any, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "Water the plants",
        "tags": ["home"],
        "priority": "high",
        "due_at": "2030-03-30T09:00:00",
        "timezone": "Europe/Berlin",
        "recurrence_rule": "daily",
        "reminders": [{"offset_minutes": 15}],
        **fields,
    }
    response = client.post("/api/v1/tasks/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def complete(client: Any, task_id: str) -> None:
    response = client.post(f"/api/v1/tasks/{task_id}/complete/")
    assert response.status_code == 200, response.json()


def successors(task_id: str) -> list[Task]:
    return list(Task.objects.filter(previous_occurrence_id=task_id))


def processed(event_ids: list[str]) -> int:
    return ProcessedEvent.objects.filter(group="recurrence", event_id__in=event_ids).count()


def completed_events(task_id: str) -> list[CloudEvent]:
    rows = OutboxEvent.objects.filter(key=task_id, event_type="task.completed", topic="task-events").order_by("id")
    return [CloudEvent.from_dict(row.value) for row in rows]


def test_completing_a_recurring_task_yields_exactly_one_next_task_whatever_the_repeats(
    pipeline: None, api_client: Any
) -> None:
    task = create_recurring(api_client)
    complete(api_client, task["id"])

    following = wait_until(lambda: successors(task["id"]), timeout=60, message="the next occurrence")[0]
    response = api_client.get(f"/api/v1/tasks/{following.id}/")
    body = response.json()
    # 30 March 2030 is the day after the spring-forward in Berlin: still 09:00 local.
    assert body["due_at"] == "2030-03-31T09:00:00+02:00"
    assert (body["title"], body["tags"], body["priority"]) == ("Water the plants", ["home"], "high")
    assert (body["recurrence_rule"], body["series_id"], body["status"]) == ("FREQ=DAILY", task["series_id"], "open")
    assert [r["offset_minutes"] for r in body["reminders"]] == [15]
    assert body["reminders"][0]["remind_at"] == "2030-03-31T08:45:00+02:00"
    # It was created through the task services, so it announced itself.
    assert OutboxEvent.objects.filter(key=str(following.id), event_type="task.created").count() == 2

    # The same task.completed delivered 5 times in all, plus 5 copies with new ids spread over
    # every partition (so both consumers handle them at once): no second successor.
    (original,) = completed_events(task["id"])
    for _ in range(4):
        produce("task-events", key=task["id"], value=original.to_json(), headers={"ce_id": original.id})
    copies = [CloudEvent.from_dict({**original.to_dict(), "id": str(uuid.uuid4())}) for _ in range(5)]
    for copy in copies:
        produce("task-events", key=str(uuid.uuid4()), value=copy.to_json(), headers={"ce_id": copy.id})
    wait_until(lambda: processed([c.id for c in copies]) == 5, timeout=60, message="the copies handled")

    # Reopen and complete again through the API: a new task.completed, still no second successor.
    assert api_client.post(f"/api/v1/tasks/{task['id']}/reopen/").status_code == 200
    complete(api_client, task["id"])
    wait_until(lambda: len(completed_events(task["id"])) == 2, timeout=30, message="the second completion")
    second = completed_events(task["id"])[1]
    wait_until(lambda: processed([second.id]) == 1, timeout=60, message="the second completion handled")

    assert len(successors(task["id"])) == 1
    assert Task.objects.filter(series_id=task["series_id"]).count() == 2
    assert Series.objects.get(pk=task["series_id"]).generated_count == 2


def test_a_count_3_series_stops_after_the_third(pipeline: None, api_client: Any) -> None:
    task = create_recurring(api_client, recurrence_rule="FREQ=WEEKLY;BYDAY=MO,TH;COUNT=3", due_at="2030-01-07T18:30")
    dues = [task["due_at"]]
    current = task["id"]
    for _ in range(2):
        complete(api_client, current)
        following = wait_until(lambda current=current: successors(current), timeout=60, message="next")[0]
        current = str(following.id)
        dues.append(api_client.get(f"/api/v1/tasks/{current}/").json()["due_at"])
    assert dues == ["2030-01-07T18:30:00+01:00", "2030-01-10T18:30:00+01:00", "2030-01-14T18:30:00+01:00"]

    complete(api_client, current)
    wait_until(
        lambda: Series.objects.get(pk=task["series_id"]).ended, timeout=60, message="the series recorded its end"
    )
    series = Series.objects.get(pk=task["series_id"])
    assert (series.end_reason, series.generated_count) == ("count", 3)
    assert not successors(current)
    assert Task.objects.filter(series_id=task["series_id"]).count() == 3
