"""The /live/ page (its live behaviour is tested in a real browser in test_end_to_end.py)."""

from __future__ import annotations

import pytest

from sync_app.tests.helpers import store_updates

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/live/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/live/")


def test_the_page_carries_the_users_position_for_the_socket(client, user):
    updates = store_updates(user, 2)
    client.force_login(user)
    response = client.get("/live/")
    assert response.status_code == 200
    assert response.context["config"]["cursor"] == str(updates[-1].cursor)
    assert b'id="sync-config"' in response.content
    assert b"sync_app/live.js" in response.content
