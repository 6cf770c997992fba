"""The throttles count through one Redis client per process, in one round trip per request: under
ASGI every request runs in a thread of its own, and Django's `cache` is an instance per thread,
whose Redis pool each request then opened anew (a connect per request; bench/README.md,
scenario 10); and Django's cache makes a client object per call and sends `add` and `incr` apart."""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace
from typing import Any

import redis

from core.throttling import AnonRateThrottle, UserRateThrottle, count_request, counter_cache, counter_client


def test_every_thread_counts_through_the_same_cache_client() -> None:
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(UserRateThrottle().cache)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4
    assert all(cache is counter_cache() for cache in seen)
    assert AnonRateThrottle().cache is counter_cache()


def test_every_thread_counts_through_the_same_redis_client() -> None:
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(counter_client())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4
    assert all(client is counter_client() for client in seen)


def test_a_request_is_counted_in_one_round_trip(monkeypatch) -> None:
    """`SET NX` and `INCR` go out together: no command is sent on its own."""
    rounds: list[int] = []
    execute = redis.client.Pipeline.execute

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        rounds.append(len(self.command_stack))
        return execute(self, *args, **kwargs)

    def alone(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a command sent alone: {args[:1]}")

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    monkeypatch.setattr(redis.Redis, "execute_command", alone)
    throttle_class = type("Limited", (UserRateThrottle,), {"rate": "5/day"})
    request = SimpleNamespace(user=SimpleNamespace(pk=f"round-trips-{uuid.uuid4()}", is_authenticated=True))
    assert [throttle_class().allow_request(request, None) for _ in range(6)] == [True] * 5 + [False]
    assert rounds == [2] * 6


def test_a_count_is_the_cache_value_of_its_key_and_expires() -> None:
    key = f"count-{uuid.uuid4()}"
    assert [count_request(key, timeout=60) for _ in range(3)] == [1, 2, 3]
    assert counter_cache().get(key) == 3  # the cache API reads (and deletes) the same keys
    assert 0 < counter_client().ttl(counter_cache().make_and_validate_key(key)) <= 60
    counter_cache().delete(key)
    assert count_request(key, timeout=60) == 1
