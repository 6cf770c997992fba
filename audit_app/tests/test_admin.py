"""The audit log admin: read-only even for superusers; list, filters, search, trail links."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from audit_app.admin import audit_trail_admin_url
from audit_app.models import AuditLog
from audit_app.services import audit_records_store
from audit_app.tests.factories import make_event, make_record

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audit_app/auditlog/"


@pytest.fixture
def admin_client(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def entries() -> dict[str, Any]:
    task = uuid.uuid4()
    mine = make_event(type="task.completed", user_id=7, task_id=task, correlation_id="req-find-me")
    other = make_event(type="task.created", user_id=8)
    audit_records_store(records=[make_record(mine), make_record(other), make_record(None, value=b"junk", error="bad")])
    return {
        "task": task,
        "mine": AuditLog.objects.get(event_id=mine.id),
        "other": AuditLog.objects.get(event_id=other.id),
    }


def test_changelist_shows_entries_with_type_topic_user_and_task(admin_client: Client, entries: dict) -> None:
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    listed = {entry.pk for entry in response.context["cl"].result_list}
    assert listed == set(AuditLog.objects.values_list("pk", flat=True))
    assert str(entries["task"]) in response.text
    assert "task.completed" in response.text
    assert "(not an event)" in response.text


def test_task_audit_trail_link_lists_only_that_task(admin_client: Client, entries: dict) -> None:
    url = audit_trail_admin_url(entries["task"])
    response = admin_client.get(url)

    assert url == f"{CHANGELIST}?task_id={entries['task']}"
    assert [entry.pk for entry in response.context["cl"].result_list] == [entries["mine"].pk]


@pytest.mark.parametrize("term", ["7", "req-find-me", "TASK"])
def test_search_by_user_task_or_correlation_id(admin_client: Client, entries: dict, term: str) -> None:
    term = str(entries["task"]) if term == "TASK" else term
    response = admin_client.get(CHANGELIST, {"q": term})

    assert [entry.pk for entry in response.context["cl"].result_list] == [entries["mine"].pk]


@pytest.mark.parametrize(
    "params", [{"event_type": "task.created"}, {"topic": "task-events", "event_type": "task.created"}]
)
def test_filters_by_type_and_topic(admin_client: Client, entries: dict, params: dict) -> None:
    response = admin_client.get(CHANGELIST, params)

    assert [entry.pk for entry in response.context["cl"].result_list] == [entries["other"].pk]


def test_filter_by_not_an_event_lists_invalid_records(admin_client: Client, entries: dict) -> None:
    response = admin_client.get(CHANGELIST, {"event_type": ""})

    assert [entry.event_type for entry in response.context["cl"].result_list] == [""]


def test_malformed_task_filter_is_not_a_server_error(admin_client: Client, entries: dict) -> None:
    assert admin_client.get(CHANGELIST, {"task_id": "nope"}).status_code in {200, 302}


def test_detail_page_pretty_prints_the_envelope(admin_client: Client, entries: dict) -> None:
    response = admin_client.get(f"{CHANGELIST}{entries['mine'].pk}/change/")

    assert response.status_code == 200
    assert '<pre style="white-space: pre-wrap">{\n  &quot;correlationid&quot;: &quot;req-find-me&quot;' in response.text


def test_superuser_cannot_add_change_or_delete_entries(admin_client: Client, entries: dict) -> None:
    entry = entries["mine"]
    before = list(AuditLog.objects.order_by("pk").values())

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}add/", {"topic": "x"}).status_code == 403
    assert admin_client.post(f"{CHANGELIST}{entry.pk}/change/", {"topic": "forged"}).status_code == 403
    assert admin_client.post(f"{CHANGELIST}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})

    assert list(AuditLog.objects.order_by("pk").values()) == before
    response = admin_client.get(CHANGELIST)
    assert "Add audit log entry" not in response.text
    assert 'name="action"' not in response.text


def test_admin_counts_exactly_when_small_and_estimates_when_large(entries: dict) -> None:
    from audit_app.admin import EstimatedCountPaginator

    queryset = AuditLog.objects.order_by("-occurred_at")
    assert EstimatedCountPaginator(queryset, 50).count == 3

    class Tiny(EstimatedCountPaginator):
        exact_up_to = 0  # every planner estimate counts as large

    assert Tiny(queryset, 50).count != 3  # the planner's guess, not a count
