"""Keyword search and listing stay fast for a user with 100,000 tasks (GIN index on the search
vector, per-owner indexes for every ordering)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from tasks_app.selectors import task_list
from tasks_app.services import task_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


@pytest.fixture
def crowded_user(user, other_user):
    with connection.cursor() as cursor:
        # 100k tasks for `user` (and 20k for someone else), titles and descriptions from a word pool.
        for owner, rows in ((user, 100_000), (other_user, 20_000)):
            cursor.execute(
                """
                INSERT INTO tasks_app_task (id, owner_id, title, description, status, priority, priority_rank,
                    timezone, recurrence_rule, recurrence_mode, version, created_at, updated_at, due_at)
                SELECT gen_random_uuid(), %s,
                       'task ' || (%s::text[])[1 + i %% 10] || ' ' || i,
                       'note ' || (%s::text[])[1 + (i / 10) %% 10] || ' item ' || i,
                       'open', 'medium', 1, 'UTC', '', 'schedule', 1,
                       now() - make_interval(secs => i), now(), now() + make_interval(hours => i %% 1000)
                FROM generate_series(1, %s) AS i
                """,
                [owner.id, WORDS, WORDS, rows],
            )
        cursor.execute("ANALYZE tasks_app_task")
    task_create(owner=user, title="Quarterly zebra report", description="")
    task_create(owner=user, title="Other", description="about the zebra crossing")
    return user


def timed(user, filters, page=50):
    started = time.perf_counter()
    queryset = task_list(user=user, filters=filters)
    count = queryset.count()
    rows = list(queryset[:page])
    return count, rows, time.perf_counter() - started


def test_search_and_listing_stay_fast_with_100k_tasks(crowded_user):
    # A rare word: found through the (owner, search_vector) GIN index, title match first.
    count, rows, elapsed = timed(crowded_user, {"q": "zeb"})
    assert count == 2
    assert [task.title for task in rows] == ["Quarterly zebra report", "Other"]
    assert elapsed < 0.5, elapsed
    plan = task_list(user=crowded_user, filters={"q": "zeb"}).explain()
    assert "task_owner_search_gin" in plan, plan

    # Common words matching hundreds of rows: still ranked quickly.
    count, rows, elapsed = timed(crowded_user, {"q": "golf 77"})
    assert count > 100
    assert all("golf" in task.title or "golf" in task.description for task in rows)
    assert elapsed < 1.5, elapsed

    # Every ordering over all 100k rows (count + first page).
    for ordering in ("due_at", "-priority", "title", "-updated_at", "-created_at"):
        count, rows, elapsed = timed(crowded_user, {"ordering": ordering, "status": "open"})
        assert count == 100_002
        assert len(rows) == 50
        assert elapsed < 1.0, (ordering, elapsed)
