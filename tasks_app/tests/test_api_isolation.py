"""Another user's task is a 404 on every route; lists and tag counts hold only the caller's rows."""

from __future__ import annotations

import pytest

from tasks_app.models import Task
from tasks_app.services import task_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"


@pytest.fixture
def foreign_task(other_user):
    return task_create(owner=other_user, title="Bob's secret", tags=["private"])


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"title": "hijacked"}),
        ("put", "", {"title": "hijacked"}),
        ("delete", "", None),
        ("post", "complete/", None),
        ("post", "reopen/", None),
    ],
)
def test_other_users_task_is_404_on_every_route(api_client, foreign_task, method, suffix, body):
    response = getattr(api_client, method)(f"{URL}{foreign_task.id}/{suffix}", body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    unchanged = Task.objects.get(pk=foreign_task.id)
    assert (unchanged.title, unchanged.status, unchanged.version) == ("Bob's secret", "open", 1)


def test_lists_search_and_filters_show_only_own_tasks(api_client, user, foreign_task):
    task_create(owner=user, title="Alice's secret", tags=["private"])
    for params in ({}, {"q": "secret"}, {"tag": "private"}, {"status": "open"}):
        results = api_client.get(URL, params).json()["results"]
        assert [task["title"] for task in results] == ["Alice's secret"], params


def test_tag_counts_count_only_own_tasks(api_client, user, foreign_task):
    task_create(owner=user, title="mine", tags=["private"])
    assert api_client.get("/api/v1/tags/").json()["results"] == [
        {"name": "private", "task_count": 1, "open_task_count": 1}
    ]


def test_tags_of_other_users_are_not_listed(api_client, foreign_task):
    assert api_client.get("/api/v1/tags/").json()["results"] == []


def test_unknown_task_id_is_404(api_client):
    assert api_client.get(f"{URL}00000000-0000-0000-0000-000000000000/").status_code == 404
    assert api_client.get(f"{URL}not-a-uuid/").status_code == 404
