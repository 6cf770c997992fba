"""The query parameters of `GET /api/v1/tasks/` (DESIGN.md section 4), validated strictly:
an unknown value is a 400 with a field message, never silently ignored."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from core.query import comma_list_pattern, matches
from tasks_app.models import PRIORITY_RANK, Priority, Task, TaskStatus
from tasks_app.validation import TAG_MAX_LENGTH, TAGS_MAX

ORDERING_FIELDS = ("due_at", "priority", "created_at", "updated_at", "title")
BOOLEAN_CHOICES = (("true", "true"), ("false", "false"))

# The comma lists' patterns, published in the schema (tasks_app/docs.py) and enforced here.
# Values are lower case as written; tags match case-insensitively. At most as many items as can
# matter: each priority once, each sort key once, the tags a task can have.
PRIORITY_PATTERN = comma_list_pattern(f"({'|'.join(Priority.values)})", max_items=len(Priority.values))
ORDERING_PATTERN = comma_list_pattern(f"-?({'|'.join(ORDERING_FIELDS)})", max_items=len(ORDERING_FIELDS))
# A tag name as stored: no comma, no space at either end, no NUL (PostgreSQL cannot hold it).
_TAG = rf"[^,\s\x00]([^,\x00]{{0,{TAG_MAX_LENGTH - 2}}}[^,\s\x00])?"
TAG_PATTERN = comma_list_pattern(_TAG, max_items=TAGS_MAX)

FILTER_MESSAGES = {
    "status": "status must be one of: open, completed.",
    "priority": "priority must be a comma-separated list of up to 4 of: low, medium, high, urgent.",
    "tag": f"tag must be a comma-separated list of up to {TAGS_MAX} tag names (each at most {TAG_MAX_LENGTH} "
    "characters).",
    "datetime": "Must be an ISO 8601 date-time such as 2026-12-01T09:00:00Z (without an offset: UTC).",
    "boolean": "Must be true or false.",
    "ordering": "ordering must be a comma-separated list of up to 5 of: "
    + ", ".join(ORDERING_FIELDS)
    + " (prefix - for descending).",
    "q": "q must be at most 200 characters, none of them NUL.",
}
PATTERNS = {"priority": PRIORITY_PATTERN, "tag": TAG_PATTERN, "ordering": ORDERING_PATTERN}


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time in UTC: PostgreSQL refuses offsets beyond ±16 h, which ISO allows."""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


def split_list(value: str) -> list[str]:
    return [item.strip().lower() for item in value.split(",") if item.strip()]


class TaskFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=TaskStatus.choices, error_messages={"invalid_choice": FILTER_MESSAGES["status"]}
    )
    # strip=False: the value is checked as sent, as the schema's pattern and maxLength check it.
    priority = django_filters.CharFilter(method="filter_priority", strip=False)
    tag = django_filters.CharFilter(method="filter_tag", strip=False)
    # Keyword search is applied (with its ranking) by the selector, after validation here.
    q = django_filters.CharFilter(method="filter_nothing", max_length=200, strip=False)
    due_before = UtcIsoDateTimeFilter(
        field_name="due_at", lookup_expr="lt", error_messages={"invalid": FILTER_MESSAGES["datetime"]}
    )
    due_after = UtcIsoDateTimeFilter(
        field_name="due_at", lookup_expr="gte", error_messages={"invalid": FILTER_MESSAGES["datetime"]}
    )
    overdue = django_filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES, method="filter_overdue", error_messages={"invalid_choice": FILTER_MESSAGES["boolean"]}
    )
    recurring = django_filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES,
        method="filter_recurring",
        error_messages={"invalid_choice": FILTER_MESSAGES["boolean"]},
    )
    ordering = django_filters.CharFilter(method="filter_nothing", strip=False)

    class Meta:
        model = Task
        fields: list[str] = []

    def is_valid(self) -> bool:
        valid = super().is_valid()
        # django-filter ignores an empty value; the schema allows none (but for `q`, any text).
        for name in self.filters:
            if name != "q" and self.data.get(name) == "":
                self.form.add_error(name, "This field may not be blank.")
        data = self.form.cleaned_data if valid else {}
        if valid:
            for name, pattern in PATTERNS.items():
                if data.get(name) and not matches(pattern, data[name]):
                    self.form.add_error(name, FILTER_MESSAGES[name])
        if self.form.errors.get("q"):
            self.form.errors["q"] = self.form.error_class([FILTER_MESSAGES["q"]])
        return not self.form.errors

    def filter_nothing(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return queryset

    def filter_priority(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        # On the rank, so the (owner, priority_rank, …) index serves filter and ordering alike.
        return queryset.filter(priority_rank__in=[PRIORITY_RANK[Priority(name)] for name in split_list(value)])

    def filter_tag(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        through = Task.tags.through
        for tag in split_list(value):  # every tag must match
            queryset = queryset.filter(Exists(through.objects.filter(task_id=OuterRef("pk"), tag__name=tag)))
        return queryset

    def filter_overdue(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        overdue = Q(status=TaskStatus.OPEN, due_at__lt=timezone.now())
        return queryset.filter(overdue) if value == "true" else queryset.exclude(overdue)

    def filter_recurring(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        recurring = ~Q(recurrence_rule="")
        return queryset.filter(recurring) if value == "true" else queryset.exclude(recurring)
