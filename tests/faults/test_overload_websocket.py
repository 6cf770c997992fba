"""A reconnect storm against one uvicorn process: overload costs new handshakes, never the
sockets already open.

SOCKETS are live (answering every ping) when STORM of them reconnect at once with their cursors,
as every browser does after a web restart or a 1011 close, with the /live/ page's backoff
(`bench.storm`), while the others stay open.
Meanwhile task updates flow to every user through Kafka and the real `sync` consumer. The
keepalive is tightened (ping every 2 s, 3 s to answer) so that a server that falls behind in
reading for a few seconds would close answered sockets with 4408.

Checked: no live socket is closed by the server; every handshake is answered (accepted, or
refused with 503 and Retry-After) and none is left to time out; an accepted one goes live; every socket is live again
within 20 s of the storm's start; every update reaches its owner (live, or replayed on resume)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from bench.events import record_headers, task_updated
from bench.stats import percentile
from bench.storm import Storm, wait_for
from core.auth.tokens import issue_token
from kafka_bridge.producer import producer_config
from sync_app.tests.e2e import Stack
from tests.fixtures import subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOCKETS = 700
STORM = 500
UPDATES_PER_SECOND = 50
UPDATE_SECONDS = 10.0
# From the storm's start. Handshakes that wait in line instead of being refused and backing off
# bring all 500 back within the 10 s of updates; refused and retried, they took ~36 s.
BACK_WITHIN_SECONDS = 20.0
# A refusal is answered at once; 500 handshakes arriving together queue behind one another (on
# both ends, on a shared 2-core machine) for up to ~2.3 s. Far inside the clients' 60 s timeout.
REFUSAL_ANSWER_SECONDS = 5.0
SERVER_ENV = {"SYNC_PING_SECONDS": "2", "SYNC_PONG_TIMEOUT_SECONDS": "3"}


@pytest.fixture
def stack(kafka_topics: None) -> Iterator[Stack]:
    running = Stack(subprocess_env(**SERVER_ENV))
    try:
        running.start()
        yield running
    finally:
        running.managed.stop_all()


def publish(users: list, rate: float, seconds: float) -> dict[int, set[str]]:
    """task.updated events straight onto `task-updates` (what the relay publishes), spread over
    `users`; returns the event ids published per user."""
    producer = Producer(producer_config())
    producer.list_topics("task-updates", timeout=10)
    published: dict[int, set[str]] = {}
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        user = random.choice(users)
        event = task_updated(user_id=user.pk, title=f"storm {i}")
        producer.produce(
            "task-updates", key=event.subject.encode(), value=event.to_json(), headers=record_headers(event)
        )
        producer.poll(0)
        published.setdefault(user.pk, set()).add(str(event.id))
    assert producer.flush(30) == 0
    return published


def test_a_reconnect_storm_costs_new_handshakes_never_open_sockets_nor_updates(stack, make_user, figures):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    User.objects.bulk_create(User(username=f"storm-{n}", password="!") for n in range(SOCKETS))
    users = list(User.objects.filter(username__startswith="storm-").order_by("id"))
    pairs = [(user.pk, issue_token(subject=user.username)) for user in users]
    storm = Storm(f"ws://127.0.0.1:{stack.port}/ws/sync/")
    storm.start()
    try:
        socks = storm.open(pairs, spread_seconds=SOCKETS / 50)
        assert wait_for(lambda: storm.live_count() == SOCKETS, 120) is not None
        time.sleep(3.0)  # a round of pings answered, before the storm

        storm_started = time.monotonic()
        storm.reconnect(socks[:STORM], spread_seconds=0.0)
        published = publish(users, UPDATES_PER_SECOND, UPDATE_SECONDS)
        back = wait_for(lambda: storm.live_count() == len(pairs), BACK_WITHIN_SECONDS)
        back = None if back is None else time.monotonic() - storm_started
        expected = sum(len(ids) for ids in published.values())

        def delivered() -> int:
            by_user = {sock.user_id: sock.received for sock in storm.socks}
            return sum(len(ids & by_user[user_id]) for user_id, ids in published.items())

        wait_for(lambda: delivered() == expected, 30)
    finally:
        storm.stop()
    result = storm.figures
    figures.record(
        sockets=SOCKETS,
        storm=STORM,
        back_seconds=back,
        handshakes_accepted=len(result.answered_s),
        accepted_p99_s=percentile(result.answered_s, 99),
        refused_503=len(result.refused_s),
        refused_max_s=max(result.refused_s, default=0.0),
        timed_out=result.timed_out,
        errors=dict(result.errors),
        live_sockets_closed=dict(result.closed_live),
        accepted_then_closed=dict(result.closed_opening),
        pongs=result.pongs,
        updates=expected,
        delivered=delivered(),
    )
    assert not result.closed_live, f"live sockets closed by the server: {dict(result.closed_live)}"
    # What the server accepts it serves: an admitted handshake is not dropped before `ready`.
    assert not result.closed_opening, f"accepted sockets closed before ready: {dict(result.closed_opening)}"
    assert result.timed_out == 0, f"{result.timed_out} handshakes left to time out"
    assert not result.errors, dict(result.errors)
    assert max(result.refused_s, default=0.0) <= REFUSAL_ANSWER_SECONDS
    assert back is not None, f"only {storm.live_count()} of {len(pairs)} sockets live after {BACK_WITHIN_SECONDS} s"
    assert back <= BACK_WITHIN_SECONDS, f"all sockets back only {back:.1f} s after the storm began"
    assert delivered() == expected, f"{expected - delivered()} of {expected} updates never reached their owner"
