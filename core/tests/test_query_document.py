"""The OpenAPI document the query-parameter check reads is built once, even when the first
requests of a process arrive together (drf-spectacular's generator is not thread-safe)."""

from __future__ import annotations

import threading

from core import query


def test_concurrent_first_requests_build_the_document_once_and_all_get_it() -> None:
    query.reset_openapi_document()
    start = threading.Barrier(8)
    results: list[object] = []
    errors: list[BaseException] = []

    def first_request() -> None:
        start.wait()
        try:
            results.append(query.openapi_document())
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(results) == 8
    assert all(result is results[0] for result in results)
    assert "/api/v1/tasks/" in results[0]["paths"]
