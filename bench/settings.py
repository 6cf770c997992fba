"""Bench-only settings: the project's settings with a URLconf that adds the trivial baseline view.

Only the benchmark's own uvicorn child uses it (DJANGO_SETTINGS_MODULE=bench.settings), so the
trivial view runs on the same server, middleware, authentication and database settings as the
task API, and never reaches the production URLconf.
"""

from todo_project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
