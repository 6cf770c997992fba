"""A sending thread's e-mail connection: reused between sends, renewed when it must be, and a
send on a connection the server dropped made once more on a new one."""

from __future__ import annotations

import smtplib
import socket
from typing import Any

import pytest
from django.core.mail import EmailMessage

from notifications_app import mail_connections
from notifications_app.tests.smtp import ScriptedHandler, SMTPTestServer


class PeerHandler(ScriptedHandler):
    """Also records the client port of every message accepted: which connection carried it."""

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[int] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250"):
            self.ports.append(int(session.peer[1]))
        return reply


@pytest.fixture
def server(smtp_server: SMTPTestServer) -> PeerHandler:
    handler = PeerHandler()
    smtp_server.handler = handler
    smtp_server._controller.handler = handler
    return handler


@pytest.fixture(autouse=True)
def _fresh_connection() -> Any:
    mail_connections.discard()
    yield
    mail_connections.discard()


def _message(number: int) -> EmailMessage:
    return EmailMessage(f"reminder {number}", "body", "todo@localhost", ["alice@example.com"])


def test_sends_of_one_thread_share_one_connection(server: PeerHandler) -> None:
    assert [mail_connections.send_message(_message(n)) for n in range(5)] == [1] * 5

    assert len(server.ports) == 5
    assert len(set(server.ports)) == 1


def test_a_connection_carries_at_most_the_configured_number_of_messages(server: PeerHandler, settings: Any) -> None:
    settings.EMAIL_CONNECTION_MAX_MESSAGES = 2

    for n in range(5):
        mail_connections.send_message(_message(n))

    assert len(set(server.ports)) == 3
    assert [server.ports.count(port) for port in dict.fromkeys(server.ports)] == [2, 2, 1]


def test_one_message_per_connection_when_configured_so(server: PeerHandler, settings: Any) -> None:
    settings.EMAIL_CONNECTION_MAX_MESSAGES = 1

    for n in range(3):
        mail_connections.send_message(_message(n))

    assert len(set(server.ports)) == 3


def test_an_idle_connection_is_renewed_before_the_next_send(
    server: PeerHandler, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.EMAIL_CONNECTION_MAX_IDLE_SECONDS = 10
    clock = [1000.0]
    monkeypatch.setattr(mail_connections.time, "monotonic", lambda: clock[0])

    mail_connections.send_message(_message(1))
    clock[0] += 5
    mail_connections.send_message(_message(2))
    clock[0] += 11
    mail_connections.send_message(_message(3))

    assert server.ports[0] == server.ports[1] != server.ports[2]


def test_a_send_on_a_connection_the_server_dropped_is_made_again_on_a_new_one(server: PeerHandler) -> None:
    mail_connections.send_message(_message(1))
    # The connection breaks while idle (as when the server times an idle client out).
    mail_connections._local.held.backend.connection.sock.shutdown(socket.SHUT_RDWR)

    assert mail_connections.send_message(_message(2)) == 1

    assert len(server.ports) == 2
    assert server.ports[0] != server.ports[1]
    assert [str(m.message["Subject"]) for m in server.messages] == ["reminder 1", "reminder 2"]


def test_a_refused_send_raises_and_the_next_send_opens_a_new_connection(server: PeerHandler) -> None:
    mail_connections.send_message(_message(1))
    server.script("RCPT", "550 5.1.1 no such user")

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        mail_connections.send_message(_message(2))
    mail_connections.send_message(_message(3))

    assert len(server.ports) == 2
    assert server.ports[0] != server.ports[1]


def test_a_new_connection_that_fails_is_not_tried_again(settings: Any) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

    with pytest.raises(ConnectionRefusedError):
        mail_connections.send_message(_message(1))
