"""Which send failures are worth retrying, and how long to wait before the next attempt.

Transient (retry): an SMTP 4xx reply at any stage (greeting, HELO, MAIL, RCPT as greylisting
servers do, DATA), a dropped connection, connection errors and timeouts, an ESP answering 429 or
5xx, or not answering at all. Permanent (dead at once): an SMTP 5xx reply (including every
recipient refused with 5xx), an ESP 4xx other than 429, a message the ESP or Django refuses to
build, a configuration the backend rejects. Anything unrecognised is treated as transient: it is
retried a bounded number of times, then goes dead, so nothing is retried forever or dropped.
"""

from __future__ import annotations

import random
import smtplib
from dataclasses import dataclass

from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import BadHeaderError


@dataclass(frozen=True)
class SendFailure:
    transient: bool
    reason: str


def _smtp_code_is_transient(code: int | None) -> bool:
    # 4xx: try again later. 5xx: never. Anything else (-1 on a garbled reply, 2xx/3xx where an
    # error was not expected) is a protocol hiccup: retry.
    return not (code is not None and 500 <= code < 600)


def _reply_text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def _describe(exc: BaseException) -> str:
    """The error as an operator reads it: SMTP replies as `code text`."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{rcpt}: {code} {_reply_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
    else:
        text = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {text}"[:2000]


def classify_send_error(exc: BaseException) -> SendFailure:
    """Classify an exception raised while sending one e-mail to one recipient."""
    reason = _describe(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in exc.recipients.values()]
        transient = not codes or any(_smtp_code_is_transient(code) for code in codes)
        return SendFailure(transient=transient, reason=reason)
    if isinstance(exc, smtplib.SMTPResponseException):
        # SMTPSenderRefused, SMTPDataError, SMTPConnectError, SMTPHeloError, SMTPAuthenticationError
        return SendFailure(transient=_smtp_code_is_transient(exc.smtp_code), reason=reason)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendFailure(transient=False, reason=reason)  # e.g. STARTTLS required but not offered
    if isinstance(exc, (AnymailRecipientsRefused, AnymailInvalidAddress)):
        return SendFailure(transient=False, reason=reason)
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        if status is None:  # no HTTP answer: connection error or timeout
            return SendFailure(transient=True, reason=reason)
        return SendFailure(transient=status == 429 or status >= 500, reason=reason)
    if isinstance(exc, (AnymailError, ImproperlyConfigured, BadHeaderError, ValueError, TypeError)):
        return SendFailure(transient=False, reason=reason)
    # OSError covers refused connections, timeouts, DNS failures and SMTPServerDisconnected.
    return SendFailure(transient=True, reason=reason)


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential backoff with
    full jitter, uniform in [0, min(cap, base * 2**(attempt - 1))]."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(0, ceiling)
