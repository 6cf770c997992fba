"""A reviewer answers "what did alice@example.com do?" in the admin, in Chromium with the network
shut off: log in, search the audit log by e-mail, follow a correlation id to the whole request.

The run saves a screenshot of the search for the README (docs/images/audit-review.png). Its data
has fixed names, ids and times, so the picture changes only when the page does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from audit_app.models import AuditLog
from audit_app.services import audit_records_store
from audit_app.tests.factories import make_event, make_record
from tasks_app.models import Task
from tests.browser.chromium import Chromium
from tests.browser.conftest import assert_only_loopback_reachable

pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "audit-review.png"
PASSWORD = "correct horse battery staple"
ROWS = "[...document.querySelectorAll('#result_list tbody tr')].map(row => row.innerText.replace(/\\s+/g, ' ').trim())"

# (correlation id, user, task, event type, topics, time): three requests of alice's, two of bob's.
STORY = [
    ("req-5d0c2e71", "alice", "passport", "task.created", ("task-events", "task-updates"), "09:14:05"),
    ("req-5d0c2e71", "alice", "passport", "reminder.scheduled", ("reminders",), "09:14:05"),
    ("req-7a41f3b2", "bob", "plants", "task.created", ("task-events", "task-updates"), "10:02:37"),
    ("req-9e3b6d04", "alice", "passport", "task.updated", ("task-events",), "11:45:19"),
    ("req-c27f8a15", "bob", "plants", "task.completed", ("task-events",), "16:30:52"),
    ("req-e81a4c96", "alice", "dentist", "task.created", ("task-events",), "17:02:10"),
]
TASKS = {
    "passport": ("alice", "Renew passport", uuid.UUID("3b0f4a8e-5c1d-4e2a-9f6b-7d8c9e0a1b2c")),
    "plants": ("bob", "Water the plants", uuid.UUID("6c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")),
    "dentist": ("alice", "Book the dentist", uuid.UUID("8d2f3e4a-5b6c-4d7e-9f8a-0b1c2d3e4f5a")),
}


@pytest.fixture
def audit_trail(make_user: Any) -> Iterator[dict[str, Any]]:
    reviewer = make_user("reviewer", "reviewer@example.com", is_staff=True, password=PASSWORD)
    # A reviewer, not a superuser: may view the log, the users and the tasks it links to.
    reviewer.user_permissions.set(Permission.objects.filter(codename__in=["view_auditlog", "view_user", "view_task"]))
    users = {name: make_user(name, f"{name}@example.com") for name in ("alice", "bob")}
    for owner, title, task_id in TASKS.values():
        Task.objects.create(id=task_id, owner=users[owner], title=title)
    records = []
    for correlation_id, user, task, event_type, topics, at in STORY:
        event = make_event(
            type=event_type,
            user_id=users[user].pk,
            task_id=TASKS[task][2],
            correlation_id=correlation_id,
            time=datetime.fromisoformat(f"2026-11-30T{at}+00:00"),
        )
        records += [make_record(event, topic=topic) for topic in topics]
    audit_records_store(records=records)
    try:
        yield users
    finally:
        # The audit log is not a Django-managed table: a transactional test's flush leaves it.
        AuditLog.objects.filter(correlation_id__in={row[0] for row in STORY}).delete()


def test_a_reviewer_finds_a_users_actions_by_email_and_follows_one_request(
    browser: Chromium, live_server: Any, audit_trail: dict[str, Any]
) -> None:
    assert_only_loopback_reachable(browser)
    base = live_server.url

    browser.open(f"{base}/admin/login/?next=/admin/audit_app/auditlog/")
    # The admin's app list folded away (as the admin remembers it per browser): room for the columns.
    browser.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    browser.evaluate(
        f"""document.querySelector('#id_username').value = 'reviewer';
        document.querySelector('#id_password').value = '{PASSWORD}';
        document.querySelector('#login-form').submit();"""
    )
    browser.wait_for("location.pathname === '/admin/audit_app/auditlog/' && document.querySelector('#result_list')")
    assert len(browser.evaluate(ROWS)) == 8  # every entry of the story

    browser.evaluate(
        """document.querySelector('#searchbar').value = 'alice@example.com';
        document.querySelector('#changelist-search').submit();"""
    )
    browser.wait_for("location.search.includes('q=alice') && document.querySelector('#result_list')")
    found = browser.evaluate(ROWS)
    assert len(found) == 5, found  # alice's three requests: 2 + 1 + 1 + 1 entries
    assert all("alice alice@example.com" in row for row in found), found
    assert not any("bob" in row for row in found), found
    browser.screenshot(SCREENSHOT)

    browser.click_and_wait('a[href$="?correlation_id=req-5d0c2e71"]', "correlation_id=req-5d0c2e71")
    story = browser.evaluate(ROWS)
    assert len(story) == 3, story  # the request's task.created on two topics and its reminder
    assert sorted(row.split(" ")[5] for row in story) == ["reminder.scheduled", "task.created", "task.created"]
    assert all("req-5d0c2e71" in row for row in story)

    browser.click_and_wait(f'a[href$="/tasks_app/task/{TASKS["passport"][2]}/change/"]', "/tasks_app/task/")
    assert "Renew passport" in browser.evaluate("document.querySelector('#content').innerText")

    requested = browser.requested_urls()
    assert [url for url in requested if not url.startswith(base) and not url.startswith("data:")] == []
    assert browser.failed_requests() == []
    assert browser.csp_violations() == []
    assert browser.errors() == []
