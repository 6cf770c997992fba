"""A series no longer stores a rule, mode and time zone: the chain follows its newest task's.

Before the columns go, a live series whose newest task disagrees with it (an older occurrence's
edit used to change the series alone) hands its values to that task, which generated the next
occurrence from them; reversal fills the columns back from the newest task."""

from typing import Any

from django.db import migrations, models
from django.db.models import F


def _newest_task(Task: Any, series: Any) -> Any:
    if series.last_occurrence_id is not None:
        task = Task.objects.filter(pk=series.last_occurrence_id).first()
        if task is not None:
            return task
    return Task.objects.filter(series_id=series.pk).order_by("-created_at").first()


def hand_to_newest_task(apps: Any, schema_editor: Any) -> None:
    Series, Task = apps.get_model("recurrence_app", "Series"), apps.get_model("tasks_app", "Task")
    for series in Series.objects.filter(ended=False).iterator():
        task = _newest_task(Task, series)
        if task is None or not task.recurrence_rule:
            continue
        steering = (series.rule, series.mode, series.timezone)
        if (task.recurrence_rule, task.recurrence_mode, task.timezone) != steering:
            Task.objects.filter(pk=task.pk).update(
                recurrence_rule=series.rule,
                recurrence_mode=series.mode,
                timezone=series.timezone,
                version=F("version") + 1,
            )


def fill_from_newest_task(apps: Any, schema_editor: Any) -> None:
    Series, Task = apps.get_model("recurrence_app", "Series"), apps.get_model("tasks_app", "Task")
    for series in Series.objects.iterator():
        task = _newest_task(Task, series)
        if task is not None and task.recurrence_rule:
            series.rule, series.mode, series.timezone = task.recurrence_rule, task.recurrence_mode, task.timezone
            series.save(update_fields=["rule", "mode", "timezone"])


class Migration(migrations.Migration):
    dependencies = [
        ("recurrence_app", "0002_series_anchor"),
        ("tasks_app", "0002_series_id_without_foreign_key"),
    ]

    operations = [
        migrations.RunPython(hand_to_newest_task, fill_from_newest_task),
        # A default, so that reversal can add the column back to existing rows before filling it.
        migrations.AlterField(
            model_name="series",
            name="rule",
            field=models.TextField(default="", help_text="normalised RFC 5545 RRULE, without the RRULE: prefix"),
        ),
        migrations.RemoveField(model_name="series", name="mode"),
        migrations.RemoveField(model_name="series", name="rule"),
        migrations.RemoveField(model_name="series", name="timezone"),
    ]
