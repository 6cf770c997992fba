"""A real uvicorn serving the project's ASGI application (REST, `/mcp`, WebSockets) against the
test database, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sync_app.tests.e2e import Stack
from tests.fixtures import subprocess_env

BROWSER_ORIGIN = "http://app.example"


@pytest.fixture(scope="module")
def web(django_db_setup: None, django_db_blocker: Any) -> Iterator[Stack]:
    with django_db_blocker.unblock():
        env = subprocess_env(CORS_ALLOWED_ORIGINS=BROWSER_ORIGIN, API_THROTTLE_USER_RATE="")
    stack = Stack(env)
    try:
        stack.start_web()
        yield stack
    finally:
        stack.managed.stop_all()
