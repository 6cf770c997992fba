"""The `/live/` page: a logged-in user's open tasks, kept current over `/ws/sync/`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from sync_app.selectors import sync_position


@require_GET
@login_required
def live_page(request: HttpRequest) -> HttpResponse:
    # The position is read before the page fetches the task list, so resuming from it replays
    # every change the list might not include yet (the page ignores older versions of a task).
    config = {
        "cursor": str(sync_position(user_id=request.user.pk)),
        "socket_path": "/ws/sync/",
        "tasks_url": "/api/v1/tasks/?status=open&ordering=due_at&limit=100",
    }
    return render(request, "sync_app/live.html", {"config": config})
