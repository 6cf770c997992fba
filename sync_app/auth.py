"""Who is on the other end of a `/ws/sync/` handshake (DESIGN.md section 8).

A JWT in the subprotocol `bearer.<token>` (browsers cannot set headers on a WebSocket) or in
`?token=`, or else the Django session. A token that is present but not valid refuses the
handshake even when a session exists, and so does no credential at all: the consumer behind
this middleware only ever sees authenticated users.

Scope keys set here: `user`, `auth_subprotocol` (the offered `bearer.*` subprotocol, to be
echoed when accepting), `token_expires_at` (unix time; None for session connections).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from core.auth.services import user_from_claims
from core.auth.tokens import TokenError, verify_token

logger = logging.getLogger(__name__)

SUBPROTOCOL_PREFIX = "bearer."


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


@database_sync_to_async
def _authenticate(token: str) -> tuple[Any, dict[str, Any]]:
    # In the database thread: verification may fetch a JWKS, provisioning may write the user.
    claims = verify_token(token)
    return user_from_claims(claims), claims


async def deny(receive: Any, send: Any) -> None:
    """Refuse the handshake (the server answers HTTP 403) without allocating a channel."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        token, subprotocol = token_from_scope(scope)
        if token is not None:
            try:
                user, claims = await _authenticate(token)
            except TokenError as exc:
                logger.info("sync handshake refused: %s", exc)
                return await deny(receive, send)
            if not user.is_active:
                return await deny(receive, send)
            scope.update(user=user, auth_subprotocol=subprotocol, token_expires_at=float(claims["exp"]))
        else:
            user = scope.get("user")
            if user is None or not user.is_authenticated:
                logger.info("sync handshake refused: no credentials")
                return await deny(receive, send)
            scope.update(auth_subprotocol=None, token_expires_at=None)
        return await super().__call__(scope, receive, send)


def SyncAuthMiddlewareStack(inner: Any) -> Any:
    """Session (cookies) first, then the token, which wins when present."""
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
