"""Who is calling `/mcp`: the REST API's own bearer authentication, and the 401 answer.

`JWTAuthentication` (core/auth) is run on the request's Authorization header, so tokens are
checked exactly as for REST (HS256 or JWKS, iss/aud/exp, the user provisioned from `sub`) and
refusals carry the same messages. The challenge follows RFC 6750 and names the protected-resource
metadata (RFC 9728) so an agent can find the token issuer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.request import Request

from core.auth.authentication import JWTAuthentication
from core.errors import api_exception_handler

METADATA_PATH = "/.well-known/oauth-protected-resource"
REALM = "mcp"


@dataclass(frozen=True)
class Refusal:
    body: dict[str, Any]
    message: str
    token_given: bool


def authenticate(authorization: str | None) -> Any:
    """The active user the bearer token names, or a `Refusal` (runs database queries: call it
    from a worker thread)."""
    request = HttpRequest()
    if authorization is not None:
        request.META["HTTP_AUTHORIZATION"] = authorization
    close_old_connections()
    try:
        result = JWTAuthentication().authenticate(Request(request))
    except exceptions.AuthenticationFailed as exc:
        return _refusal(exc, token_given=True)
    finally:
        close_old_connections()
    if result is None:
        return _refusal(exceptions.NotAuthenticated(), token_given=False)
    return result[0]


def _refusal(exc: exceptions.APIException, *, token_given: bool) -> Refusal:
    response = api_exception_handler(exc, {})
    assert response is not None  # an APIException always has an answer
    return Refusal(body=response.data, message=str(exc.detail), token_given=token_given)


def challenge(refusal: Refusal, *, base_url: str) -> str:
    """The WWW-Authenticate value: `invalid_token` only when a token was sent (RFC 6750 §3.1)."""
    parts = [f'Bearer realm="{REALM}"', f'resource_metadata="{base_url}{METADATA_PATH}/mcp"']
    if refusal.token_given:
        description = refusal.message.replace("\\", "").replace('"', "'")
        parts += ['error="invalid_token"', f'error_description="{description}"']
    return ", ".join(parts)
