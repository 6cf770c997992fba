"""Routes of the recurrence API under /api/v1/."""

from django.urls import path

from recurrence_app import api

urlpatterns = [
    path("recurrence/preview/", api.RecurrencePreviewApi.as_view(), name="recurrence-preview"),
    path("tasks/<uuid:task_id>/occurrences/", api.TaskOccurrencesApi.as_view(), name="task-occurrences"),
]
