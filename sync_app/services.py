"""Writes of the sync store: recording task updates (and broadcasting them), retention."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from sync_app.broadcast import broadcast_update
from sync_app.models import SyncRetentionMark, SyncUpdate
from sync_app.protocol import UPDATE_TYPES

logger = logging.getLogger(__name__)

# First key of the two-int advisory lock: "SYNC" in ASCII; the second is the user id.
_LOCK_NAMESPACE = 0x53594E43
PRUNE_BATCH = 5000


@transaction.atomic
def sync_update_record(
    *, event_id: str | uuid.UUID, event_type: str, user_id: int, task: dict[str, Any]
) -> SyncUpdate | None:
    """Store one task update for `user_id` and, once the transaction commits, send it to the
    user's channel-layer group.

    Idempotent on `event_id`: a second call returns the stored update and sends nothing. Updates
    of one user are written one at a time (an advisory lock held until commit), so per user the
    cursor order is the commit order and `prev_cursor` is exact. Returns None (nothing stored)
    when the user no longer exists.
    """
    if event_type not in UPDATE_TYPES:
        raise ValueError(f"not a task update type: {event_type!r}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, int(user_id)])
    existing = SyncUpdate.objects.filter(event_id=event_id).first()
    if existing is not None:
        return existing
    if not get_user_model().objects.filter(pk=user_id).exists():
        logger.info("sync update %s skipped: user %s does not exist", event_id, user_id)
        return None
    prev_cursor = (
        SyncUpdate.objects.filter(user_id=user_id).order_by("-cursor").values_list("cursor", flat=True).first()
    )
    update = SyncUpdate.objects.create(
        user_id=user_id, event_id=event_id, type=event_type, task=task, prev_cursor=prev_cursor
    )
    transaction.on_commit(lambda: broadcast_update(update))
    return update


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
