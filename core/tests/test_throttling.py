"""Per-client request limits (core/throttling.py) against the real Redis cache. Rates here are
per day, so a test never straddles a window boundary."""

from __future__ import annotations

import json
import threading
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from core.throttling import AnonRateThrottle, UserRateThrottle, throttle_wait, throttled_response

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings: Any):
    def set_rates(user: str | None = "3/day", anon: str | None = "2/day") -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"user": user, "anon": anon},
        }

    return set_rates


def test_a_user_over_the_limit_gets_429_with_retry_after_and_the_error_shape(rates, api_client, other_client):
    rates(user="3/day")
    assert [api_client.get("/api/v1/tasks/").status_code for _ in range(3)] == [200] * 3

    response = api_client.get("/api/v1/tasks/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 86_400
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["request_id"]
    assert other_client.get("/api/v1/tasks/").status_code == 200  # a limit per user, not per server


def test_an_empty_rate_turns_the_limit_off(rates, api_client):
    rates(user=None)
    assert {api_client.get("/api/v1/me/").status_code for _ in range(5)} == {200}


def test_concurrent_requests_of_one_client_are_each_counted():
    """DRF's own rate throttle reads and writes back a list of request times: requests at the
    same moment each write back their own list, and most go uncounted."""
    limit, threads, calls = 50, 20, 5
    throttle_class = type("Under", (UserRateThrottle,), {"rate": f"{limit}/day"})
    request = SimpleNamespace(user=SimpleNamespace(pk=f"concurrent-{uuid.uuid4()}", is_authenticated=True))
    allowed: list[bool] = []
    start = threading.Barrier(threads)

    def client() -> None:
        start.wait()
        for _ in range(calls):
            allowed.append(throttle_class().allow_request(request, None))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(allowed) == limit  # of threads * calls = 100


def test_anonymous_clients_are_counted_per_address_which_a_header_cannot_change(rates):
    rates(anon="2/day")
    address = f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"  # unique to this test

    def allowed(**headers: str) -> bool:
        request = RequestFactory().get("/api/v1/anything/", REMOTE_ADDR=address, **headers)
        request.user = AnonymousUser()
        return AnonRateThrottle().allow_request(request, None)

    assert [allowed(), allowed(HTTP_X_FORWARDED_FOR="203.0.113.7")] == [True, True]
    assert not allowed(HTTP_X_FORWARDED_FOR="203.0.113.8")  # a new forwarded address is no new client


def test_views_outside_drf_get_the_same_limit_and_answer(rates, user):
    rates(user="1/day")
    request = RequestFactory().post("/mcp")
    request.user = user
    assert throttle_wait(request) is None
    wait = throttle_wait(request)
    assert wait is not None
    assert 0 < wait <= 86_400

    response = throttled_response(0.2)
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert json.loads(response.content)["error"]["code"] == "throttled"
