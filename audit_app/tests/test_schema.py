"""The OpenAPI document describes the audit endpoints, their filters and pagination."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_documents_audit_filters_pagination_and_export(api_client: Any) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    listing = schema["paths"]["/api/v1/audit/"]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}
    assert {"user", "action", "topic", "task", "correlation_id", "since", "until", "cursor", "limit"} <= names
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"next", "results"}
    export = schema["paths"]["/api/v1/audit/export/"]["get"]
    assert "application/x-ndjson" in export["responses"]["200"]["content"]
    assert {"task", "since", "until"} <= {parameter["name"] for parameter in export["parameters"]}
