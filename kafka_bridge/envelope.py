"""The CloudEvents 1.0 envelope (structured JSON mode) of every record (DESIGN.md section 3)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from core.domain_events.fields import is_uuid

SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"
ENVELOPE_FIELDS = frozenset(
    {
        "specversion",
        "id",
        "type",
        "source",
        "subject",
        "time",
        "datacontenttype",
        "userid",
        "correlationid",
        "sequence",
        "data",
    }
)
# The CloudEvents `sequence` extension: the id of the event's first outbox row, zero-padded to
# this many decimal digits so that strings compare as the numbers do (any bigint fits).
SEQUENCE_DIGITS = 20

__all__ = ["SEQUENCE_DIGITS", "CloudEvent", "InvalidEvent", "is_uuid"]


class InvalidEvent(ValueError):
    """The record is not an acceptable CloudEvent; the message says why (it goes to the DLQ)."""


def _isoformat(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class CloudEvent:
    type: str
    source: str
    subject: str
    userid: str
    data: dict[str, Any]
    correlationid: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Set by the outbox when the event is written (OutboxEventManager.insert_all), not by producers.
    sequence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        document = {
            "specversion": SPECVERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": _isoformat(self.time),
            "datacontenttype": DATACONTENTTYPE,
            "userid": self.userid,
            "correlationid": self.correlationid,
        }
        if self.sequence is not None:
            document["sequence"] = self.sequence
        document["data"] = self.data
        return document

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str).encode()

    @classmethod
    def from_dict(cls, document: Any) -> CloudEvent:
        """Parse and check the envelope (not `data`: that is the per-type schema's job)."""
        if not isinstance(document, dict):
            raise InvalidEvent("the record value is not a JSON object")
        if not document.keys() <= ENVELOPE_FIELDS:
            raise InvalidEvent(f"unknown envelope fields: {sorted(document.keys() - ENVELOPE_FIELDS)}")
        if document.get("specversion") != SPECVERSION:
            raise InvalidEvent(f"specversion must be {SPECVERSION!r}")
        if document.get("datacontenttype", DATACONTENTTYPE) != DATACONTENTTYPE:
            raise InvalidEvent(f"datacontenttype must be {DATACONTENTTYPE!r}")
        for name in ("id", "type", "source", "subject", "userid", "time"):
            if not isinstance(document.get(name), str) or not document[name]:
                raise InvalidEvent(f"envelope field {name!r} must be a non-empty string")
        if not is_uuid(document["id"]):
            raise InvalidEvent("envelope field 'id' must be a UUID")
        try:
            moment = datetime.fromisoformat(document["time"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidEvent("envelope field 'time' must be an RFC 3339 timestamp") from exc
        if moment.tzinfo is None:
            raise InvalidEvent("envelope field 'time' must carry a UTC offset")
        correlationid = document.get("correlationid")
        if correlationid is not None and not isinstance(correlationid, str):
            raise InvalidEvent("envelope field 'correlationid' must be a string or null")
        sequence = document.get("sequence")  # its form is the schemas' check (validate_event)
        if sequence is not None and not isinstance(sequence, str):
            raise InvalidEvent("envelope field 'sequence' must be a string")
        if not isinstance(document.get("data"), dict):
            raise InvalidEvent("envelope field 'data' must be a JSON object")
        return cls(
            id=document["id"],
            type=document["type"],
            source=document["source"],
            subject=document["subject"],
            time=moment,
            userid=document["userid"],
            correlationid=correlationid,
            data=document["data"],
            sequence=sequence,
        )

    @classmethod
    def from_json(cls, value: bytes | str | None) -> CloudEvent:
        if value is None:
            raise InvalidEvent("the record has no value")
        try:
            # Strict RFC 8259: UTF-8 only, no NaN or Infinity, no lone surrogates (jsonb refuses
            # those too).
            document = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent(f"the record value is not JSON: {exc}") from exc
        return cls.from_dict(document)
