"""Processed event ids: a batch claims its ids in one statement, and learns which were new."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kafka_bridge.consumer.dedupe import first_deliveries, first_delivery
from kafka_bridge.models import ProcessedEvent

pytestmark = pytest.mark.django_db


def test_first_deliveries_returns_the_new_ids_and_records_them_in_one_statement() -> None:
    seen, new = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    assert first_delivery("g", seen)

    with CaptureQueriesContext(connection) as queries:
        fresh = first_deliveries("g", [seen, *new, new[0]])

    assert fresh == set(new)
    assert len(queries.captured_queries) == 1
    assert first_deliveries("g", new) == set()
    assert first_deliveries("other-group", [seen]) == {seen}  # per group
    assert ProcessedEvent.objects.filter(group="g").count() == 4


def test_first_deliveries_of_nothing_asks_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert first_deliveries("g", []) == set()
    assert queries.captured_queries == []
