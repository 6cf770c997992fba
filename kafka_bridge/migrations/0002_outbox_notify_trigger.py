"""Every INSERT into the outbox NOTIFYs the relay channel, from the database itself: one
statement-level trigger instead of a `pg_notify` round trip per write (and raw SQL writes wake
the relay too). PostgreSQL delivers a notification only when its transaction commits, and folds
identical ones within a transaction into one."""

from django.db import migrations

CHANNEL = "kafka_bridge_outbox"  # kafka_bridge.receivers.NOTIFY_CHANNEL, fixed at this migration

CREATE = f"""
CREATE FUNCTION kafka_bridge_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER kafka_bridge_outbox_notify AFTER INSERT ON kafka_bridge_outboxevent
    FOR EACH STATEMENT EXECUTE FUNCTION kafka_bridge_outbox_notify();
"""

DROP = """
DROP TRIGGER IF EXISTS kafka_bridge_outbox_notify ON kafka_bridge_outboxevent;
DROP FUNCTION IF EXISTS kafka_bridge_outbox_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("kafka_bridge", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
