"""The transactional outbox and the per-group record of processed events.

`OutboxEvent`: one row per (event, topic), written in the same transaction as the change it
describes (by `kafka_bridge.receivers`), published by the relay in `id` order, pruned once
published and older than `KAFKA_OUTBOX_RETENTION_HOURS`.

`OutboxPending`: the rows not yet acknowledged by the broker. A trigger inserts one with every
outbox row; the relay deletes it after the delivery report. Marking a row published thus deletes
a narrow row instead of rewriting the wide one (its ~1 KB value and an entry in each of its
indexes, as an UPDATE of a column in a partial index's predicate does), so marking stays cheap.

`ProcessedEvent`: one row per (consumer group, event id), inserted in the same transaction as a
handler's work, so a redelivered event is recognised and skipped.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models
from django.utils import timezone
from psycopg.types.json import Json

from kafka_bridge.envelope import SEQUENCE_DIGITS


def compact_json(value: Any, encoder: type[json.JSONEncoder] | None = DjangoJSONEncoder) -> str:
    """The text the outbox stores and the relay publishes: JSON without optional spaces."""
    return json.dumps(value, cls=encoder, separators=(",", ":"))


class OutboxJSONField(models.JSONField):
    """The outbox's JSON columns: PostgreSQL `json`, the compact text as written, not `jsonb`.

    The relay publishes the value's text as it is. From `jsonb`, PostgreSQL rendered every
    claimed document anew (most of the claim's cost) and with `": "` and `", "` (~7 % more bytes
    per record for the broker and every consumer). Nothing queries inside these documents.

    The app writes rows with `OutboxEventManager.insert_all`. Where `bulk_create` writes them (the
    bench's and some tests' fixtures), multi-row INSERTs stay plain VALUES lists: on PostgreSQL,
    Django 5.2 inserts several rows of a JSONField as `UNNEST(%s::jsonb[])`, and psycopg then
    quotes each document inside that array literal in Python. `get_placeholder` opts out."""

    def db_type(self, connection: Any) -> str:
        return "json"

    def get_placeholder(self, value: Any, compiler: Any, connection: Any) -> str:
        return "%s"

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        return Json(value, dumps=self._dumps)

    def _dumps(self, value: Any) -> str:
        return compact_json(value, self.encoder)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # psycopg decodes `json` itself (Django gives only `jsonb` a text loader).
        return super().from_db_value(value, expression, connection) if isinstance(value, str) else value


class OutboxEventManager(models.Manager["OutboxEvent"]):
    def insert_all(self, rows: list[OutboxEvent]) -> list[OutboxEvent]:
        """Write unsaved `rows` with one INSERT, in order, and set their `id`, `created_at` and
        the `sequence` of their values.

        Each event's stored value carries the CloudEvents `sequence` extension: the id of the
        event's first row (its copies on other topics carry the same), as `SEQUENCE_DIGITS`
        zero-padded digits, first in the document. The ids are drawn (nextval) inside the
        statement, in row order, so that the value holds them and is still written once, as the
        relay publishes it; events written later get greater sequences. Fetching the ids with a
        statement of their own first cost as much on an idle database and a round trip more
        under load.

        What `bulk_create` writes, without its per-row, per-field work: the outbox INSERT is on
        every change's path. One `created_at` for the statement.
        """
        if not rows:
            return rows
        now = timezone.now()
        params: list[Any] = [now, len(rows)]
        # Per event: its first row's position, the stored text after the sequence's digits (the
        # value's own text without its `{`), and the value.
        events: dict[Any, tuple[int, str, dict[str, Any]]] = {}
        for position, row in enumerate(rows, start=1):
            row.created_at = now
            event = events.get(row.event_id)
            if event is None:
                value = {key: item for key, item in row.value.items() if key != "sequence"}
                text = compact_json(value)
                tail = '",' + text[1:] if value else '"}'
                event = events[row.event_id] = (position, tail, value)
            params += [
                position,
                event[0],
                row.event_id,
                row.event_type,
                row.topic,
                row.key,
                event[1],
                compact_json(row.headers),
                row.attempts,
                row.last_error,
            ]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        connection = connections[self.db]
        table = connection.ops.quote_name(self.model._meta.db_table)
        with connection.cursor() as cursor:
            # array_agg collects nextval in generate_series order, and a session's nextval only
            # grows: ids[n] is the n-th row's id, ascending with n.
            cursor.execute(
                f"INSERT INTO {table} "  # noqa: S608 - the model's table, values as parameters
                "(id, event_id, event_type, topic, key, value, headers, created_at, attempts, last_error) "
                "SELECT a.ids[v.n], v.event_id::uuid, v.event_type, v.topic, v.key, "
                f"""('{{"sequence":"' || lpad(a.ids[v.first_n]::text, {SEQUENCE_DIGITS}, '0') || v.tail)::json, """
                "v.headers::json, %s, v.attempts::integer, v.last_error "
                "FROM (SELECT array_agg(nextval(s.name)) AS ids "
                f"FROM (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS name) AS s, "
                "generate_series(1, %s)) AS a, "
                f"(VALUES {values}) "
                "AS v(n, first_n, event_id, event_type, topic, key, tail, headers, attempts, last_error) "
                "RETURNING id",
                params,
            )
            ids = sorted(row_id for (row_id,) in cursor.fetchall())
        documents = {
            event_id: {"sequence": f"{ids[first - 1]:0{SEQUENCE_DIGITS}d}", **value}
            for event_id, (first, _, value) in events.items()
        }
        for row, row_id in zip(rows, ids, strict=True):
            row.id = row_id
            row.value = documents[row.event_id]
            row._state.adding = False
            row._state.db = self.db
        return rows


class OutboxEvent(models.Model):
    # The bigserial id is the publication order: rows are published in commit-visible id order.
    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=100)
    topic = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    value = OutboxJSONField(encoder=DjangoJSONEncoder, help_text="The CloudEvent (structured JSON).")
    headers = OutboxJSONField(default=dict, help_text="Record headers, {name: string value}.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Failed delivery attempts (a delivered row is no longer pending, see OutboxPending).
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # Set when Kafka refused the record for good (too large): no longer pending, never published.
    rejected_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxEventManager()

    class Meta:
        ordering = ("id",)
        constraints = [models.UniqueConstraint(fields=("event_id", "topic"), name="outbox_event_topic_unique")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.topic}"


class OutboxPending(models.Model):
    """An outbox row the broker has not acknowledged yet (see the module docstring). Inserted by
    the `kafka_bridge_outbox_pending` trigger, never by code; its primary key is the relay's
    claim order."""

    event = models.OneToOneField(
        OutboxEvent, primary_key=True, on_delete=models.CASCADE, related_name="pending", db_column="id"
    )

    class Meta:
        verbose_name_plural = "outbox pending"

    def __str__(self) -> str:
        return f"pending outbox row {self.pk}"


class ProcessedEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    group = models.CharField(max_length=200)
    event_id = models.UUIDField()
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("group", "event_id"), name="processed_event_group_unique")]
        indexes = [models.Index(fields=("processed_at",), name="processed_event_age_idx")]

    def __str__(self) -> str:
        return f"{self.group}: {self.event_id}"
