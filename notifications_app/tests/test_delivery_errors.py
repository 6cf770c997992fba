"""Which send failures retry and how long retries wait (pure logic, no services)."""

from __future__ import annotations

import random
import smtplib

import pytest
import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from django.core.mail import BadHeaderError

from notifications_app.delivery_errors import classify_send_error, retry_delay


def _esp_error(status: int) -> AnymailRequestsAPIError:
    response = requests.Response()
    response.status_code = status
    response.reason = "reason"
    return AnymailRequestsAPIError("ESP said no", response=response)


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPConnectError(421, b"service not available"),
        smtplib.SMTPHeloError(421, b"busy"),
        smtplib.SMTPSenderRefused(451, b"local error", "todo@localhost"),
        smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"greylisted, try again")}),
        smtplib.SMTPRecipientsRefused({"a@example.com": (421, b"closing")}),
        smtplib.SMTPDataError(452, b"insufficient storage"),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPAuthenticationError(454, b"temporary authentication failure"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        _esp_error(429),
        _esp_error(500),
        _esp_error(503),
        AnymailAPIError("no response", status_code=None),
        RuntimeError("something unexpected"),
    ],
    ids=repr,
)
def test_transient_failures_are_retried(exc: BaseException) -> None:
    assert classify_send_error(exc).transient is True


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPSenderRefused(553, b"sender not allowed", "todo@localhost"),
        smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}),
        smtplib.SMTPDataError(554, b"message rejected as spam"),
        smtplib.SMTPAuthenticationError(535, b"bad credentials"),
        smtplib.SMTPConnectError(554, b"no service for you"),
        smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
        _esp_error(400),
        _esp_error(401),
        _esp_error(422),
        AnymailRecipientsRefused("all recipients rejected"),
        AnymailInvalidAddress("bad address"),
        AnymailConfigurationError("missing API key"),
        BadHeaderError("newline in header"),
    ],
    ids=repr,
)
def test_permanent_failures_are_not_retried(exc: BaseException) -> None:
    assert classify_send_error(exc).transient is False


def test_recipients_refused_is_permanent_only_when_every_refusal_is_5xx() -> None:
    mixed = smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no"), "b@example.com": (451, b"later")})
    assert classify_send_error(mixed).transient is True


def test_failure_reason_names_the_error_and_the_server_reply() -> None:
    reason = classify_send_error(smtplib.SMTPDataError(554, b"5.7.1 rejected as spam")).reason
    assert reason == "SMTPDataError: 554 5.7.1 rejected as spam"
    refused = smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"5.1.1 no such user")})
    assert classify_send_error(refused).reason == "SMTPRecipientsRefused: a@example.com: 550 5.1.1 no such user"


def test_retry_delay_is_full_jitter_under_an_exponential_ceiling() -> None:
    rng = random.Random(7)
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (10, 60.0)):
        delays = [retry_delay(attempt, base=2.0, cap=60.0, rng=rng) for _ in range(300)]
        assert all(0 <= delay <= ceiling for delay in delays)
        # Full jitter spreads over the whole range, not around the ceiling.
        assert min(delays) < ceiling * 0.1
        assert max(delays) > ceiling * 0.9
