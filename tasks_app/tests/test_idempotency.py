"""Idempotency-Key on POST /api/v1/tasks/: replay, 422 for another body, 409 while in flight, 410 once the
task it created is deleted."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tasks_app.models import IdempotencyKey, Task
from tests.fixtures import bearer_client

URL = "/api/v1/tasks/"
BODY = {"title": "Pay rent", "priority": "high"}


@pytest.mark.django_db
def test_ten_replays_create_one_task_and_return_the_first_response(api_client):
    first = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    for _ in range(10):
        again = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert again["ETag"] == first["ETag"]
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(api_client):
    api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = api_client.post(URL, {**BODY, "title": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_user(api_client, other_client):
    mine = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    theirs = other_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert Task.objects.count() == 2


@pytest.mark.django_db
def test_in_flight_key_is_409_with_retry_after(api_client, user):
    IdempotencyKey.objects.create(
        user=user,
        key="busy",
        scope="task_create",
        request_hash=_fingerprint(BODY),
        expires_at=timezone.now() + timedelta(hours=24),
    )
    response = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "idempotency_request_in_flight"


@pytest.mark.django_db
def test_a_repeat_after_its_task_was_deleted_is_410_and_creates_nothing(api_client):
    first = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-gone")
    assert api_client.delete(f"{URL}{first.json()['id']}/").status_code == 204
    again = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-gone")
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "task_deleted"
    assert first.json()["id"] in again.json()["error"]["message"]
    assert not Task.objects.exists()


@pytest.mark.django_db
def test_failed_request_releases_the_key(api_client):
    bad = api_client.post(URL, {"title": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert bad.status_code == 400
    good = api_client.post(URL, {"title": "ok"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert good.status_code == 201


@pytest.mark.django_db
def test_expired_key_can_be_used_again(api_client, user):
    api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert Task.objects.count() == 2


@pytest.mark.django_db
def test_invalid_key_is_400(api_client):
    response = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]


def _fingerprint(body):
    from tasks_app.idempotency import request_fingerprint

    return request_fingerprint("POST", URL, body)


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_task(user):
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    bodies: list[dict] = []

    def post() -> None:
        try:
            client = bearer_client(user)
            barrier.wait()
            response = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="race")
            statuses.append(response.status_code)
            bodies.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert Task.objects.count() == 1
    assert len(statuses) == 8
    assert set(statuses) <= {201, 409}
    created = [body for status, body in zip(statuses, bodies, strict=True) if status == 201]
    assert created  # the first one, plus any replay after it finished
    assert all(body["id"] == created[0]["id"] for body in created)


@pytest.mark.django_db
def test_key_left_in_flight_by_a_dead_process_is_taken_over(api_client, user):
    row = IdempotencyKey.objects.create(
        user=user,
        key="orphan",
        scope="task_create",
        request_hash=_fingerprint(BODY),
        expires_at=timezone.now() + timedelta(hours=24),
    )
    IdempotencyKey.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    response = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="orphan")
    assert response.status_code == 201
    replay = api_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="orphan")
    assert replay.json()["id"] == response.json()["id"]
    assert Task.objects.count() == 1
