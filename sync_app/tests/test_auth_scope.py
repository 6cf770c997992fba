"""What the sync auth middleware hands the consumer: who the peer is, and nothing else.

The middleware and the scope it passes on live as long as the socket, so a user instance, the
token's claims, the cookies or the session kept there would cost memory on every idle socket.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model

from core.auth.tokens import issue_token
from sync_app import auth
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


def user_ids_seen(*tokens: str, reset: bool = True) -> list[int | None]:
    """One handshake per token, one after another (one process's cache of active users; emptied
    first unless `reset` is false)."""
    seen: list[int | None] = []

    async def scenario() -> None:
        for token in tokens:
            scopes: list[dict[str, Any]] = []
            comm = WebsocketCommunicator(
                SyncAuthMiddleware(recording_app(scopes)), f"/ws/sync/?token={token}", headers=[ORIGIN], subprotocols=[]
            )
            await comm.send_input({"type": "websocket.connect"})
            await comm.receive_output(5)
            await comm.wait(5)
            seen.append(scopes[0]["user_id"] if scopes else None)

    if reset:
        run(scenario)
    else:
        with mock.patch("sync_app.tests.helpers.forget_active_users"):
            run(scenario)
    return seen


@pytest.fixture
def active_user_seconds(settings: Any) -> float:
    settings.SYNC_ACTIVE_USER_SECONDS = 300.0
    return settings.SYNC_ACTIVE_USER_SECONDS


def test_a_user_found_active_is_not_read_again_within_active_user_seconds(user, active_user_seconds):
    with mock.patch.object(auth, "user_from_claims", wraps=auth.user_from_claims) as read:
        assert user_ids_seen(token_for(user), token_for(user)) == [user.pk, user.pk]
    assert read.call_count == 1


def test_a_deactivated_user_is_refused_once_the_active_user_seconds_have_passed(user, active_user_seconds):
    now = auth.time.monotonic()
    original = auth.user_from_claims

    def read_then_deactivate(claims: dict[str, Any]) -> Any:
        found = original(claims)
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
        return found

    with mock.patch.object(auth.time, "monotonic", return_value=now) as monotonic:
        with mock.patch.object(auth, "user_from_claims", read_then_deactivate):
            assert user_ids_seen(token_for(user)) == [user.pk]
        # Within the window the process still takes the user as active (the stated bound).
        assert user_ids_seen(token_for(user), reset=False) == [user.pk]
        monotonic.return_value = now + active_user_seconds + 1
        assert user_ids_seen(token_for(user), reset=False) == [None]


def test_a_token_that_fails_verification_is_refused_even_for_a_user_found_active(user, active_user_seconds):
    expired = issue_token(subject=user.username, email=user.email, ttl_seconds=-120)
    assert user_ids_seen(token_for(user), expired, token_for(user) + "x") == [user.pk, None, None]


def test_a_new_email_claim_reads_the_user_again(user, active_user_seconds):
    renamed = issue_token(subject=user.username, email="new@example.com")
    with mock.patch.object(auth, "user_from_claims", wraps=auth.user_from_claims) as read:
        assert user_ids_seen(token_for(user), renamed) == [user.pk, user.pk]
    assert read.call_count == 2
    user.refresh_from_db()
    assert user.email == "new@example.com"


def test_by_default_every_handshake_reads_the_user(user):
    # A cached user id would outlive the user's deletion (a new user under the same `sub`).
    with mock.patch.object(auth, "user_from_claims", wraps=auth.user_from_claims) as read:
        assert user_ids_seen(token_for(user), token_for(user)) == [user.pk, user.pk]
    assert read.call_count == 2
