"""`Task.series` (a foreign key to recurrence_app's Series) becomes the plain, indexed `series_id`
UUID: tasks_app knows nothing of recurrence_app. The column, its values and its index stay; only
the foreign-key constraint goes (and comes back on reversal)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recurrence_app", "0002_series_anchor"),
        ("tasks_app", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterField(
                    model_name="task",
                    name="series",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        db_constraint=False,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tasks",
                        to="recurrence_app.series",
                    ),
                ),
            ],
            state_operations=[
                migrations.RemoveField(model_name="task", name="series"),
                migrations.AddField(
                    model_name="task",
                    name="series_id",
                    field=models.UUIDField(blank=True, db_index=True, null=True),
                ),
            ],
        ),
    ]
