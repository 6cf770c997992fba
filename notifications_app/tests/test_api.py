"""GET /api/v1/notifications/: the caller's records only, filters, paging, errors."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.factories import make_notification

pytestmark = pytest.mark.django_db
URL = "/api/v1/notifications/"


def test_lists_only_the_callers_notifications(api_client: APIClient, user: Any, other_user: Any) -> None:
    mine = make_notification(user)
    make_notification(other_user)

    response = api_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [record] = body["results"]
    assert record["id"] == str(mine.id)
    assert record["task"] == str(mine.task_id)
    assert record["reminder"] == str(mine.reminder_id)
    assert record["channel"] == "email"
    assert record["status"] == "queued"
    assert record["attempts"] == 0
    assert {"last_error", "created_at", "updated_at", "sent_at", "delivered_at"} <= set(record)


def test_filters_by_status_and_task(api_client: APIClient, user: Any) -> None:
    sent, dead, queued = (make_notification(user) for _ in range(3))
    Notification.objects.filter(id=sent.id).update(status=NotificationStatus.SENT)
    Notification.objects.filter(id=dead.id).update(status=NotificationStatus.DEAD)

    def ids(query: str) -> set[str]:
        response = api_client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return {record["id"] for record in response.json()["results"]}

    assert ids("status=dead") == {str(dead.id)}
    assert ids("status=sent,queued") == {str(sent.id), str(queued.id)}
    assert ids(f"task={queued.task_id}") == {str(queued.id)}
    assert ids(f"task={queued.task_id}&status=dead") == set()


def test_limit_and_offset_page_the_list(api_client: APIClient, user: Any) -> None:
    for _ in range(3):
        make_notification(user)
    body = api_client.get(f"{URL}?limit=2&offset=1").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["previous"] is not None


@pytest.mark.parametrize(("query", "field"), [("status=lost", "status"), ("task=not-a-uuid", "task")])
def test_bad_filters_are_400_with_field_messages(api_client: APIClient, query: str, field: str) -> None:
    response = api_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_requires_authentication() -> None:
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
