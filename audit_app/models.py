"""The audit log: every record the `audit` consumer reads, stored once per (event, topic).

The table is hand-written SQL (migration 0001): a PostgreSQL table partitioned by RANGE on
`occurred_at`, one partition per UTC day plus a DEFAULT partition as a safety net, so retention
drops whole days instead of deleting millions of rows (`audit_app.partitions`). Django does not
manage it (`managed = False`); the ORM still reads it for the API and the admin.

Identity and deduplication:
- PostgreSQL requires every unique key of a partitioned table to include the partition key, so
  the primary key is (id, occurred_at) and the deduplication key is
  UNIQUE (event_id, topic, occurred_at). `occurred_at` is the event's own `time`, the same on
  every delivery, so a redelivered event conflicts and is ignored (`ON CONFLICT DO NOTHING`).
  Django sees `id` alone as the primary key: ids come from one identity sequence, so they are
  unique across partitions and lookups by id work.
- The same event published on `task-events` and `task-updates` (same event id) is stored as one
  row per topic: each row says exactly which Kafka record (topic, partition, offset) it came
  from. A DLQ record of an event is likewise its own row on `<topic>.dlq`, with the DLQ headers
  (error, handler, attempts, failed_at) in `headers`; a second dead-lettering of the same event
  is a redelivery and keeps the first row.
- A record whose value is not an acceptable CloudEvent is still stored: `event_id` is derived
  from its Kafka coordinates (uuid5 of "topic/partition/offset", so redelivery of the same
  record is still stored once), `occurred_at` is the record's Kafka timestamp; `event_type`,
  `user_id`, `correlation_id` and `task_id` are taken from the value when it is a JSON object
  that has them (empty otherwise), `envelope` holds the value when it is JSON that PostgreSQL
  accepts, `raw_value` the bytes, `error` why it is not an event, `headers` the Kafka headers.
"""

from __future__ import annotations

from django.db import models


class AuditLog(models.Model):
    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField()
    topic = models.CharField(max_length=255)
    kafka_partition = models.IntegerField()
    kafka_offset = models.BigIntegerField()
    event_type = models.CharField(max_length=255, blank=True)
    # The envelope's `userid`: the owner's Django user id, as a string.
    user_id = models.CharField(max_length=255, blank=True)
    task_id = models.UUIDField(null=True, blank=True)
    # NULL, not "": the partial index skips events without one.
    correlation_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    occurred_at = models.DateTimeField()
    # The envelope's CloudEvents `sequence` as a number: the order in which the outbox wrote the
    # events, which orders those of one instant (one change's events share their millisecond).
    # 0 for a record that carried none (not an event, or written before events had one).
    sequence = models.BigIntegerField(default=0)
    received_at = models.DateTimeField()
    envelope = models.JSONField(null=True, blank=True)
    # Kafka headers, kept for DLQ records and for records that are not events (NULL otherwise).
    headers = models.JSONField(null=True, blank=True)
    raw_value = models.BinaryField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL: no error

    class Meta:
        managed = False
        db_table = "audit_log"
        ordering = ("-occurred_at", "-sequence", "-id")
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.event_type or 'invalid record'} {self.event_id} on {self.topic}"

    @property
    def is_dead_letter(self) -> bool:
        return self.topic.endswith(".dlq")
