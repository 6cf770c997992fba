from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.auth.services import user_from_claims
from core.auth.tokens import TokenError, verify_token


class JWTAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <JWT>`; the user is provisioned from `sub` on first valid token."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, dict[str, Any]] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed token.") from exc
        try:
            claims = verify_token(token)
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        user = user_from_claims(claims)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive.")
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
