"""The admin speaks our language: our site name, and every app under a name a reviewer knows."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client

pytestmark = pytest.mark.django_db

OUR_APPS = {
    "tasks_app": "Tasks",
    "recurrence_app": "Recurrence",
    "notifications_app": "Notifications",
    "audit_app": "Audit",
    "sync_app": "Sync",
    "kafka_bridge": "Kafka bridge",
}


def test_every_app_has_our_name() -> None:
    assert {label: apps.get_app_config(label).verbose_name for label in OUR_APPS} == OUR_APPS


def test_admin_index_shows_our_site_and_app_names_not_djangos(make_user: Any) -> None:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))

    text = client.get("/admin/").text

    assert "<title>Tasks, events and the audit trail | Todo backend admin</title>" in text
    assert '<a href="/admin/">Todo backend administration</a>' in text
    assert "Django administration" not in text
    assert "Django site admin" not in text
    for label, name in OUR_APPS.items():
        if any(admin.site.is_registered(model) for model in apps.get_app_config(label).get_models()):
            assert f'title="Models in the {name} application">{name}</a>' in text, name
        assert f">{label}<" not in text.lower()
