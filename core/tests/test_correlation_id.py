"""Every request gets a correlation id: echoed in X-Request-ID and on every log line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from django.test import Client

from core.correlation import correlation_scope, correlation_scope_if_given, get_correlation_id
from core.logging import EACH_LINE, CorrelationIdFilter, JsonFormatter


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The project's real formatter and filter on a handler we can read."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(CorrelationIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def log_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_incoming_request_id_is_echoed_and_on_the_log_lines(json_log: io.StringIO) -> None:
    response = Client().get("/api/v1/missing/", HTTP_X_REQUEST_ID="chatbot-req-42")
    assert response["X-Request-ID"] == "chatbot-req-42"
    lines = [line for line in log_lines(json_log) if line["logger"] == "django.request"]
    assert lines, "django.request logs the 404"
    assert all(line["correlation_id"] == "chatbot-req-42" for line in lines)
    assert {"time", "level", "logger", "message"} <= set(lines[0])


def test_missing_request_id_gets_a_generated_one() -> None:
    first = Client().get("/healthz")["X-Request-ID"]
    second = Client().get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize("hostile", ["line\nbreak", "x" * 500, "<script>", "a b"])
def test_malformed_request_id_is_replaced(hostile: str) -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=hostile)
    assert response["X-Request-ID"] != hostile
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_log_lines_outside_a_request_have_a_null_correlation_id(json_log: io.StringIO) -> None:
    logging.getLogger("test").info("background work", extra={"items": 3})
    (line,) = [line for line in log_lines(json_log) if line["logger"] == "test"]
    assert line["correlation_id"] is None
    assert line["items"] == 3


def test_a_log_line_with_values_orjson_refuses_is_still_written(json_log: io.StringIO) -> None:
    logging.getLogger("core.tests").info("odd values", extra={"huge": 2**70, "ids": {1: "int key"}})
    [line] = [line for line in log_lines(json_log) if line["message"] == "odd values"]
    assert line["huge"] == 2**70
    assert line["ids"] == {"1": "int key"}


def test_a_record_with_each_line_is_written_as_one_line_per_item(json_log: io.StringIO) -> None:
    logging.getLogger("core.tests").info(
        "published",
        extra={
            EACH_LINE: [
                {"correlation_id": "req-1", "events": 2},
                {"correlation_id": "req-2", "events": 1, "batch": "its own"},
                {},
                {"huge": 2**70},
            ],
            "batch": 7,
        },
    )

    lines = [line for line in log_lines(json_log) if line["message"] == "published"]
    assert [(line["correlation_id"], line.get("events"), line["batch"]) for line in lines] == [
        ("req-1", 2, 7),
        ("req-2", 1, "its own"),
        (None, None, 7),
        (None, None, 7),
    ]
    assert lines[3]["huge"] == 2**70
    assert all({"time", "level", "logger"} <= set(line) and EACH_LINE not in line for line in lines)


def test_a_scope_if_given_binds_the_id_given_and_otherwise_keeps_the_current_one() -> None:
    with correlation_scope("outer"):
        with correlation_scope_if_given("inner") as bound:
            assert bound == get_correlation_id() == "inner"
        with correlation_scope_if_given(None) as kept:
            assert kept == get_correlation_id() == "outer"
        assert get_correlation_id() == "outer"
