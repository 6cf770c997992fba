"""Pure logic of the sync protocol: client frames, cursors, tokens in the handshake, throttling."""

from __future__ import annotations

import pytest

from sync_app.auth import token_from_scope
from sync_app.protocol import ProtocolError, parse_client_frame, parse_cursor
from sync_app.throttle import TokenBucket


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nope", "invalid_json"),
        ("[1]", "invalid_message"),
        ('{"type": 3}', "invalid_message"),
        ('{"type": "subscribe"}', "unknown_type"),
        ('{"type": "ping", "x": "' + "y" * 5000 + '"}', "frame_too_large"),
    ],
)
def test_bad_client_frames_say_what_is_wrong(text, code):
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(text, None)
    assert caught.value.code == code


def test_binary_frames_are_refused_and_pings_accepted():
    with pytest.raises(ProtocolError):
        parse_client_frame(None, b"{}")
    assert parse_client_frame('{"type": "ping"}', None) == "ping"


@pytest.mark.parametrize("raw", ["-1", "1.5", "abc", "١٢", "9" * 20])
def test_cursors_are_non_negative_decimal_integers(raw):
    with pytest.raises(ProtocolError):
        parse_cursor(raw)


def test_a_missing_cursor_means_no_resume():
    assert parse_cursor(None) is None
    assert parse_cursor("") is None
    assert parse_cursor("42") == 42


def test_the_token_comes_from_the_bearer_subprotocol_first_then_the_query():
    scope = {"subprotocols": ["chat", "bearer.a.b.c"], "query_string": b"token=q.r.s"}
    assert token_from_scope(scope) == ("a.b.c", "bearer.a.b.c")
    assert token_from_scope({"subprotocols": [], "query_string": b"cursor=1&token=q.r.s"}) == ("q.r.s", None)
    assert token_from_scope({"query_string": b"cursor=1"}) == (None, None)


def test_the_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, capacity=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] = 100  # refills up to the capacity, no more
    assert sum(bucket.take() for _ in range(10)) == 3
