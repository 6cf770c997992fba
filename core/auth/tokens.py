"""JWT verification and issuing (DESIGN.md section 4).

Two modes, never mixed, so a public key can never be used as an HMAC secret (key confusion):
- `JWT_JWKS_URL` set: asymmetric tokens (RS256, ES256, EdDSA) whose `kid` is in the key set;
- otherwise HS256 with `JWT_SIGNING_KEY`.
`exp`, `iss`, `aud` and `sub` are always required.
"""

from __future__ import annotations

import time
import uuid
from functools import lru_cache
from typing import Any

import jwt
from django.conf import settings

ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA", "PS256"]
SYMMETRIC_ALGORITHMS = ["HS256"]
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


class TokenError(Exception):
    """The token is not acceptable; the message is safe to show to the client."""


class TokenExpired(TokenError):
    pass


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def _key_and_algorithms(token: str) -> tuple[Any, list[str]]:
    if settings.JWT_JWKS_URL:
        try:
            signing_key = _jwks_client(settings.JWT_JWKS_URL).get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError as exc:
            raise TokenError(f"Token signing key not found: {exc}") from exc
        return signing_key.key, ASYMMETRIC_ALGORITHMS
    if not settings.JWT_SIGNING_KEY:
        raise TokenError("Token verification is not configured.")
    return settings.JWT_SIGNING_KEY, SYMMETRIC_ALGORITHMS


def verify_token(token: str) -> dict[str, Any]:
    """Return the claims of a valid token, or raise `TokenError` saying what is wrong."""
    if not token or token.count(".") != 2:
        raise TokenError("Malformed token.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise TokenError("Malformed token.") from exc
    if str(header.get("alg", "")).lower() == "none":
        raise TokenError("Unsigned tokens are not accepted.")
    key, algorithms = _key_and_algorithms(token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            leeway=settings.JWT_LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("Token has expired.") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenError("Token audience is not accepted.") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenError("Token issuer is not accepted.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"Token lacks the '{exc.claim}' claim.") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise TokenError("Token algorithm is not accepted.") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError("Token signature is invalid.") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("Malformed token.") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 1 <= len(sub) <= 150:
        raise TokenError("Token 'sub' claim must be a string of 1 to 150 characters.")
    return claims


def issue_token(*, subject: str, email: str | None = None, ttl_seconds: int | None = None) -> str:
    """An HS256 token for development, tests and service accounts."""
    if not settings.JWT_SIGNING_KEY:
        raise TokenError("JWT_SIGNING_KEY is not set; tokens cannot be issued here.")
    now = int(time.time())
    ttl = settings.JWT_DEFAULT_TTL_SECONDS if ttl_seconds is None else ttl_seconds
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    if email:
        claims["email"] = email
    return jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm="HS256")
