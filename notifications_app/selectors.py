"""Reads of notification records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from notifications_app.models import Notification, NotificationStatus


class StatusInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """`status=sent,delivered`: any of a comma list, each checked against the choices."""


class NotificationFilter(django_filters.FilterSet):
    status = StatusInFilter(
        field_name="status",
        lookup_expr="in",
        choices=NotificationStatus.choices,
        help_text="Only records in these statuses (comma list), e.g. `dead` or `sent,delivered`.",
    )
    task = django_filters.UUIDFilter(field_name="task_id", help_text="Only records of this task id.")

    class Meta:
        model = Notification
        fields = ("status", "task")


def notification_list(*, user: Any) -> QuerySet[Notification]:
    """The user's notification records, newest first (filtered by the API's FilterSet)."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def user_emails(*, user_ids: Iterable[int]) -> dict[int, str]:
    """{user id: e-mail address ("" for none)} of those of `user_ids` that exist."""
    users = get_user_model().objects.filter(pk__in=set(user_ids))
    return {pk: email or "" for pk, email in users.values_list("pk", "email")}
