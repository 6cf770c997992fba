from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.api import MeApi
from core.asyncapi import asyncapi_view
from core.health import healthz, readyz
from core.metrics import metrics_view

# What staff see in the admin's header and tab titles instead of "Django administration".
admin.site.site_header = "Todo backend administration"
admin.site.site_title = "Todo backend admin"
admin.site.index_title = "Tasks, events and the audit trail"

api_v1 = [
    path("me/", MeApi.as_view(), name="me"),
    path("", include("tasks_app.urls")),
    path("", include("recurrence_app.urls")),
    path("", include("notifications_app.urls")),
    path("", include("audit_app.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/asyncapi.json", asyncapi_view, name="asyncapi"),
    # The split view serves its script as a file of its own: the page runs under core/csp.py.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="core/api_docs.html"),
        name="docs",
    ),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("anymail/", include("anymail.urls")),
    path("", include("sync_app.urls")),
    path("", include("mcp_app.urls")),
]

handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
