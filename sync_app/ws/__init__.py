"""The `/ws/sync/` WebSocket: its consumer, its replay and its timers (DESIGN.md section 8)."""
