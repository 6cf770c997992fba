"""The uvicorn options for WebSockets of every server we start. docker/entrypoint/web repeats them
in bash; scripts/dev.py, the bench and the tests that run a real server use these, so what is
tested is what runs.

- `websockets-sansio`: no keepalive task and stream reader per socket. At 10,000 sockets on two
  cores, the classic `websockets` implementation's keepalive pings alone put the delivery p50 of
  500 updates/s at 2.7 s; sansio and the sync consumer's own ping: 0.24 s, and 29 instead of
  40 KB per socket (bench/README.md, fourth round). It sends no WebSocket pings: the sync
  consumer's ping, with its pong deadline (SYNC_PONG_TIMEOUT_SECONDS), is the keepalive.
- No per-message deflate: about 150 KB instead of 53 KB per idle socket (measured).
"""

WEBSOCKET_ARGS = ("--ws", "websockets-sansio", "--ws-per-message-deflate", "false")
