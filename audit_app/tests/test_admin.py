"""The audit log admin: read-only even for superusers; who, which task and which request at a
glance and linked; search by name, e-mail, title or id; date ranges; a constant number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit_app.admin import AuditLogAdmin, audit_trail_admin_url, correlation_admin_url
from audit_app.models import AuditLog
from audit_app.services import audit_records_store
from audit_app.tests.factories import make_event, make_record
from tasks_app.models import Task

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audit_app/auditlog/"


@pytest.fixture
def admin_client(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def entries(make_user: Any) -> dict[str, Any]:
    alice, bob = make_user("alice", "alice@example.com"), make_user("bob", "bob@example.com")
    passport = Task.objects.create(owner=alice, title="Renew passport")
    now = datetime.now(UTC)
    events = {
        "mine": make_event(type="task.completed", user_id=alice.pk, task_id=passport.id, correlation_id="req-find-me"),
        # Same request, another user's event: the correlation link must show the whole story.
        "same_request": make_event(type="task.updated", user_id=bob.pk, correlation_id="req-find-me"),
        "other": make_event(type="task.created", user_id=bob.pk, correlation_id="req-other"),
        "yesterday": make_event(type="task.deleted", user_id=bob.pk, time=now - timedelta(days=1), correlation_id=None),
        "gone": make_event(type="task.created", user_id=999_999, correlation_id="req-gone"),
    }
    audit_records_store(
        records=[make_record(event) for event in events.values()] + [make_record(None, value=b"junk", error="bad")]
    )
    found: dict[str, Any] = {name: AuditLog.objects.get(event_id=event.id) for name, event in events.items()}
    return found | {"alice": alice, "bob": bob, "task": passport.id}


def listed(response: Any) -> set[int]:
    assert response.status_code == 200, response
    return {entry.pk for entry in response.context["cl"].result_list}


def test_changelist_shows_who_which_task_and_which_request_with_links(admin_client: Client, entries: dict) -> None:
    response = admin_client.get(CHANGELIST)

    assert listed(response) == set(AuditLog.objects.values_list("pk", flat=True))
    text = response.text
    alice = entries["alice"]
    assert (
        f'<a href="/admin/auth/user/{alice.pk}/change/">alice</a> <span class="audit-email">alice@example.com</span>'
        in text
    )
    assert f'<a href="/admin/tasks_app/task/{entries["task"]}/change/">{entries["task"]}</a>' in text
    assert f'<a href="{CHANGELIST}?correlation_id=req-find-me" title="Every entry of this request">' in text
    assert ">999999<" in text  # a user id that names no user is shown as it is
    assert "task.completed" in text
    assert "(not an event)" in text


def test_correlation_link_lists_every_entry_of_that_request(admin_client: Client, entries: dict) -> None:
    response = admin_client.get(correlation_admin_url("req-find-me"))

    assert listed(response) == {entries["mine"].pk, entries["same_request"].pk}


def test_task_audit_trail_link_lists_only_that_task(admin_client: Client, entries: dict) -> None:
    url = audit_trail_admin_url(entries["task"])

    assert url == f"{CHANGELIST}?task_id={entries['task']}"
    assert listed(admin_client.get(url)) == {entries["mine"].pk}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("alice", {"mine"}),
        (" ALICE@Example.com ", {"mine"}),
        ("passport", {"mine"}),  # a word of the task's title
        ("renew pass", {"mine"}),  # words as prefixes
        ("TASK", {"mine"}),
        ("EVENT", {"other"}),
        ("req-find-me", {"mine", "same_request"}),
        ("ALICE_ID", {"mine"}),
        ("bob", {"same_request", "other", "yesterday"}),
        ("999999", {"gone"}),
        ("nobody@example.com", set()),
    ],
)
def test_search_by_username_email_title_or_id(admin_client: Client, entries: dict, term: str, expected: set) -> None:
    term = {
        "TASK": str(entries["task"]),
        "EVENT": str(entries["other"].event_id),
        "ALICE_ID": str(entries["alice"].pk),
    }.get(term, term)

    response = admin_client.get(CHANGELIST, {"q": term})

    assert listed(response) == {entries[name].pk for name in expected}


def test_a_search_combines_with_filters_sorting_and_pages(
    admin_client: Client, entries: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    filtered = admin_client.get(CHANGELIST, {"q": "bob", "occurred_at__from": day, "occurred_at__to": day})
    by_type = admin_client.get(CHANGELIST, {"q": "bob", "o": "1"})  # the type column (0-based), A to Z

    assert listed(filtered) == {entries["yesterday"].pk}
    assert [entry.event_type for entry in by_type.context["cl"].result_list] == [
        "task.created",
        "task.deleted",
        "task.updated",
    ]
    monkeypatch.setattr(AuditLogAdmin, "list_per_page", 2)
    first, second = (admin_client.get(CHANGELIST, {"q": "bob", "p": page}) for page in (1, 2))
    assert first.context["cl"].result_count == 3
    assert listed(first) | listed(second) == {entries[name].pk for name in ("same_request", "other", "yesterday")}


def test_yesterday_and_a_from_to_range_list_only_those_days(admin_client: Client, entries: dict) -> None:
    response = admin_client.get(CHANGELIST)
    yesterday_link = next(c for c in _date_choices(response) if c.get("display") == "Yesterday")["query_string"]

    assert listed(admin_client.get(CHANGELIST + yesterday_link)) == {entries["yesterday"].pk}
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert listed(admin_client.get(CHANGELIST, {"occurred_at__from": day, "occurred_at__to": day})) == {
        entries["yesterday"].pk
    }
    today = datetime.now(UTC).date().isoformat()
    assert entries["yesterday"].pk not in listed(admin_client.get(CHANGELIST, {"occurred_at__from": today}))


def test_date_range_form_keeps_the_search_and_other_filters(admin_client: Client, entries: dict) -> None:
    params = {"q": "bob", "event_type": "task.deleted", "occurred_at__from": "2026-11-27"}
    response = admin_client.get(CHANGELIST, params)
    form = next(c for c in _date_choices(response) if c.get("form"))

    assert sorted(form["hidden"]) == [("event_type", "task.deleted"), ("q", "bob")]
    assert str(form["from"]) == "2026-11-27"


def test_a_malformed_date_or_task_filter_is_not_a_server_error(admin_client: Client, entries: dict) -> None:
    assert admin_client.get(CHANGELIST, {"occurred_at__from": "yesterday"}).status_code == 302
    assert admin_client.get(CHANGELIST, {"occurred_at__gte": "nope"}).status_code == 302
    assert admin_client.get(CHANGELIST, {"task_id": "nope"}).status_code in {200, 302}


@pytest.mark.parametrize(
    "params", [{"event_type": "task.created"}, {"topic": "task-events", "event_type": "task.created"}]
)
def test_filters_by_type_and_topic(admin_client: Client, entries: dict, params: dict) -> None:
    assert listed(admin_client.get(CHANGELIST, params)) == {entries["other"].pk, entries["gone"].pk}


def test_filter_by_not_an_event_lists_invalid_records(admin_client: Client, entries: dict) -> None:
    response = admin_client.get(CHANGELIST, {"event_type": ""})

    assert [entry.event_type for entry in response.context["cl"].result_list] == [""]


def test_a_page_costs_the_same_queries_for_3_entries_as_for_50_of_50_users(
    admin_client: Client, entries: dict, make_user: Any
) -> None:
    with CaptureQueriesContext(connection) as few:
        assert len(listed(admin_client.get(CHANGELIST))) == 6
    users = [make_user(f"user{i}") for i in range(50)]
    audit_records_store(records=[make_record(make_event(user_id=user.pk)) for user in users])

    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(CHANGELIST)

    assert len(listed(response)) == 50
    assert "user49" in response.text
    assert len(many) == len(few), [query["sql"] for query in many]
    assert len(many) <= 6, [query["sql"] for query in many]  # session, user, estimate, count, page, users


def test_no_facet_counts_over_the_whole_log(admin_client: Client, entries: dict) -> None:
    response = admin_client.get(CHANGELIST, {"_facets": "1"})

    assert response.context["cl"].add_facets is False
    assert "Show counts" not in response.text


def test_detail_page_links_user_task_and_request_and_pretty_prints_the_envelope(
    admin_client: Client, entries: dict
) -> None:
    response = admin_client.get(f"{CHANGELIST}{entries['mine'].pk}/change/")

    assert response.status_code == 200
    text = response.text
    assert f'<a href="/admin/auth/user/{entries["alice"].pk}/change/">alice</a>' in text
    assert f'href="/admin/tasks_app/task/{entries["task"]}/change/"' in text
    assert f'href="{CHANGELIST}?correlation_id=req-find-me"' in text
    assert '<pre class="audit-document">{\n  &quot;correlationid&quot;: &quot;req-find-me&quot;' in text
    assert "audit_app/admin.css" in text


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
    assert EstimatedCountPaginator(queryset, 50).count == 6

    class Tiny(EstimatedCountPaginator):
        exact_up_to = 0  # every planner estimate counts as large

    assert Tiny(queryset, 50).count != 6  # the planner's guess, not a count


def _date_choices(response: Any) -> list[dict[str, Any]]:
    changelist = response.context["cl"]
    spec = next(spec for spec in changelist.filter_specs if getattr(spec, "field_path", "") == "occurred_at")
    return list(spec.choices(changelist))
