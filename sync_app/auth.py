"""Who is on the other end of a `/ws/sync/` handshake (DESIGN.md section 8).

A JWT in the subprotocol `bearer.<token>` (browsers cannot set headers on a WebSocket) or in
`?token=`, or else the Django session. A token that is present but not valid refuses the
handshake even when a session exists, and so does no credential at all: the consumer behind
this middleware only ever sees authenticated users.

With SYNC_ACTIVE_USER_SECONDS > 0 (off by default), a token's user found active is taken as
active for that long (at most until the token expires) without another database read (HMAC keys
only; the token itself is verified every time): in a reconnect storm the user read was most of a
handshake's database work. The price: a user deactivated meanwhile can open new sockets for up to
that long, and a user deleted and provisioned again under the same `sub` is taken for the old user
id (its sockets see no updates) until the entry lapses. Sockets already open are not closed on
deactivation anyway (they last until their token expires).

Scope keys set here: `user_id` (the authenticated user's primary key), `auth_subprotocol` (the
offered `bearer.*` subprotocol, to be echoed when accepting), `token_expires_at` (unix time;
None for session connections).

Memory: this middleware stays on the stack for the whole life of the socket, and with
thousands of idle sockets per process every object it keeps counts. So the scope passed on is
one copy of the server's scope plus those three keys: no user instance, no claims, no cookies
or session (the session is read by Channels' session stack run to completion on the side, not
wrapped around the consumer, where each layer would hold a scope copy of its own).
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from django.conf import settings

from core.auth.services import user_from_claims
from core.auth.tokens import TokenError, verify_token
from sync_app import db_reads

logger = logging.getLogger(__name__)

SUBPROTOCOL_PREFIX = "bearer."
ACTIVE_USERS_MAX = 50_000  # ~200 bytes each

# (sub, email claim) -> (user id, monotonic time the entry lapses). Only this process's loop
# reads and writes it.
_active_users: dict[tuple[str, str | None], tuple[int, float]] = {}


class Identity(NamedTuple):
    """What the consumer needs to know about the peer, and nothing more."""

    user_id: int
    subprotocol: str | None
    expires_at: float | None


def token_from_scope(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """(token, subprotocol it came in) from the handshake; (None, None) when there is none."""
    for subprotocol in scope.get("subprotocols") or ():
        if subprotocol.startswith(SUBPROTOCOL_PREFIX):
            return subprotocol[len(SUBPROTOCOL_PREFIX) :], subprotocol
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    if tokens:
        return tokens[0], None
    return None, None


def _cache_key(claims: dict[str, Any]) -> tuple[str, str | None]:
    email = claims.get("email")
    return claims["sub"], email if isinstance(email, str) else None


def _user_identity(claims: dict[str, Any], subprotocol: str | None) -> Identity | None:
    # In a database thread (`db_reads`): provisioning may write the user.
    user = user_from_claims(claims)
    if not user.is_active:
        return None
    return Identity(user.pk, subprotocol, float(claims["exp"]))


def _token_identity(token: str, subprotocol: str | None) -> tuple[Identity | None, dict[str, Any]]:
    # In a database thread: verification may fetch a JWKS.
    claims = verify_token(token)
    return _user_identity(claims, subprotocol), claims


async def _identify_token(token: str, subprotocol: str | None) -> Identity | None:
    """The token's active user; raises `TokenError`. With HMAC keys (no JWKS to fetch) the token is
    verified in the event loop, and a user found active within SYNC_ACTIVE_USER_SECONDS is not
    read from the database again."""
    if settings.JWT_JWKS_URL:
        identity, claims = await db_reads.read(_token_identity, token, subprotocol)
    else:
        claims = verify_token(token)
        known = _active_users.get(_cache_key(claims))
        if known is not None and known[1] >= time.monotonic():
            return Identity(known[0], subprotocol, float(claims["exp"]))
        identity = await db_reads.read(_user_identity, claims, subprotocol)
    if identity is not None and settings.SYNC_ACTIVE_USER_SECONDS > 0:
        _remember(identity, claims)
    return identity


def _remember(identity: Identity, claims: dict[str, Any]) -> None:
    now = time.monotonic()
    if len(_active_users) >= ACTIVE_USERS_MAX:
        for key in [key for key, (_, lapses) in _active_users.items() if lapses < now]:
            del _active_users[key]
        if len(_active_users) >= ACTIVE_USERS_MAX:
            _active_users.clear()
    lapses = now + min(settings.SYNC_ACTIVE_USER_SECONDS, max(0.0, float(claims["exp"]) - time.time()))
    _active_users[_cache_key(claims)] = (identity.user_id, lapses)


def forget_active_users() -> None:
    """Read every user from the database again (tests: each starts with users of its own)."""
    _active_users.clear()


async def _session_identity(scope: dict[str, Any]) -> Identity | None:
    """The session's user, through Channels' cookie, session and auth middleware around an app
    that only records whom they found (they save nothing for a WebSocket)."""
    found: list[Any] = []

    async def record(inner_scope: dict[str, Any], receive: Any, send: Any) -> None:
        found.append(inner_scope["user"])

    await AuthMiddlewareStack(record)(scope, _never_receive, _never_send)
    user = found[0] if found else None
    if user is None or not user.is_authenticated:
        return None
    return Identity(user.pk, None, None)


async def _never_receive() -> dict[str, Any]:
    raise RuntimeError("the session lookup does not read from the socket")


async def _never_send(message: dict[str, Any]) -> None:
    raise RuntimeError("the session lookup does not write to the socket")


async def identify(scope: dict[str, Any]) -> Identity | None:
    """The peer of this handshake, or None when it must be refused."""
    token, subprotocol = token_from_scope(scope)
    if token is not None:
        try:
            identity = await _identify_token(token, subprotocol)
        except TokenError as exc:
            logger.info("sync handshake refused: %s", exc)
            return None
        if identity is None:
            logger.info("sync handshake refused: inactive user")
        return identity
    identity = await _session_identity(scope)
    if identity is None:
        logger.info("sync handshake refused: no credentials")
    return identity


async def deny(receive: Any, send: Any) -> None:
    """Refuse the handshake (the server answers HTTP 403) without allocating a channel."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


class SyncAuthMiddleware:
    """Authenticates the handshake, then runs `inner` with the slim scope described above."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        identity = await identify(scope)
        if identity is None:
            return await deny(receive, send)
        return await self.inner(
            {
                **scope,
                "user_id": identity.user_id,
                "auth_subprotocol": identity.subprotocol,
                "token_expires_at": identity.expires_at,
            },
            receive,
            send,
        )
