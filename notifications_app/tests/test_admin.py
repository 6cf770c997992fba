"""Staff see every notification in the admin, filter it, and can send dead ones again."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.factories import make_notification

pytestmark = pytest.mark.django_db
URL = "/admin/notifications_app/notification/"


@pytest.fixture
def staff_client(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("staff", is_staff=True, is_superuser=True))
    return client


def test_changelist_shows_every_users_notifications_and_filters_by_status(
    staff_client: Client, user: Any, other_user: Any
) -> None:
    mine, theirs = make_notification(user), make_notification(other_user)
    Notification.objects.filter(id=theirs.id).update(status=NotificationStatus.DEAD)

    everything = staff_client.get(URL)
    dead_only = staff_client.get(URL, {"status__exact": "dead"})

    assert everything.status_code == 200
    assert str(mine.id) in everything.text
    assert str(theirs.id) in everything.text
    assert str(theirs.id) in dead_only.text
    assert str(mine.id) not in dead_only.text
    assert staff_client.get(f"{URL}{mine.id}/change/").status_code == 200


def test_requeue_action_sends_only_dead_notifications_again(
    staff_client: Client, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    dead, sent = make_notification(user), make_notification(user)
    Notification.objects.filter(id=dead.id).update(status=NotificationStatus.DEAD)
    Notification.objects.filter(id=sent.id).update(status=NotificationStatus.SENT)

    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            URL, {"action": "requeue_dead", "_selected_action": [str(dead.id), str(sent.id)]}, follow=True
        )

    assert response.status_code == 200
    assert "1 notification(s) queued to be sent again" in response.text
    assert Notification.objects.get(id=dead.id).status == NotificationStatus.QUEUED
    assert Notification.objects.get(id=sent.id).status == NotificationStatus.SENT
    assert len(callbacks) == 1
