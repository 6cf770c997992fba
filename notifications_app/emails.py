"""The reminder e-mail: rendered from templates, built for Django's e-mail API (and anymail).

User content (title, description, tags) is escaped in the HTML part by Django's autoescaping;
the text part is plain text and needs no escaping. The subject is a single line: every line
break or other control character in the title becomes a space, so a title cannot add headers.
Every attempt for one notification carries the same Message-ID (`notification_message_id`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

SUBJECT_MAX_LENGTH = 200
# C0/C1 controls plus the Unicode line and paragraph separators: none belongs in a header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def single_line(text: str, *, max_length: int = SUBJECT_MAX_LENGTH) -> str:
    """`text` with every control character run replaced by one space, trimmed and shortened."""
    cleaned = " ".join(_CONTROL.sub(" ", text).split())
    return cleaned if len(cleaned) <= max_length else cleaned[: max_length - 1].rstrip() + "…"


def message_id_domain() -> str:
    _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    domain = address.rpartition("@")[2].strip().lower()
    return re.sub(r"[^a-z0-9.-]", "", domain) or "todo.invalid"


def notification_message_id(notification_id: Any) -> str:
    """The Message-ID of every attempt for this notification."""
    return f"<reminder-{notification_id}@{message_id_domain()}>"


def _parse_moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_moment(value: Any, timezone_name: Any) -> str:
    """An ISO timestamp shown in the task's time zone: "Tue 1 Dec 2026, 09:00 CET (Europe/Berlin)"."""
    moment = _parse_moment(value)
    if moment is None:
        return ""
    zone = _zone(timezone_name)
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()} ({zone.key})"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def reminder_context(*, task: dict[str, Any], reminder: dict[str, Any], user_name: str = "") -> dict[str, Any]:
    timezone_name = task.get("timezone") or "UTC"
    tags = task.get("tags") or []
    return {
        "title": str(task.get("title") or "(untitled task)"),
        "description": str(task.get("description") or ""),
        "priority": str(task.get("priority") or "medium"),
        "tags": [str(tag) for tag in tags] if isinstance(tags, list) else [],
        "due_display": format_moment(task.get("due_at"), timezone_name),
        "remind_display": format_moment(reminder.get("remind_at"), timezone_name),
        "late": bool(reminder.get("late")),
        "user_name": user_name,
    }


def render_reminder_email(*, task: dict[str, Any], reminder: dict[str, Any], user_name: str = "") -> RenderedEmail:
    context = reminder_context(task=task, reminder=reminder, user_name=user_name)
    return RenderedEmail(
        subject=single_line(render_to_string("notifications/reminder_subject.txt", context)),
        text=render_to_string("notifications/reminder.txt", context),
        html=render_to_string("notifications/reminder.html", context),
    )


def build_reminder_message(
    *, notification_id: Any, message_id: str, recipient: str, rendered: RenderedEmail
) -> EmailMultiAlternatives:
    """The message for Django's e-mail API. Besides the Message-ID header, anymail ESP backends
    get the notification id as metadata (echoed back by tracking webhooks)."""
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        headers={"Message-ID": message_id, "X-Todo-Notification": str(notification_id)},
    )
    message.attach_alternative(rendered.html, "text/html")
    # Read by anymail's ESP backends only; Django's SMTP backend ignores these attributes.
    message.metadata = {"notification_id": str(notification_id)}
    message.tags = ["reminder"]
    return message
