"""Every filter, ordering and the keyword search of GET /api/v1/tasks/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tasks_app.services import task_complete, task_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"


def titles(client, **params) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.json()
    return [task["title"] for task in response.json()["results"]]


def error_fields(client, **params) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 400
    return response.json()["error"]["fields"]


@pytest.fixture
def tasks(user):
    now = timezone.now()
    made = {
        "a": task_create(owner=user, title="Alpha", priority="low", tags=["work"], due_at=now - timedelta(days=1)),
        "b": task_create(
            owner=user, title="bravo", priority="urgent", tags=["work", "home"], due_at=now + timedelta(days=2)
        ),
        "c": task_create(owner=user, title="Charlie", priority="high", tags=["home"]),
        "d": task_create(
            owner=user, title="Delta", priority="medium", due_at=now + timedelta(days=5), recurrence_rule="daily"
        ),
    }
    task_complete(task=task_create(owner=user, title="Echo", due_at=now - timedelta(days=3)))
    return made


def test_status_filter(api_client, tasks):
    assert titles(api_client, status="completed") == ["Echo"]
    assert sorted(titles(api_client, status="open")) == ["Alpha", "Charlie", "Delta", "bravo"]


def test_priority_filter_takes_a_comma_list(api_client, tasks):
    assert sorted(titles(api_client, priority="high,urgent")) == ["Charlie", "bravo"]


def test_tag_filter_requires_every_tag(api_client, tasks):
    assert sorted(titles(api_client, tag="work")) == ["Alpha", "bravo"]
    assert titles(api_client, tag="work,HOME") == ["bravo"]
    assert titles(api_client, tag="nothing") == []


def test_due_before_and_due_after(api_client, tasks):
    now = timezone.now()
    assert sorted(titles(api_client, due_before=now.isoformat())) == ["Alpha", "Echo"]
    assert sorted(titles(api_client, due_after=now.isoformat())) == ["Delta", "bravo"]
    window = {"due_after": now.isoformat(), "due_before": (now + timedelta(days=3)).isoformat()}
    assert titles(api_client, **window) == ["bravo"]


def test_overdue_means_open_and_past_due(api_client, tasks):
    assert titles(api_client, overdue="true") == ["Alpha"]
    assert "Alpha" not in titles(api_client, overdue="false")
    assert "Echo" in titles(api_client, overdue="false")


def test_recurring_filter(api_client, tasks):
    assert titles(api_client, recurring="true") == ["Delta"]
    assert "Delta" not in titles(api_client, recurring="false")


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("due_at", ["Echo", "Alpha", "bravo", "Delta", "Charlie"]),
        ("-due_at", ["Delta", "bravo", "Alpha", "Echo", "Charlie"]),
        ("priority", ["Alpha", "Echo", "Delta", "Charlie", "bravo"]),
        ("-priority", ["bravo", "Charlie", "Echo", "Delta", "Alpha"]),
        ("created_at", ["Alpha", "bravo", "Charlie", "Delta", "Echo"]),
        ("-created_at", ["Echo", "Delta", "Charlie", "bravo", "Alpha"]),
        ("title", ["Alpha", "bravo", "Charlie", "Delta", "Echo"]),
        ("-title", ["Echo", "Delta", "Charlie", "bravo", "Alpha"]),
    ],
)
def test_every_ordering(api_client, tasks, ordering, expected):
    assert titles(api_client, ordering=ordering) == expected


def test_updated_at_ordering_follows_the_last_change(api_client, tasks):
    api_client.patch(f"{URL}{tasks['a'].id}/", {"title": "Alpha2"}, format="json")
    assert titles(api_client, ordering="-updated_at")[0] == "Alpha2"
    assert titles(api_client, ordering="updated_at")[-1] == "Alpha2"


def test_default_order_is_newest_first(api_client, tasks):
    assert titles(api_client) == ["Echo", "Delta", "Charlie", "bravo", "Alpha"]


def test_pagination_default_and_cap(api_client, user):
    for index in range(210):
        task_create(owner=user, title=f"t{index}")
    page = api_client.get(URL).json()
    assert (page["count"], len(page["results"])) == (210, 50)
    assert page["next"] is not None
    assert len(api_client.get(URL, {"limit": 500}).json()["results"]) == 200
    last = api_client.get(URL, {"limit": 50, "offset": 200}).json()
    assert len(last["results"]) == 10
    assert last["next"] is None


def test_search_is_case_insensitive_prefix_and_word_based(api_client, user):
    task_create(owner=user, title="Quarterly REPORT", description="")
    task_create(owner=user, title="Shopping", description="buy milk for the report meeting")
    task_create(owner=user, title="Unrelated", description="reporter interview")
    task_create(owner=user, title="Nothing here")
    assert sorted(titles(api_client, q="report")) == ["Quarterly REPORT", "Shopping", "Unrelated"]
    assert titles(api_client, q="QUART") == ["Quarterly REPORT"]
    assert titles(api_client, q="milk meet") == ["Shopping"]  # every word must match
    assert titles(api_client, q="!!!") == []


def test_search_ranks_title_matches_first(api_client, user):
    task_create(owner=user, title="Notes", description="invoice invoice invoice invoice invoice")
    task_create(owner=user, title="Send invoice", description="")
    task_create(owner=user, title="Other", description="an invoice")
    result = titles(api_client, q="invoice")
    assert result[0] == "Send invoice"
    assert result[1:] == ["Notes", "Other"]  # then by relevance


def test_search_with_explicit_ordering_uses_it(api_client, user):
    task_create(owner=user, title="b invoice")
    task_create(owner=user, title="a invoice")
    assert titles(api_client, q="invoice", ordering="title") == ["a invoice", "b invoice"]


def test_due_filters_accept_any_iso_offset(api_client, tasks):
    assert api_client.get(URL, {"due_after": "0409-02-07T11:18:31.647172-21:55"}).status_code == 200
    assert api_client.get(URL, {"due_before": "0001-01-01T00:00:00+23:00"}).status_code == 400


def test_search_input_cannot_inject_tsquery_syntax(api_client, user):
    task_create(owner=user, title="alpha beta")
    for q in ["alpha & !beta", "alpha:* | (", "'", "\\", "alpha<->beta", "a:B"]:
        assert api_client.get(URL, {"q": q}).status_code == 200


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"status": "done"}, "status", "status must be one of: open, completed."),
        (
            {"priority": "low,extreme"},
            "priority",
            "priority must be a comma-separated list of up to 4 of: low, medium, high, urgent.",
        ),
        (
            {"priority": ","},
            "priority",
            "priority must be a comma-separated list of up to 4 of: low, medium, high, urgent.",
        ),
        ({"overdue": "yes"}, "overdue", "Must be true or false."),
        ({"recurring": "1"}, "recurring", "Must be true or false."),
        (
            {"due_before": "tomorrow"},
            "due_before",
            "Must be an ISO 8601 date-time such as 2026-12-01T09:00:00Z (without an offset: UTC).",
        ),
        (
            {"due_after": "2026-13-01T00:00:00"},
            "due_after",
            "Must be an ISO 8601 date-time such as 2026-12-01T09:00:00Z (without an offset: UTC).",
        ),
        (
            {"ordering": "owner"},
            "ordering",
            "ordering must be a comma-separated list of up to 5 of: due_at, priority, created_at, updated_at, "
            "title (prefix - for descending).",
        ),
        ({"q": "x" * 201}, "q", "q must be at most 200 characters, none of them NUL."),
        (
            {"tag": "x" * 51},
            "tag",
            "tag must be a comma-separated list of up to 20 tag names (each at most 50 characters).",
        ),
    ],
)
def test_invalid_filters_are_400_with_a_field_message(api_client, params, field, message):
    assert error_fields(api_client, **params) == {field: [message]}


def test_list_reads_a_constant_number_of_queries(api_client, user, django_assert_max_num_queries):
    for index in range(30):
        task_create(
            owner=user,
            title=f"t{index}",
            tags=["a", "b"],
            due_at=datetime(2030, 1, 1, tzinfo=UTC),
            reminders=[{"offset_minutes": 5}],
        )
    with django_assert_max_num_queries(8):
        assert api_client.get(URL).status_code == 200


def test_a_listed_task_shows_its_own_tags_and_reminders_as_its_detail_does(api_client, user, other_user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task_create(owner=other_user, title="not mine", tags=["a"], due_at=due, reminders=[{"offset_minutes": 1}])
    task_create(owner=user, title="bare")
    task_create(owner=user, title="tagged", tags=["zeta", "alpha"])
    task_create(
        owner=user,
        title="reminded",
        tags=["alpha"],
        due_at=due,
        reminders=[{"offset_minutes": 30}, {"remind_at": datetime(2029, 12, 31, 9, tzinfo=UTC)}, {"offset_minutes": 5}],
    )
    listed = api_client.get(URL).json()["results"]
    by_title = {item["title"]: item for item in listed}
    assert set(by_title) == {"bare", "tagged", "reminded"}
    assert by_title["tagged"]["tags"] == ["alpha", "zeta"]
    assert [reminder["offset_minutes"] for reminder in by_title["reminded"]["reminders"]] == [None, 30, 5]
    for item in listed:
        assert item == api_client.get(f"{URL}{item['id']}/").json()
