"""Browser front ends on another origin: CORS on REST and /mcp, and the WebSocket Origin check,
all following CORS_ALLOWED_ORIGINS (the module's server runs with http://app.example in it)."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from django.test import Client

from mcp_app.tests.conftest import BROWSER_ORIGIN
from sync_app.tests.helpers import token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OTHER_SITE = "http://evil.example"


def preflight(url: str, origin: str, method: str, headers: str) -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
        timeout=10,
    )


def test_a_listed_origin_passes_the_preflight_of_rest_and_mcp_and_another_does_not(web):
    rest = preflight(f"{web.base}/api/v1/tasks/", BROWSER_ORIGIN, "POST", "authorization,content-type,idempotency-key")
    assert rest.status_code == 200
    assert rest.headers["access-control-allow-origin"] == BROWSER_ORIGIN
    assert {"authorization", "content-type", "idempotency-key"} <= set(
        rest.headers["access-control-allow-headers"].split(", ")
    )
    mcp = preflight(f"{web.base}/mcp", BROWSER_ORIGIN, "POST", "authorization,content-type,mcp-protocol-version")
    assert mcp.status_code == 200
    assert mcp.headers["access-control-allow-origin"] == BROWSER_ORIGIN

    for url in (f"{web.base}/api/v1/tasks/", f"{web.base}/mcp"):
        refused = preflight(url, OTHER_SITE, "POST", "authorization")
        assert "access-control-allow-origin" not in refused.headers, url

    # The actual request: the browser may read the answer and the headers it needs.
    answer = httpx.get(f"{web.base}/api/v1/tasks/", headers={"Origin": BROWSER_ORIGIN}, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["access-control-allow-origin"] == BROWSER_ORIGIN
    assert "ETag" in answer.headers["access-control-expose-headers"]


def test_the_websocket_origin_check_accepts_the_same_origins_as_cors(web, user):
    token = token_for(user)
    assert web.refused_status(f"token={token}", origin=BROWSER_ORIGIN) is None
    assert web.refused_status(f"token={token}", origin=OTHER_SITE) == 403
    assert web.refused_status(f"token={token}") is None  # the server's own origin (ALLOWED_HOSTS)


def test_no_other_origin_is_allowed_by_default():
    assert settings.CORS_ALLOWED_ORIGINS == []
    response = Client().options(
        "/api/v1/tasks/", headers={"Origin": BROWSER_ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in response.headers
