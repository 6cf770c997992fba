"""The e-mail connection of a sending thread, kept open between sends.

Django's SMTP backend, given no open connection, opens one per `send_messages` call: TCP connect,
greeting, EHLO (STARTTLS and AUTH where configured) and QUIT around every e-mail, and the server's
per-connection work with them. Each worker thread keeps its backend open instead (anymail's ESP
backends keep their HTTP session the same way) for at most `EMAIL_CONNECTION_MAX_MESSAGES`
e-mails, and closes it after `EMAIL_CONNECTION_MAX_IDLE_SECONDS` without one, before the server
drops it. A send that fails closes the connection; the next send opens a new one.

A reused connection the server has dropped anyway fails at its next command; that send is made
once more, at once, on a new connection. A repeat keeps its Message-ID; it could reach the
recipient twice only if the server had accepted the message before the connection broke, the
same window as a worker killed mid-send (`services.sending`).
"""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

# What a connection that the server (or the network) closed while idle raises at its next use.
STALE_CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, ConnectionError)

_local = threading.local()


@dataclass
class _Held:
    backend: Any
    settings_key: tuple[Any, ...]
    sent: int = 0
    last_used: float = 0.0


def _settings_key() -> tuple[Any, ...]:
    # A change of these (tests override them) must not reuse a connection to the old server.
    names = ("EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_USE_TLS", "EMAIL_USE_SSL")
    return tuple(getattr(settings, name, None) for name in names)


def _close(held: _Held) -> None:
    with contextlib.suppress(Exception):  # a connection already broken has nothing left to close
        held.backend.close()


def _reusable(held: _Held | None, now: float) -> bool:
    return (
        held is not None
        and held.settings_key == _settings_key()
        and held.sent < settings.EMAIL_CONNECTION_MAX_MESSAGES
        and now - held.last_used <= settings.EMAIL_CONNECTION_MAX_IDLE_SECONDS
    )


def _connection(now: float) -> _Held:
    held: _Held | None = getattr(_local, "held", None)
    if _reusable(held, now):
        return held  # type: ignore[return-value]
    discard()
    backend = get_connection(fail_silently=False)
    backend.open()
    _local.held = _Held(backend=backend, settings_key=_settings_key(), last_used=now)
    return _local.held


def discard() -> None:
    """Close this thread's connection, if it has one; the next send opens a new one."""
    held: _Held | None = getattr(_local, "held", None)
    _local.held = None
    if held is not None:
        _close(held)


def send_message(message: EmailMessage) -> int:
    """Send one message over this thread's connection; returns what the backend reports sent
    (0 or 1). Raises whatever the backend raises, after closing the connection."""
    held = _connection(time.monotonic())
    try:
        sent = held.backend.send_messages([message])
    except STALE_CONNECTION_ERRORS:
        discard()
        if not held.sent:
            raise  # a new connection failed: the server's answer, not a stale connection
        held = _connection(time.monotonic())
        try:
            sent = held.backend.send_messages([message])
        except Exception:
            discard()
            raise
    except Exception:
        discard()
        raise
    held.sent += 1
    held.last_used = time.monotonic()
    if held.sent >= settings.EMAIL_CONNECTION_MAX_MESSAGES:
        discard()
    return sent
