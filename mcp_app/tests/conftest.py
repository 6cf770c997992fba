"""A real uvicorn serving the project's ASGI application (REST, `/mcp`, WebSockets) against the
test database, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sync_app.tests.e2e import Stack, web_only

BROWSER_ORIGIN = "http://app.example"


@pytest.fixture(scope="module")
def web(django_db_setup: None, django_db_blocker: Any) -> Iterator[Stack]:
    with web_only(django_db_blocker, CORS_ALLOWED_ORIGINS=BROWSER_ORIGIN, API_THROTTLE_USER_RATE="") as stack:
        yield stack
