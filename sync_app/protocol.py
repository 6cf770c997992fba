"""The wire protocol of `/ws/sync/` (DESIGN.md section 8): frames the server sends, frames it
accepts, and the channel-layer messages that carry updates between processes.

Server → client (JSON text frames):
    {"type": "task.created|task.updated|task.completed|task.reopened|task.deleted",
     "event_id": "<uuid>", "cursor": "<int as string>", "task": {...REST representation...}}
    {"type": "ready", "cursor": "<position>", "replayed": <n>}   replay done, live from here
    {"type": "resync_required", "cursor": "<position>"}   the cursor is outside the retention
        window (or unknown): reload the state, then keep following live updates from `cursor`
    {"type": "ping"}                    every SYNC_PING_SECONDS; answer {"type": "pong"}
    {"type": "pong"}                    the answer to a client ping
    {"type": "error", "code": "...", "message": "..."}
Client → server: {"type": "ping"} or {"type": "pong"}; anything else gets an error frame.
Close codes: 4400 bad request (invalid cursor), 4401 token expired, 4408 no pong (no client frame
within SYNC_PONG_TIMEOUT_SECONDS of a ping), 4429 flooding, 1011 sync unavailable.
"""

from __future__ import annotations

import json
from typing import Any

UPDATE_TYPES = ("task.created", "task.updated", "task.completed", "task.reopened", "task.deleted")
CLIENT_TYPES = frozenset({"ping", "pong"})
MAX_CLIENT_FRAME = 4096

CLOSE_BAD_REQUEST = 4400
CLOSE_TOKEN_EXPIRED = 4401
CLOSE_NO_PONG = 4408
CLOSE_FLOODING = 4429
CLOSE_UNAVAILABLE = 1011

# Channel-layer message types (dispatched to SyncConsumer.sync_update / sync_barrier).
LAYER_UPDATE = "sync.update"
LAYER_BARRIER = "sync.barrier"
# Sent by a process's layer watch to its own channel, never to a socket (layer_watch.py).
LAYER_HEARTBEAT = "sync.heartbeat"


class ProtocolError(Exception):
    """A client frame or handshake parameter is not acceptable; sent back as an error frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_frame(text_data: str | None, bytes_data: bytes | None) -> str:
    """The type of a valid client frame, or `ProtocolError` saying what is wrong with it."""
    if text_data is None:
        raise ProtocolError("invalid_frame", "Only JSON text frames are accepted.")
    if len(text_data) > MAX_CLIENT_FRAME:
        raise ProtocolError("frame_too_large", f"Frames are limited to {MAX_CLIENT_FRAME} characters.")
    try:
        document = json.loads(text_data)
    except (json.JSONDecodeError, RecursionError) as exc:  # "[[[[…" nested past Python's recursion limit
        raise ProtocolError("invalid_json", "The frame is not valid JSON.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        raise ProtocolError("invalid_message", 'A message is a JSON object with a string "type".')
    if document["type"] not in CLIENT_TYPES:
        raise ProtocolError("unknown_type", f"Unknown message type; accepted: {', '.join(sorted(CLIENT_TYPES))}.")
    return document["type"]


def parse_cursor(raw: str | None) -> int | None:
    """The `?cursor=` query value: None when absent, else a non-negative integer."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ProtocolError("invalid_cursor", "cursor must be the decimal cursor of an update received earlier.")
    return int(raw)


def layer_update_message(
    *, cursor: int, prev_cursor: int | None, event_id: str, event_type: str, task: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": LAYER_UPDATE,
        "cursor": cursor,
        "prev_cursor": prev_cursor,
        "event_id": event_id,
        "event_type": event_type,
        "task": task,
    }


def update_frame(*, cursor: int, event_id: str, event_type: str, task: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "event_id": event_id, "cursor": str(cursor), "task": task}


def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
