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
    must resync: the cursor is not resumable, or pruning reached it. One call, so that a
    resuming handshake costs one trip to a database thread, not two."""
    if not sync_cursor_is_resumable(user_id=user_id, cursor=cursor):
        return None
    return sync_updates_after(user_id=user_id, after=cursor, limit=limit)
