"""HTML and header injection in task text (and in the e-mail address a token brings) reaching
reminder e-mails, sent through a real SMTP server by the real sending service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from core.auth.tokens import issue_token
from notifications_app.models import Notification, NotificationStatus
from notifications_app.services.sending import notification_deliver
from notifications_app.tests.factories import make_notification
from notifications_app.tests.smtp import SMTPTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EVIL_TITLE = 'Pay rent</title><script>alert("t")</script>\r\nBcc: victim@evil.example\r\n\r\nfake body'
EVIL_DESCRIPTION = '<img src=x onerror=alert(1)><a href="javascript:alert(2)">click</a>\nSubject: spoofed'


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPTestServer]:
    """As notifications_app/tests/conftest.py's `smtp_server`: this process sends through it."""
    server = SMTPTestServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = server.host, server.port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield server
    finally:
        server.stop()


def test_html_and_header_injection_in_task_text_stays_inert_in_the_email(smtp: SMTPTestServer, user: Any) -> None:
    # The API refuses control characters in a title? Either way, events may carry any text.
    response = APIClient()
    response.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(subject=user.username, email=user.email)}")
    created = response.post("/api/v1/tasks/", {"title": EVIL_TITLE, "description": EVIL_DESCRIPTION}, format="json")
    assert created.status_code in (201, 400)

    notification = make_notification(user, title=EVIL_TITLE, description=EVIL_DESCRIPTION)
    notification_deliver(notification_id=notification.id)

    [message] = smtp.messages
    assert message.rcpt_tos == [user.email]  # no Bcc smuggled into the envelope
    headers = message.message
    assert headers["Bcc"] is None
    assert "\n" not in headers["Subject"]
    assert "\r" not in headers["Subject"]
    assert headers.get_all("Subject") == [headers["Subject"]]
    html = message.part("text/html")
    assert "<script" not in html
    assert "<img" not in html
    assert 'href="javascript:' not in html
    assert "&lt;script&gt;" in html
    assert "Pay rent" in message.part("text/plain")  # the text is there, as body text only


def test_a_token_email_with_a_newline_never_adds_a_recipient(smtp: SMTPTestServer) -> None:
    token = issue_token(subject="crlf-user", email="crlf@example.com\r\nBcc: victim@evil.example")
    assert APIClient().get("/api/v1/tasks/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code in (200, 401)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username="crlf-user").first()
    if user is None:
        return  # refused at the door: nothing can be sent
    notification = make_notification(user, title="Pay rent")
    notification_deliver(notification_id=notification.id)
    recipients = [rcpt for message in smtp.messages for rcpt in message.rcpt_tos]
    assert "victim@evil.example" not in recipients
    if not smtp.messages:
        assert Notification.objects.get(id=notification.id).status in (
            NotificationStatus.DEAD,
            NotificationStatus.FAILED,
        )
