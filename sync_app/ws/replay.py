"""Resume from the client's cursor and switch to live updates losslessly (DESIGN.md section 8).

Per connection:

1. join the user's group, then send a barrier message with a fresh nonce to that group (once
   more if it is slow to come back: the pub/sub layer does not wait for Redis to confirm a
   subscription, so a group send right after joining can miss us);
2. until our own barrier comes back, updates from the group are buffered (once it is back, the
   Redis subscription is live, so anything committed after the next read reaches us);
3. replay from the store everything after the client's cursor, in cursor order;
4. flush the buffer, skipping cursors already sent, and go live.

Live, an update whose `prev_cursor` is above the last cursor sent means one was missed (two
writers published out of order, or a send failed): the gap is read from the store first. So the
client sees each of its updates once, in cursor order, with no gap.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sync_app import admission, db_reads, protocol
from sync_app.groups import user_group
from sync_app.metrics import REPLAYED_UPDATES
from sync_app.models import SyncUpdate
from sync_app.selectors import sync_position, sync_resume, sync_updates_after

logger = logging.getLogger(__name__)

REPLAY_PAGE = 500
BARRIER_TIMEOUT_SECONDS = 10.0


class Replay:
    """The replay half of `SyncConsumer`: the barrier, the replay from `resume_from`, the buffer
    and live delivery with gap fill (`send_frame`, `close_with`, `schedule` and the channel
    layer are the consumer's)."""

    user_id: int
    channel_layer: Any
    send_frame: Callable[[dict[str, Any]], Awaitable[None]]
    close_with: Callable[[int, str], Awaitable[None]]
    schedule: Callable[[str, float], None]

    def reset_replay(self) -> None:
        self.resume_from: int | None = None  # the client's `?cursor=`
        self.live = False
        self.buffer: list[dict[str, Any]] | None = []  # updates that arrive before the barrier
        self.last_sent = 0
        self.barrier_sends = 0
        self.nonce = ""

    # --- the barrier ----------------------------------------------------------------------------

    async def start_replay(self) -> None:
        """Joined the group: send our barrier; the replay runs when it comes back."""
        self.nonce = uuid.uuid4().hex
        await self.send_barrier()

    async def send_barrier(self) -> None:
        """Send our barrier. If it has not come back after half of BARRIER_TIMEOUT_SECONDS, it is
        sent once more: lost when sent before the subscription was live, it then arrives; only
        slow, a second one costs a loaded layer little (more would feed the overload)."""
        self.barrier_sends += 1
        self.schedule("barrier_at", BARRIER_TIMEOUT_SECONDS / 2)
        await self.channel_layer.group_send(
            user_group(self.user_id), {"type": protocol.LAYER_BARRIER, "nonce": self.nonce}
        )

    async def barrier_missing(self) -> None:
        if self.barrier_sends == 1:
            await self.send_barrier()
            return
        # Our own group message never came back: the channel layer is not delivering.
        logger.error("sync barrier for user %s not received; closing", self.user_id)
        await self.close_with(protocol.CLOSE_UNAVAILABLE, "sync unavailable")

    # --- channel-layer messages -----------------------------------------------------------------

    async def sync_barrier(self, message: dict[str, Any]) -> None:
        """Our subscription is live: replay from the store, flush the buffer, go live."""
        if self.live or message.get("nonce") != self.nonce:
            return  # another connection of the same user is starting
        self.barrier_at = None  # its timer may still fire; it finds nothing due
        replayed = await self.replay()
        self.live = True
        buffered, self.buffer = self.buffer or [], None
        for update in buffered:
            await self.deliver(update)
        await self.send_frame({"type": "ready", "cursor": str(self.last_sent), "replayed": replayed})
        admission.settle()  # live: no longer an opening handshake

    async def sync_update(self, message: dict[str, Any]) -> None:
        if not self.live:
            self.buffer.append(message)  # a list until live
            return
        await self.deliver(message)

    # --- replay and delivery --------------------------------------------------------------------

    async def replay(self) -> int:
        """Send what the client missed since `?cursor=`; returns how many updates were sent."""
        if self.resume_from is None:
            self.last_sent = await db_reads.read(sync_position, user_id=self.user_id)
            return 0
        page = await db_reads.read(sync_resume, user_id=self.user_id, cursor=self.resume_from, limit=REPLAY_PAGE)
        if page is None:  # not resumable, or pruned while we read
            await self.resync()
            return 0
        self.last_sent = self.resume_from
        sent = 0
        while True:
            for row in page:
                await self.send_stored(row)
            sent += len(page)
            if len(page) < REPLAY_PAGE:
                return sent
            page = await db_reads.read(
                sync_updates_after, user_id=self.user_id, after=self.last_sent, limit=REPLAY_PAGE
            )
            if page is None:  # pruned while we read
                await self.resync()
                return sent

    async def deliver(self, message: dict[str, Any]) -> None:
        cursor = message["cursor"]
        if cursor <= self.last_sent:
            return  # already sent (replayed, or a redelivery)
        if (message.get("prev_cursor") or 0) > self.last_sent:
            await self.fill_gap(upto=cursor)
            return
        await self.send_update(
            cursor=cursor, event_id=message["event_id"], event_type=message["event_type"], task=message["task"]
        )

    async def fill_gap(self, *, upto: int) -> None:
        while self.last_sent < upto:
            page = await db_reads.read(
                sync_updates_after, user_id=self.user_id, after=self.last_sent, upto=upto, limit=REPLAY_PAGE
            )
            if page is None:
                await self.resync()
                return
            if not page:  # `upto` is committed before it is sent, so this means it was pruned
                return
            for row in page:
                await self.send_stored(row)

    async def resync(self) -> None:
        self.last_sent = await db_reads.read(sync_position, user_id=self.user_id)
        await self.send_frame({"type": "resync_required", "cursor": str(self.last_sent)})

    async def send_stored(self, row: SyncUpdate) -> None:
        REPLAYED_UPDATES.inc()
        await self.send_update(cursor=row.cursor, event_id=str(row.event_id), event_type=row.type, task=row.task)

    async def send_update(self, *, cursor: int, event_id: str, event_type: str, task: dict[str, Any]) -> None:
        self.last_sent = cursor
        await self.send_frame(protocol.update_frame(cursor=cursor, event_id=event_id, event_type=event_type, task=task))
