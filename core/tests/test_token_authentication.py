"""Bearer-token verification: every rejection case answers 401 with a clear JSON message."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from core.auth import tokens

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "carol", "iss": settings.JWT_ISSUER, "aud": settings.JWT_AUDIENCE, "iat": now, "exp": now + 60}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def call_me(token: str) -> Any:
    client = APIClient()
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_rejected(response: Any, fragment: str) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["error"]["code"] == "not_authenticated"
    assert fragment.lower() in body["error"]["message"].lower()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_valid_token_authenticates_and_provisions_the_user() -> None:
    token = jwt.encode(claims(email="carol@example.com"), settings.JWT_SIGNING_KEY, algorithm="HS256")
    response = call_me(token)
    assert response.status_code == 200
    assert response.json()["username"] == "carol"
    user = get_user_model().objects.get(username="carol")
    assert user.email == "carol@example.com"
    assert not user.has_usable_password()


def test_bad_signature_is_rejected() -> None:
    token = jwt.encode(claims(), "another-secret-key-of-sufficient-length", algorithm="HS256")
    assert_rejected(call_me(token), "signature")


def test_wrong_issuer_is_rejected() -> None:
    token = jwt.encode(claims(iss="someone-else"), settings.JWT_SIGNING_KEY, algorithm="HS256")
    assert_rejected(call_me(token), "issuer")


def test_wrong_audience_is_rejected() -> None:
    token = jwt.encode(claims(aud="another-api"), settings.JWT_SIGNING_KEY, algorithm="HS256")
    assert_rejected(call_me(token), "audience")


def test_expired_token_is_rejected() -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 3600), settings.JWT_SIGNING_KEY, algorithm="HS256")
    assert_rejected(call_me(token), "expired")


def test_unsigned_alg_none_token_is_rejected() -> None:
    def segment(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    token = f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims())}."
    assert_rejected(call_me(token), "unsigned")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30", "\u00e9\u00e9.x.y"])
def test_malformed_tokens_are_rejected(token: str) -> None:
    response = APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {token}".encode())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_token_without_subject_is_rejected() -> None:
    token = jwt.encode(claims(sub=None), settings.JWT_SIGNING_KEY, algorithm="HS256")
    assert_rejected(call_me(token), "sub")


def test_missing_credentials_get_401_not_403() -> None:
    response = APIClient().get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey, settings: Any) -> Iterator[str]:
    """A real JWKS endpoint on loopback, as an external auth service would serve it."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update(kid="test-key", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/jwks.json"
    settings.JWT_JWKS_URL = url
    tokens._jwks_client.cache_clear()
    yield url
    server.shutdown()
    tokens._jwks_client.cache_clear()


def test_jwks_rs256_token_is_accepted(rsa_key: rsa.RSAPrivateKey, jwks_url: str) -> None:
    token = jwt.encode(claims(sub="dave"), rsa_key, algorithm="RS256", headers={"kid": "test-key"})
    response = call_me(token)
    assert response.status_code == 200, response.content
    assert response.json()["username"] == "dave"


def test_jwks_mode_rejects_hmac_token_signed_with_the_public_key(rsa_key: rsa.RSAPrivateKey, jwks_url: str) -> None:
    """Key confusion: the public key used as an HMAC secret must not verify."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = _hs256_with_raw_key(claims(), public_pem, {"kid": "test-key"})
    assert_rejected(call_me(token), "algorithm")


def _hs256_with_raw_key(payload: dict[str, Any], key: bytes, header: dict[str, str]) -> str:
    """PyJWT refuses to HMAC-sign with a PEM key, as an attacker's tool would not: sign by hand."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    encoded_header = b64(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode())
    signing_input = f"{encoded_header}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_jwks_token_with_unknown_key_id_is_rejected(jwks_url: str) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "unknown"})
    assert_rejected(call_me(token), "key")
