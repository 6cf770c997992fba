"""The project's URLconf plus `/bench/trivial/` (bench-only, see `bench/settings.py`)."""

from django.urls import include, path

from bench.views import TrivialApi

urlpatterns = [
    path("bench/trivial/", TrivialApi.as_view(), name="bench-trivial"),
    path("", include("todo_project.urls")),
]

handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
