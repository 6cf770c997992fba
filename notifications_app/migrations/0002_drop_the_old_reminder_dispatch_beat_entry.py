"""Reminder dispatch moved to tasks_app (beat entry `tasks-dispatch-reminders`): django-celery-beat
keeps the entries it stored, so the old one, whose task no longer exists, is deleted here."""

from django.db import migrations

OLD_ENTRY = "notifications-dispatch-reminders"


def drop_old_entry(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=OLD_ENTRY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications_app", "0001_initial"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [migrations.RunPython(drop_old_entry, migrations.RunPython.noop)]
