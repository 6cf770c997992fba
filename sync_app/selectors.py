"""Reads of the sync store: positions, resume checks, replay pages."""

from __future__ import annotations

from django.db import connection

from sync_app.models import SyncRetentionMark, SyncUpdate


def sync_pruned_through() -> int:
    """Every update with a cursor up to this may be gone (0: nothing pruned yet)."""
    return SyncRetentionMark.objects.filter(id=1).values_list("pruned_through", flat=True).first() or 0


def sync_position(*, user_id: int) -> int:
    """Where a client that has the user's current state stands: a cursor to resume from.

    The user's latest update, or the retention mark when that is higher (the user's own updates
    were all pruned, or there are none), so a fresh position is always a valid resume cursor.
    One query, as it runs for every new connection.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT GREATEST(
                COALESCE((SELECT cursor FROM {SyncUpdate._meta.db_table}
                          WHERE user_id = %s ORDER BY cursor DESC LIMIT 1), 0),
                COALESCE((SELECT pruned_through FROM {SyncRetentionMark._meta.db_table} WHERE id = 1), 0))
            """,  # noqa: S608 - table names from the models, values as parameters
            [user_id],
        )
        return cursor.fetchone()[0]


def sync_cursor_is_resumable(*, user_id: int, cursor: int) -> bool:
    """False when `cursor` is older than the retention window or was never this user's position."""
    return sync_pruned_through() <= cursor <= sync_position(user_id=user_id)


def sync_updates_after(
    *, user_id: int, after: int, upto: int | None = None, limit: int = 500
) -> list[SyncUpdate] | None:
    """The user's updates with `after < cursor (<= upto)`, in cursor order, at most `limit`.

    None when the retention job may have removed some of them: the caller must resync. The mark
    is read after the rows, and pruning moves the mark before deleting, so a page read while
    rows were being deleted is always caught.
    """
    rows = SyncUpdate.objects.filter(user_id=user_id, cursor__gt=after)
    if upto is not None:
        rows = rows.filter(cursor__lte=upto)
    page = list(rows.order_by("cursor")[:limit])
    if sync_pruned_through() > after:
        return None
    return page


def sync_resume(*, user_id: int, cursor: int, limit: int = 500) -> list[SyncUpdate] | None:
    """The first replay page after `cursor` (as `sync_updates_after`), or None when the client
    must resync: the cursor is not resumable (as `sync_cursor_is_resumable`), or pruning reached
    it. One statement, as it runs for every resuming handshake: its one snapshot sees the
    retention mark and the rows together, and the mark moves before rows are deleted."""
    with connection.cursor() as db:
        db.execute(
            f"""
            WITH mark AS (
                SELECT COALESCE((SELECT pruned_through FROM {SyncRetentionMark._meta.db_table} WHERE id = 1), 0) AS at
            ), latest AS (
                SELECT COALESCE((SELECT cursor FROM {SyncUpdate._meta.db_table}
                                 WHERE user_id = %(user)s ORDER BY cursor DESC LIMIT 1), 0) AS at
            )
            SELECT mark.at, latest.at, page.cursor, page.event_id, page.type, page.task, page.prev_cursor,
                   page.created_at
            FROM mark CROSS JOIN latest
            LEFT JOIN LATERAL (
                SELECT cursor, event_id, type, task, prev_cursor, created_at FROM {SyncUpdate._meta.db_table}
                WHERE user_id = %(user)s AND cursor > %(after)s ORDER BY cursor LIMIT %(limit)s
            ) page ON true
            ORDER BY page.cursor
            """,  # noqa: S608 - table names from the models, values as parameters
            {"user": user_id, "after": cursor, "limit": limit},
        )
        rows = db.fetchall()
    pruned_through, latest = rows[0][0], rows[0][1]
    if not pruned_through <= cursor <= max(latest, pruned_through):
        return None
    task_field = SyncUpdate._meta.get_field("task")
    return [
        SyncUpdate(
            cursor=row[2],
            user_id=user_id,
            event_id=row[3],
            type=row[4],
            task=task_field.from_db_value(row[5], None, connection),
            prev_cursor=row[6],
            created_at=row[7],
        )
        for row in rows
        if row[2] is not None
    ]
