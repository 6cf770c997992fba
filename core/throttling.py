"""Per-client request limits (OWASP API4:2023) for the REST API and `/mcp`: DRF throttles that
count in the shared Redis cache, so every web process enforces one limit per client.

DRF's own rate throttles keep a list of request times per client, read and written back whole
on each request: concurrent requests of one client read the same list and each writes back its
own, so a greedy client with many connections goes mostly uncounted (and every request moves a
list of up to N floats through Redis). These count with one atomic increment per request in a
fixed window (`N/period`: at most N requests per calendar second, minute, hour or day of the
window; a client may reach 2N across a window boundary, never more): `SET NX` with the key's
expiry, then `INCR`, sent together in one round trip on one Redis client per process, under the
default cache's key for the counter (so the cache API reads and deletes the same keys).

Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (`API_THROTTLE_*_RATE`); None (an
empty variable) turns a scope off. Over the limit, DRF raises `Throttled`, which
`core.errors.api_exception_handler` answers with 429, `Retry-After` and the JSON error shape.
Views outside DRF use `throttle_wait` and `throttled_response`.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import redis
from django.conf import settings
from django.core.cache import BaseCache, caches
from django.http import HttpRequest, JsonResponse
from rest_framework import throttling
from rest_framework.settings import api_settings

from core.errors import error_body

logger = logging.getLogger(__name__)


_counter_cache: BaseCache | None = None
_counter_cache_lock = threading.Lock()


def counter_cache() -> BaseCache:
    """The process's one client of the default cache for the counters. `django.core.cache.cache`
    is an instance per thread, and under ASGI every request runs in a thread of its own, so each
    request connected to Redis anew (bench/README.md, scenario 10)."""
    global _counter_cache
    if _counter_cache is None:
        with _counter_cache_lock:
            if _counter_cache is None:
                _counter_cache = caches.create_connection("default")
    return _counter_cache


_counter_client: redis.Redis | None = None


def counter_client() -> redis.Redis:
    """The process's one Redis client for counting, on the server the default cache writes to
    (the first of its LOCATION). Django's cache makes a client object per call (a copy of
    redis-py's ~200 response callbacks each time) and sends `add` and `incr` one after the other."""
    global _counter_client
    if _counter_client is None:
        with _counter_cache_lock:
            if _counter_client is None:
                location = settings.CACHES["default"]["LOCATION"]
                servers = location.split(",") if isinstance(location, str) else list(location)
                _counter_client = redis.Redis.from_url(servers[0].strip())
    return _counter_client


def count_request(key: str, timeout: int) -> int:
    """Count one request under the cache key `key` and return the count so far; a new key
    expires after `timeout` seconds. One round trip, each command atomic."""
    full_key = counter_cache().make_and_validate_key(key)
    pipe = counter_client().pipeline(transaction=False)
    pipe.set(full_key, 0, ex=timeout, nx=True)
    pipe.incr(full_key)
    return int(pipe.execute()[1])


class _CountingThrottle(throttling.SimpleRateThrottle):
    """A fixed-window counter in the cache; `get_cache_key` comes from the DRF class mixed in."""

    @property
    def cache(self) -> BaseCache:  # DRF's class attribute is the per-thread `default_cache`
        return counter_cache()

    def get_rate(self) -> str | None:
        # Read per instance, not bound at import as DRF's class attribute is, so a settings
        # change (tests, a reload) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends_at = (window + 1) * self.duration
        # The window is part of the key: a key is only ever counted within its own window, and
        # it outlives that window, so an increment never meets an expired key.
        key = f"{key}_{window}"
        try:
            count = count_request(key, timeout=2 * self.duration)
        except Exception:  # noqa: BLE001 - a limiter that cannot count must not take the API down
            logger.warning("request throttle could not count; request allowed", exc_info=True)
            return True
        return count <= self.num_requests

    def wait(self) -> float:
        return max(0.0, self.window_ends_at - self.now)


class UserRateThrottle(_CountingThrottle, throttling.UserRateThrottle):
    """Per authenticated user (per client IP for anonymous requests): `API_THROTTLE_USER_RATE`."""


class AnonRateThrottle(_CountingThrottle, throttling.AnonRateThrottle):
    """Per client IP, anonymous requests only: `API_THROTTLE_ANON_RATE`."""


def throttle_wait(request: HttpRequest) -> float | None:
    """For views outside DRF (the MCP endpoint): run the API's throttles on `request`, whose
    `user` must be set. None when it may go on, else the seconds to wait (as DRF's
    `APIView.check_throttles`: every throttle counts the request, the longest wait wins)."""
    waits = []
    for throttle_class in api_settings.DEFAULT_THROTTLE_CLASSES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 0.0)
    return max(waits) if waits else None


def throttled_response(wait: float) -> JsonResponse:
    """The API's 429: the JSON error shape and `Retry-After` in whole seconds (at least 1)."""
    seconds = max(1, math.ceil(wait))
    response = JsonResponse(
        error_body("throttled", f"Request was throttled. Expected available in {seconds} seconds."), status=429
    )
    response["Retry-After"] = str(seconds)
    return response
