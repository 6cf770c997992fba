"""Writes of the sync store: recording task updates (and broadcasting them), retention."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from sync_app.broadcast import broadcast_updates
from sync_app.models import SyncRetentionMark, SyncUpdate
from sync_app.protocol import UPDATE_TYPES

logger = logging.getLogger(__name__)

# First key of the two-int advisory lock: "SYNC" in ASCII; the second is the user id (`_lock_key`).
_LOCK_NAMESPACE = 0x53594E43
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class PendingUpdate:
    """A task update to store: the event's id and type, the owner's user id, the task."""

    event_id: uuid.UUID
    event_type: str
    user_id: int
    task: dict[str, Any]


@transaction.atomic
def sync_updates_record(*, updates: Sequence[PendingUpdate]) -> list[SyncUpdate]:
    """Store a batch of task updates and, once the transaction commits, send each to its user's
    channel-layer group. Returns the updates stored now, in cursor order.

    A fixed number of statements whatever the batch size: the batch's users are locked in
    ascending id order (a per-user advisory lock held until commit, so concurrent batches never
    deadlock), then the already stored event ids, the users that exist and each user's latest
    cursor are read, cursors are drawn from the column's sequence while the locks are held, and
    every row goes in with one multi-row INSERT. So, per user, cursor order is commit order and
    each row's `prev_cursor` is exact, within the batch as across batches.

    Idempotent on `event_id`: an update already stored (or repeated within the batch) is not
    stored or sent again. Updates of users that no longer exist are skipped.
    """
    for update in updates:
        if update.event_type not in UPDATE_TYPES:
            raise ValueError(f"not a task update type: {update.event_type!r}")
    unique: dict[uuid.UUID, PendingUpdate] = {}
    for update in updates:
        unique.setdefault(uuid.UUID(str(update.event_id)), update)
    if not unique:
        return []
    table = SyncUpdate._meta.db_table
    users = sorted({update.user_id for update in unique.values()})
    with connection.cursor() as cursor:
        # unnest yields the sorted array in order: every writer takes its locks in ascending key
        # order, so two batches never deadlock.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::int4[]) AS k",
            [_LOCK_NAMESPACE, sorted({_lock_key(user_id) for user_id in users})],
        )
        cursor.execute(
            f"SELECT event_id FROM {table} WHERE event_id = ANY(%s::uuid[])",  # noqa: S608 - model table
            [list(unique)],
        )
        for (stored,) in cursor.fetchall():
            unique.pop(stored, None)
        users_table = get_user_model()._meta.db_table
        cursor.execute(  # the latest cursor of each user that exists
            f"SELECT u.id, (SELECT s.cursor FROM {table} s WHERE s.user_id = u.id ORDER BY s.cursor DESC LIMIT 1) "  # noqa: S608 - model tables
            f"FROM {users_table} u WHERE u.id = ANY(%s::bigint[])",
            [users],
        )
        latest: dict[int, int | None] = dict(cursor.fetchall())
        pending = [update for update in unique.values() if update.user_id in latest]
        for update in unique.values():
            if update.user_id not in latest:
                logger.info("sync update %s skipped: user %s does not exist", update.event_id, update.user_id)
        if not pending:
            return []
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'cursor')) FROM generate_series(1, %s)", [table, len(pending)]
        )
        # One session's nextval calls only grow, and every other writer of these users waits on
        # their locks: the cursors drawn here are above every cursor those users have.
        cursors = sorted(value for (value,) in cursor.fetchall())
        now = timezone.now()
        rows = []
        for update, number in zip(pending, cursors, strict=True):
            rows.append(
                SyncUpdate(
                    cursor=number,
                    user_id=update.user_id,
                    event_id=uuid.UUID(str(update.event_id)),
                    type=update.event_type,
                    task=update.task,
                    prev_cursor=latest[update.user_id],
                    created_at=now,
                )
            )
            latest[update.user_id] = number
        stored = _insert(rows)
    if len(stored) < len(rows):
        stored = _relink(stored, rows)
    transaction.on_commit(lambda: broadcast_updates(stored))
    return stored


def _lock_key(user_id: int) -> int:
    """The second key of a user's advisory lock (an int4): the user id itself below 2**31."""
    return user_id & 0x7FFFFFFF


