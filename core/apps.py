from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core: auth, errors, health, observability"

    def ready(self) -> None:
        from core import tracing
        from core.auth import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from core.internals import check_versions

        # Private internals of Django, Channels and channels-redis are used (core/internals/):
        # on any other version than the one pinned, refuse to start rather than misbehave.
        check_versions()

        # Only with OTEL_EXPORTER_OTLP_ENDPOINT set; before any request, so the Django
        # instrumentation's middleware is in place when the handler loads the middleware.
        tracing.configure_from_environment()
