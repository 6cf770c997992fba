"""Prometheus metrics of the WebSocket sync (served by `/metrics` of each ASGI process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

OPEN_CONNECTIONS = Gauge("sync_websocket_connections_open", "Open /ws/sync/ connections in this process")
FRAMES_SENT = Counter("sync_websocket_frames_sent_total", "Frames sent to sync clients", ["type"])
REPLAYED_UPDATES = Counter("sync_replayed_updates_total", "Updates sent from the store (resume or gap fill)")
CONNECTIONS_CLOSED = Counter("sync_websocket_server_closes_total", "Connections closed by the server", ["reason"])
BROADCASTS = Counter("sync_broadcasts_total", "Group sends of stored updates to the channel layer", ["outcome"])
REJECTED_RECORDS = Counter(
    "sync_records_rejected_total", "task-updates records the sync consumer could never store (logged)", ["reason"]
)
HANDSHAKES_REFUSED = Counter(
    "sync_handshakes_refused_total", "Handshakes refused (503) because this process was overloaded", ["reason"]
)
PONG_DEADLINES_DEFERRED = Counter(
    "sync_pong_deadlines_deferred_total", "Pong deadlines moved on because the server itself was late in reading"
)
