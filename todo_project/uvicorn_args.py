"""The uvicorn options for WebSockets of every server we start. docker/entrypoint/web repeats them
in bash; scripts/dev.py, the bench and the tests that run a real server use these, so what is
tested is what runs.

- `websockets-sansio`: no keepalive task and stream reader per socket, as the classic
  `websockets` implementation keeps (its pings alone slow every delivery at thousands of
  sockets). It sends no WebSocket pings: the sync consumer's ping, with its pong deadline
  (SYNC_PONG_TIMEOUT_SECONDS), is the keepalive.
- No per-message deflate: its compression state would make each idle socket about three times
  larger.
"""

WEBSOCKET_ARGS = ("--ws", "websockets-sansio", "--ws-per-message-deflate", "false")
