"""The CloudEvents `sequence` of each entry (audit_app/models.py), and the audit log's order:
(occurred_at, sequence, id).

NOT NULL with a constant default: PostgreSQL records the default in the catalog and rewrites no
partition, so the migration is instant however large the log. The existing (…, occurred_at, id)
indexes still serve the new order: PostgreSQL reads them in occurred_at order and sorts only the
entries of one instant by sequence (an incremental sort; audit_app/tests/test_query_plans.py).
"""

from django.db import migrations, models

ADD = "ALTER TABLE audit_log ADD COLUMN sequence bigint NOT NULL DEFAULT 0;"
DROP = "ALTER TABLE audit_log DROP COLUMN sequence;"


class Migration(migrations.Migration):
    dependencies = [("audit_app", "0001_initial")]

    operations = [
        migrations.RunSQL(
            ADD,
            DROP,
            state_operations=[
                migrations.AddField(
                    model_name="auditlog",
                    name="sequence",
                    field=models.BigIntegerField(default=0),
                ),
                migrations.AlterModelOptions(
                    name="auditlog",
                    options={
                        "managed": False,
                        "ordering": ("-occurred_at", "-sequence", "-id"),
                        "verbose_name": "audit log entry",
                        "verbose_name_plural": "audit log",
                    },
                ),
            ],
        ),
    ]
