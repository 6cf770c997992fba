"""The reminder e-mail: content, escaping, one-line subject, stable Message-ID."""

from __future__ import annotations

import uuid
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from notifications_app.emails import (
    build_reminder_message,
    format_moment,
    notification_message_id,
    render_reminder_email,
    single_line,
)

TASK = {
    "id": str(uuid.uuid4()),
    "title": "Pay rent",
    "description": "Transfer to landlord",
    "priority": "high",
    "tags": ["home", "money"],
    "due_at": "2026-12-01T08:00:00Z",
    "timezone": "Europe/Berlin",
}
REMINDER = {"id": str(uuid.uuid4()), "remind_at": "2026-12-01T07:30:00Z", "late": False}


def test_due_time_is_shown_in_the_task_time_zone() -> None:
    assert format_moment("2026-12-01T08:00:00Z", "Europe/Berlin") == "Tue 1 Dec 2026, 09:00 CET (Europe/Berlin)"
    assert format_moment("2026-07-01T08:00:00+00:00", "America/New_York").startswith("Wed 1 Jul 2026, 04:00 EDT")
    assert format_moment(None, "UTC") == ""


def test_email_has_title_due_time_priority_and_tags_in_both_parts() -> None:
    rendered = render_reminder_email(task=TASK, reminder=REMINDER, user_name="Alice")
    assert rendered.subject == "Reminder: Pay rent (due Tue 1 Dec 2026, 09:00 CET (Europe/Berlin))"
    for body in (rendered.text, rendered.html):
        assert "Pay rent" in body
        assert "09:00 CET" in body
        assert "high" in body
        assert "home" in body
        assert "money" in body
        assert "Alice" in body


def test_title_with_html_and_line_breaks_is_escaped_and_cannot_add_headers() -> None:
    title = 'Buy <script>alert("x")</script>\r\nBcc: victim@example.com\r\n\r\n<b>body</b>'
    task = {**TASK, "title": title, "description": "<img src=x onerror=alert(1)>", "tags": ["<i>tag</i>"]}
    rendered = render_reminder_email(task=task, reminder=REMINDER)
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in rendered.html
    assert "<img" not in rendered.html
    assert "<i>tag</i>" not in rendered.html

    message = build_reminder_message(
        notification_id="n-1", message_id="<reminder-n-1@localhost>", recipient="alice@example.com", rendered=rendered
    )
    parsed = message_from_bytes(message.message().as_bytes(), policy=default_policy)
    assert parsed["Bcc"] is None
    assert parsed.get_all("To") == ["alice@example.com"]
    assert "Bcc: victim@example.com" in str(parsed["Subject"])  # kept as harmless subject text


def test_single_line_removes_every_kind_of_line_break_and_limits_length() -> None:
    assert single_line("a\r\nb\u2028c\x00d\te") == "a b c d e"
    assert len(single_line("x" * 500)) == 200


def test_message_id_is_stable_per_notification_and_valid() -> None:
    notification_id = uuid.uuid4()
    first = notification_message_id(notification_id)
    assert first == notification_message_id(notification_id)
    assert first.startswith("<reminder-")
    assert first.endswith("@localhost>")
    rendered = render_reminder_email(task=TASK, reminder=REMINDER)
    message = build_reminder_message(
        notification_id=notification_id, message_id=first, recipient="alice@example.com", rendered=rendered
    )
    parsed = message_from_bytes(message.message().as_bytes(), policy=default_policy)
    assert parsed["Message-ID"] == first
    assert parsed.get_content_type() == "multipart/alternative"
    assert message.metadata == {"notification_id": str(notification_id)}


@pytest.mark.parametrize("late", [True, False])
def test_late_reminders_say_so(late: bool) -> None:
    rendered = render_reminder_email(task=TASK, reminder={**REMINDER, "late": late})
    assert ("sent late" in rendered.text) is late
