"""What the sync auth middleware hands the consumer: who the peer is, and nothing else.

The middleware and the scope it passes on live as long as the socket, so a user instance, the
token's claims, the cookies or the session kept there would cost memory on every idle socket.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from sync_app.auth import SyncAuthMiddleware
from sync_app.tests.helpers import ORIGIN, WebsocketCommunicator, run, token_for

pytestmark = pytest.mark.django_db


def recording_app(seen: list[dict[str, Any]]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1000})

    return app


def scope_seen(*, query: str = "", headers: list[tuple[bytes, bytes]], subprotocols: list[str] | None = None):
    seen: list[dict[str, Any]] = []

    async def scenario() -> None:
        comm = WebsocketCommunicator(
            SyncAuthMiddleware(recording_app(seen)),
            "/ws/sync/" + (f"?{query}" if query else ""),
            headers=headers,
            subprotocols=subprotocols or [],
        )
        await comm.send_input({"type": "websocket.connect"})
        await comm.receive_output(5)
        await comm.wait(5)

    run(scenario)
    return seen[0] if seen else None


SERVER_KEYS = {"type", "path", "query_string", "headers", "subprotocols"}  # what the communicator sets


@pytest.mark.parametrize("how", ["subprotocol", "query"])
def test_a_token_connection_gets_the_user_id_and_no_user_claims_cookies_or_session(user, how):
    token = token_for(user, ttl_seconds=600)
    if how == "subprotocol":
        scope = scope_seen(headers=[ORIGIN, (b"cookie", b"a=b")], subprotocols=[f"bearer.{token}"])
    else:
        scope = scope_seen(query=f"token={token}", headers=[ORIGIN, (b"cookie", b"a=b")])

    assert set(scope) == SERVER_KEYS | {"user_id", "auth_subprotocol", "token_expires_at"}
    assert scope["user_id"] == user.pk
    assert scope["auth_subprotocol"] == (f"bearer.{token}" if how == "subprotocol" else None)
    assert isinstance(scope["token_expires_at"], float)


def test_a_session_connection_gets_the_user_id_and_no_session_or_cookies(user, client):
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    scope = scope_seen(headers=[ORIGIN, (b"cookie", cookie)])

    assert set(scope) == SERVER_KEYS | {"user_id", "auth_subprotocol", "token_expires_at"}
    assert (scope["user_id"], scope["auth_subprotocol"], scope["token_expires_at"]) == (user.pk, None, None)


def test_an_inactive_users_token_is_refused(user):
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)

    assert scope_seen(query=f"token={token_for(user)}", headers=[ORIGIN]) is None


def test_no_credentials_is_refused():
    assert scope_seen(headers=[ORIGIN, (b"cookie", b"sessionid=nonsense")]) is None
