"""End to end: REST API → outbox → relay → Kafka `task-updates` → `run_consumer sync` → store and
Redis pub/sub → uvicorn → WebSocket clients (the `websockets` library and headless Chromium).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from sync_app.models import SyncUpdate
from sync_app.tests.e2e import CHROMIUM, Browser, Stack, frames_until, next_frame, no_frame, wait_for_page
from sync_app.tests.helpers import token_for, unsigned_token
from tests.fixtures import subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(django_db_setup: None, django_db_blocker, kafka_topics: None) -> Iterator[Stack]:
    with django_db_blocker.unblock():
        env = subprocess_env()
    running = Stack(env)
    try:
        running.start()
        yield running
    finally:
        running.managed.stop_all()


def test_a_change_through_the_api_reaches_every_connection_of_its_owner_and_no_one_else(stack, user, other_user):
    alice_token, bob_token = token_for(user), token_for(other_user)
    with (
        stack.socket(f"token={alice_token}") as alice_tab,
        stack.socket(subprotocols=[f"bearer.{alice_token}"]) as alice_chatbot,
        stack.socket(f"token={bob_token}") as bob,
    ):
        assert alice_chatbot.subprotocol == f"bearer.{alice_token}"
        for ws in (alice_tab, alice_chatbot, bob):
            assert next_frame(ws)["type"] == "ready"

        created = stack.api("POST", "tasks/", alice_token, {"title": "Water the plants"})
        for ws in (alice_tab, alice_chatbot):
            frame = next_frame(ws)
            assert (frame["type"], frame["task"]["id"], frame["task"]["title"]) == (
                "task.created",
                created["id"],
                "Water the plants",
            )
            assert frame["cursor"].isdigit()

        stack.api("POST", f"tasks/{created['id']}/complete/", alice_token)
        assert [next_frame(ws)["type"] for ws in (alice_tab, alice_chatbot)] == ["task.completed"] * 2

        bobs = stack.api("POST", "tasks/", bob_token, {"title": "Bob's secret"})
        assert next_frame(bob)["task"]["id"] == bobs["id"]  # Bob's first frame: alice's never came
        assert no_frame(alice_tab, 1.0)
        assert no_frame(alice_chatbot, 0.1)


def test_bad_expired_and_unsigned_tokens_and_foreign_origins_are_refused(stack, user):
    assert stack.refused_status("token=not.a.token") == 403
    assert stack.refused_status(f"token={token_for(user)[:-3]}abc") == 403
    assert stack.refused_status(f"token={token_for(user, ttl_seconds=-600)}") == 403
    assert stack.refused_status(f"token={unsigned_token(user)}") == 403
    assert stack.refused_status(subprotocols=[f"bearer.{unsigned_token(user)}"]) == 403
    assert stack.refused_status() == 403  # no credentials at all
    assert stack.refused_status(f"token={token_for(user)}", origin="http://evil.example") == 403
    assert stack.refused_status(f"token={token_for(user)}") is None


def test_a_client_that_missed_50_updates_gets_exactly_those_in_order_then_live_ones(stack, user):
    token = token_for(user)
    with stack.socket(f"token={token}") as ws:
        assert next_frame(ws)["type"] == "ready"
        task = stack.api("POST", "tasks/", token, {"title": "Version 0"})
        created = next_frame(ws)
        assert created["task"]["id"] == task["id"]
        cursor = int(created["cursor"])
    # Offline: 50 changes.
    for version in range(1, 51):
        stack.api("PATCH", f"tasks/{task['id']}/", token, {"title": f"Version {version}"})
    wait_until(lambda: SyncUpdate.objects.filter(user=user, cursor__gt=cursor).count() == 50, timeout=60)
    missed = list(
        SyncUpdate.objects.filter(user=user, cursor__gt=cursor).order_by("cursor").values_list("cursor", flat=True)
    )

    # Reconnect while more changes keep coming: the switch from replay to live loses nothing.
    def keep_changing() -> None:
        for version in range(51, 71):
            stack.api("PATCH", f"tasks/{task['id']}/", token, {"title": f"Version {version}"})

    writer = threading.Thread(target=keep_changing)
    with stack.socket(f"token={token}&cursor={cursor}") as ws:
        writer.start()
        replay = frames_until(ws, "ready")
        assert [frame["cursor"] for frame in replay[:50]] == [str(c) for c in missed]
        assert [frame["task"]["title"] for frame in replay[:50]] == [f"Version {v}" for v in range(1, 51)]
        writer.join()
        received = [frame for frame in replay if frame["type"] == "task.updated"]
        while len(received) < 70:
            frame = next_frame(ws)
            if frame["type"] == "task.updated":
                received.append(frame)
        assert [frame["task"]["title"] for frame in received] == [f"Version {v}" for v in range(1, 71)]
        cursors = [int(frame["cursor"]) for frame in received]
        assert cursors == sorted(set(cursors))
        assert no_frame(ws, 1.0)  # nothing repeated after the live ones


def test_a_connection_whose_token_expires_is_closed_with_4401(stack, user):
    with stack.socket(f"token={token_for(user, ttl_seconds=2)}") as ws:
        assert next_frame(ws)["type"] == "ready"
        assert next_frame(ws, timeout=10)["code"] == "token_expired"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason == "token expired"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)")
def test_the_live_page_shows_changes_without_a_reload_and_catches_up_after_a_drop(
    stack, user, client, api_client, tmp_path: Path
):
    token = token_for(user)
    existing = stack.api("POST", "tasks/", token, {"title": "Existing task"})
    client.force_login(user)
    browser = Browser(stack.managed, tmp_path / "chromium")
    try:
        browser.page(
            "Network.setCookie", name="sessionid", value=client.cookies["sessionid"].value, url=stack.base + "/"
        )
        browser.page("Page.navigate", url=f"{stack.base}/live/")
        wait_for_page(browser, "document.body.dataset.syncStatus === 'live'", message="page live")
        assert browser.evaluate("document.querySelector('#tasks').textContent").count("Existing task") == 1
        browser.evaluate("window.notReloaded = true")

        stack.api("POST", "tasks/", token, {"title": "Buy oat milk"})
        wait_for_page(browser, "document.querySelector('#tasks').textContent.includes('Buy oat milk')")
        stack.api("POST", f"tasks/{existing['id']}/complete/", token)
        wait_for_page(browser, "!document.querySelector('#tasks').textContent.includes('Existing task')")
        assert browser.evaluate("window.notReloaded") is True

        # A drop: the server goes away, a change happens meanwhile, the page resumes from its cursor.
        stack.kill_web()
        wait_for_page(browser, "document.body.dataset.syncStatus === 'reconnecting'", message="page noticed")
        assert api_client.post("/api/v1/tasks/", {"title": "Added while offline"}, format="json").status_code == 201
        stack.start_web()
        wait_for_page(
            browser, "document.querySelector('#tasks').textContent.includes('Added while offline')", timeout=40
        )
        assert browser.evaluate("window.notReloaded") is True
        titles = browser.evaluate("[...document.querySelectorAll('#tasks .title')].map(e => e.textContent)")
        assert sorted(titles) == ["Added while offline", "Buy oat milk"]
    finally:
        browser.close()
