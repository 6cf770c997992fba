"""The throttles count through one cache client per process: under ASGI every request runs in a
thread of its own, and Django's `cache` is an instance per thread, whose Redis pool each request
then opened anew (a connect per request; bench/README.md, scenario 10)."""

from __future__ import annotations

import threading

from core.throttling import AnonRateThrottle, UserRateThrottle, counter_cache


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
