from django.apps import AppConfig


class NotificationsAppConfig(AppConfig):
    name = "notifications_app"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from anymail.signals import tracking

        from notifications_app.receivers import record_tracking_event

        tracking.connect(record_tracking_event, dispatch_uid="notifications_app.tracking", weak=False)