def _insert(rows: list[SyncUpdate]) -> list[SyncUpdate]:
    """One INSERT of every row; the ones whose event id was stored meanwhile are left out."""
    placeholders = ", ".join(["(%s, %s, %s, %s, %s::jsonb, %s, %s)"] * len(rows))
    params: list[Any] = []
    for row in rows:
        task = json.dumps(row.task)
        params += [row.cursor, row.user_id, row.event_id, row.type, task, row.prev_cursor, row.created_at]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SyncUpdate._meta.db_table} "  # noqa: S608 - model table, values as parameters
            "(cursor, user_id, event_id, type, task, prev_cursor, created_at) "
            f"VALUES {placeholders} ON CONFLICT (event_id) DO NOTHING RETURNING cursor",
            params,
        )
        inserted = {number for (number,) in cursor.fetchall()}
    return [row for row in rows if row.cursor in inserted]


def _relink(stored: list[SyncUpdate], rows: list[SyncUpdate]) -> list[SyncUpdate]:
    """Repair the `prev_cursor` chain after rows were left out by the unique event id.

    Only when an event id this batch did not see as stored was inserted concurrently (then by
    a writer holding another user's lock: the same id under another user), so rarely. A row
    whose predecessor in the batch was left out must name the one before it instead.
    """
    kept = {row.cursor for row in stored}
    replaced: dict[int, int | None] = {}
    for row in rows:
        if row.cursor not in kept:
            replaced[row.cursor] = replaced.get(row.prev_cursor, row.prev_cursor)
    for row in stored:
        if row.prev_cursor in replaced:
            row.prev_cursor = replaced[row.prev_cursor]
            SyncUpdate.objects.filter(cursor=row.cursor).update(prev_cursor=row.prev_cursor)
    return stored


def sync_update_record(
    *, event_id: str | uuid.UUID, event_type: str, user_id: int, task: dict[str, Any]
) -> SyncUpdate | None:
    """Store one task update for `user_id` (`sync_updates_record` with one update) and, once the
    transaction commits, send it to the user's channel-layer group.

    Idempotent on `event_id`: a second call returns the stored update and sends nothing. Returns
    None (nothing stored) when the user no longer exists.
    """
    update = PendingUpdate(event_id=uuid.UUID(str(event_id)), event_type=event_type, user_id=int(user_id), task=task)
    with transaction.atomic():
        stored = sync_updates_record(updates=[update])
        if stored:
            return stored[0]
        return SyncUpdate.objects.filter(event_id=update.event_id).first()


def sync_updates_prune(*, older_than: datetime) -> int:
    """Delete updates created before `older_than`; returns how many were deleted.

    The retention mark moves first (its own transaction), then rows go in batches, so a reader
    that finds rows missing always also finds the mark that tells its client to resync.
    """
    with transaction.atomic():
        mark, _ = SyncRetentionMark.objects.select_for_update().get_or_create(id=1)
        cutoff = SyncUpdate.objects.filter(created_at__lt=older_than).aggregate(cutoff=Max("cursor"))["cutoff"]
        if cutoff is not None and cutoff > mark.pruned_through:
            mark.pruned_through = cutoff
            mark.pruned_at = timezone.now()
            mark.save(update_fields=["pruned_through", "pruned_at"])
        through = mark.pruned_through
    # Also finishes the deletes of an earlier run that was interrupted after moving the mark.
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(
                SyncUpdate.objects.filter(cursor__lte=through)
                .order_by("cursor")
                .values_list("cursor", flat=True)[:PRUNE_BATCH]
            )
            if not batch:
                return deleted
            deleted += SyncUpdate.objects.filter(cursor__in=batch).delete()[0]
