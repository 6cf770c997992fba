from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core: auth, errors, health, observability"

    def ready(self) -> None:
        from core.auth import schema  # noqa: F401  (registers the OpenAPI auth extension)
