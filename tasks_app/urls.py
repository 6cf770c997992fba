"""Routes of the task API under /api/v1/. Each path is anchored, so other apps' sub-paths of a
task (the recurrence API's `tasks/<id>/occurrences/`) are not swallowed."""

from django.urls import path

from tasks_app import api

urlpatterns = [
    path("tasks/", api.TaskListCreateApi.as_view(), name="task-list"),
    path("tasks/<uuid:task_id>/", api.TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<uuid:task_id>/complete/", api.TaskCompleteApi.as_view(), name="task-complete"),
    path("tasks/<uuid:task_id>/reopen/", api.TaskReopenApi.as_view(), name="task-reopen"),
    path("tags/", api.TagListApi.as_view(), name="tag-list"),
]
