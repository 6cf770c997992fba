from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from notifications_app import mail_connections
from notifications_app.tests.smtp import SMTPTestServer


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SMTPTestServer]:
    """A real SMTP server on a free port; this process's Django sends through it."""
    server = SMTPTestServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield server
    finally:
        server.stop()
        mail_connections.discard()  # this thread's connection went to the stopped server


@pytest.fixture
def fast_retries(settings: Any) -> None:
    """Retries due within 50 ms, five attempts: a test sees a notification through to dead."""
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 0.01
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 0.05
    settings.NOTIFICATION_MAX_ATTEMPTS = 5
