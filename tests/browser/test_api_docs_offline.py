"""An integrator opens /api/docs/ on a machine without internet access: Swagger UI loads from our
own static files, lists the operations, and nothing leaves this origin or breaks its policy."""

from __future__ import annotations

from typing import Any

import pytest

from core.csp import HEADER, POLICY
from tests.browser.chromium import Chromium
from tests.browser.conftest import assert_only_loopback_reachable

pytestmark = pytest.mark.slow

OPERATIONS = "[...document.querySelectorAll('.opblock-summary')].map(e => e.innerText.replace(/\\s+/g, ' ').trim())"


def test_api_docs_list_the_operations_with_the_network_shut_off(browser: Chromium, live_server: Any) -> None:
    assert_only_loopback_reachable(browser)

    assert browser.open(f"{live_server.url}/api/docs/") == ""
    browser.wait_for("document.querySelectorAll('.opblock').length >= 10", message="Swagger UI lists operations")

    operations = browser.evaluate(OPERATIONS)
    assert any(op.startswith("GET /api/v1/tasks/") for op in operations), operations
    assert any(op.startswith("POST /api/v1/tasks/{task_id}/complete/") for op in operations), operations
    assert any(op.startswith("GET /api/v1/audit/") for op in operations), operations
    requested = browser.requested_urls()
    assert [url for url in requested if not url.startswith(live_server.url) and not url.startswith("data:")] == []
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in url for url in requested)
    assert browser.failed_requests() == []
    assert browser.csp_violations() == []
    assert browser.errors() == []
    page = next(e for e in browser._events("Network.responseReceived") if e["response"]["url"].endswith("/api/docs/"))
    assert {k.lower(): v for k, v in page["response"]["headers"].items()}[HEADER.lower()] == POLICY
