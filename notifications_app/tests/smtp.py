"""A real SMTP server for tests (aiosmtpd, in a thread), with scripted replies per stage.

`server.script("RCPT", "421 4.7.0 try later", "421 4.7.0 try later")` makes the next two RCPT
commands fail with those replies; later ones are accepted. `hold_data()` makes DATA wait (after
the message has arrived, before the reply) until `release_data()`, to crash a sender mid-send.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    received_at: float  # time.time(), comparable with database timestamps
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        self.message = email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[assignment]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return part.get_content()
        raise KeyError(content_type)


class ScriptedHandler:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: dict[str, list[str]] = {"MAIL": [], "RCPT": [], "DATA": []}
        self.messages: list[ReceivedMessage] = []
        self.replies_given: list[tuple[float, str, str]] = []
        self.data_arrivals: list[float] = []
        self._hold = threading.Event()

    def script(self, stage: str, *replies: str) -> None:
        with self._lock:
            self._replies[stage].extend(replies)

    def _scripted(self, stage: str) -> str | None:
        with self._lock:
            reply = self._replies[stage].pop(0) if self._replies[stage] else None
            if reply:
                self.replies_given.append((time.time(), stage, reply))
            return reply

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        reply = self._scripted("MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        reply = self._scripted("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.data_arrivals.append(time.time())
        while self._hold.is_set():
            await asyncio.sleep(0.02)
        reply = self._scripted("DATA")
        if reply:
            return reply
        raw = envelope.original_content or envelope.content
        with self._lock:
            self.messages.append(ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), raw, time.time()))
        return "250 OK: queued"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPTestServer:
    def __init__(self) -> None:
        self.handler = ScriptedHandler()
        self.host = "127.0.0.1"
        self.port = _free_port()
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, ready_timeout=10)

    def start(self) -> SMTPTestServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.handler._hold.clear()
        self._controller.stop()

    # Convenience views of the handler.
    @property
    def messages(self) -> list[ReceivedMessage]:
        return list(self.handler.messages)

    def script(self, stage: str, *replies: str) -> None:
        self.handler.script(stage, *replies)

    def reset(self) -> None:
        """Forget received messages and scripted replies (between tests sharing the server)."""
        with self.handler._lock:
            self.handler.messages.clear()
            self.handler.replies_given.clear()
            self.handler.data_arrivals.clear()
            for replies in self.handler._replies.values():
                replies.clear()
        self.release_data()

    def hold_data(self) -> None:
        self.handler._hold.set()

    def release_data(self) -> None:
        self.handler._hold.clear()

    def env(self) -> dict[str, str]:
        """Settings for a child process (Celery worker) to send through this server."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": self.host,
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "false",
            "EMAIL_HOST_USER": "",
        }
