"""The relay's claim reads the wide columns of the claimed rows only, whatever plan PostgreSQL
picks: right after a burst of writes (stale statistics) a one-statement claim rendered
`value::text` for every pending row before its top-N sort (bench/README.md, relay)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from kafka_bridge.models import OutboxEvent, OutboxPending
from kafka_bridge.relay import claim

PENDING = 3000
LIMIT = 50


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _pending_rows(count: int) -> None:
    value = {"data": {"task": {"title": "x" * 500}}}
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            event_id=f"00000000-0000-4000-8000-{i:012d}",
            event_type="task.updated",
            topic="task-updates",
            key="k",
            value=value,
            headers={"ce_id": str(i)},
        )
        for i in range(count)
    )


@pytest.mark.django_db
def test_claim_renders_the_event_value_only_for_the_rows_it_returns() -> None:
    # Inside the test's transaction nothing can ANALYZE the new rows: the statistics stay stale.
    _pending_rows(PENDING)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) " + claim.CLAIM_SQL, [0, LIMIT])
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    rendering = [node for node in _nodes(plan) if any("value)::text" in column for column in node.get("Output", []))]
    assert rendering, "no plan node renders the value: the claim no longer reads it?"
    assert all(node["Actual Rows"] * node.get("Actual Loops", 1) <= LIMIT for node in rendering), plan


@pytest.mark.django_db
def test_claim_returns_pending_rows_after_the_position_in_id_order() -> None:
    _pending_rows(10)
    ids = list(OutboxEvent.objects.order_by("id").values_list("id", flat=True))
    OutboxPending.objects.filter(event=ids[3]).delete()  # published

    claimed = claim.claim(ids[1], 4)

    assert [row[0] for row in claimed] == [ids[2], ids[4], ids[5], ids[6]]
    _id, topic, key, value, headers = claimed[0]
    assert (topic, key) == ("task-updates", "k")
    assert json.loads(value) == {"data": {"task": {"title": "x" * 500}}}
    assert headers == {"ce_id": "2"}
