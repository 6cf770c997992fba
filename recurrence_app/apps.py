from django.apps import AppConfig


class RecurrenceAppConfig(AppConfig):
    name = "recurrence_app"
    verbose_name = "Recurrence"
