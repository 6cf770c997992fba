"""The recurrence app: series state, the next-occurrence handler, catch-up and the preview API."""

from django.apps import AppConfig


class RecurrenceAppConfig(AppConfig):
    name = "recurrence_app"
    verbose_name = "Recurrence"

    def ready(self) -> None:
        from recurrence_app import receivers  # models are loaded only now

        receivers.connect()
