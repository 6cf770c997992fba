"""The store behind lossless resume (DESIGN.md section 8).

Every task update for a user is kept as a `SyncUpdate` whose `cursor` (an identity column, so it
only grows) is what clients send back in `?cursor=`. Updates of one user are written one at a
time (a per-user advisory lock in `services.sync_update_record`), so within a user cursor order
is commit order and `prev_cursor` names the user's previous update: a live consumer that sees
`prev_cursor` above what it has sent knows it missed something and reads it from here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SyncUpdate(models.Model):
    cursor = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The CloudEvent id: storing an event twice is impossible, whatever Kafka redelivers.
    event_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=40)
    task = models.JSONField()
    # The user's previous cursor at write time (None: no retained earlier update).
    prev_cursor = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "cursor"], name="sync_update_user_cursor")]

    def __str__(self) -> str:
        return f"{self.type} #{self.cursor} for user {self.user_id}"


class SyncRetentionMark(models.Model):
    """One row: every update with a cursor up to `pruned_through` may have been deleted.

    A client cursor below it is older than the retention window: the client must resync.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    pruned_through = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"pruned through #{self.pruned_through}"
