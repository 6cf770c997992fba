"""The AsyncAPI 3 document of the event contract, generated from the declared routes and payload models.

Channels are the topics and their dead-letter topics; messages are the event types, each a
CloudEvents 1.0 envelope whose `data` is the JSON Schema of the event's pydantic payload model
(`core.domain_events.event_routes`). Served at `/api/asyncapi.json`, public like the OpenAPI
schema; it knows no app.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from pydantic.json_schema import models_json_schema

from core.domain_events import DLQ_HEADERS, EventRoute, Topic, event_routes

ASYNCAPI_VERSION = "3.0.0"
SCHEMA_REF = "#/components/schemas/{model}"
ENVELOPE = "CloudEventEnvelope"

# CloudEvents 1.0, structured JSON mode, with our extensions (DESIGN.md section 3; the checks:
# kafka_bridge.envelope).
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A CloudEvents 1.0 document (structured JSON mode): the record value.",
    "required": ["specversion", "id", "type", "source", "subject", "time", "userid", "data"],
    "additionalProperties": False,
    "properties": {
        "specversion": {"type": "string", "const": "1.0"},
        "id": {"type": "string", "format": "uuid", "description": "consumers skip an id they processed"},
        "type": {"type": "string", "description": "the event type"},
        "source": {"type": "string", "description": "the emitting app, e.g. /tasks"},
        "subject": {"type": "string", "format": "uuid", "description": "the task id (also the record key)"},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string", "const": "application/json"},
        "userid": {"type": "string", "description": "the task owner's id"},
        "correlationid": {"type": ["string", "null"], "description": "the request that caused the event"},
        "sequence": {
            "type": "string",
            "pattern": "^[0-9]{20}$",
            "description": "the outbox order: zero-padded, compares as the numbers do",
        },
        "data": {"type": "object"},
    },
}
HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ce_id": {"type": "string", "description": "the event id"},
        "ce_type": {"type": "string", "description": "the event type"},
        "correlation_id": {"type": "string"},
        "traceparent": {"type": "string", "description": "W3C trace context, with tracing on"},
        "tracestate": {"type": "string"},
    },
}
DEAD_LETTER_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A dead letter: the original record and headers, plus why it failed (redrive_dlq strips these).",
    "properties": {
        **HEADERS_SCHEMA["properties"],
        **{name: {"type": "string"} for name in DLQ_HEADERS},
    },
}


def _message(route: EventRoute, data_ref: dict[str, str], *, dead_letter: bool) -> dict[str, Any]:
    return {
        "name": route.event_type,
        "title": route.event_type,
        "summary": route.summary,
        "contentType": "application/json",
        "headers": DEAD_LETTER_HEADERS_SCHEMA if dead_letter else HEADERS_SCHEMA,
        "payload": {
            "allOf": [
                {"$ref": SCHEMA_REF.format(model=ENVELOPE)},
                {"type": "object", "properties": {"type": {"const": route.event_type}, "data": data_ref}},
            ]
        },
    }


def _dead_letter_key(event_type: str) -> str:
    return f"{event_type}.dead-letter"


@cache
def asyncapi_document() -> dict[str, Any]:
    """The document (built once per process: routes and models do not change while it runs)."""
    routes = event_routes()
    models = list(dict.fromkeys(route.payload for route in routes))
    refs, definitions = models_json_schema([(model, "validation") for model in models], ref_template=SCHEMA_REF)
    schemas = {ENVELOPE: ENVELOPE_SCHEMA, **definitions.get("$defs", {})}
    messages: dict[str, Any] = {}
    for route in routes:
        data_ref = refs[(route.payload, "validation")]
        messages[route.event_type] = _message(route, data_ref, dead_letter=False)
        messages[_dead_letter_key(route.event_type)] = _message(route, data_ref, dead_letter=True)

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in Topic:
        types = [route.event_type for route in routes if topic.value in route.topics]
        for address, keys, description in (
            (topic.value, types, f"Events on `{topic.value}`, keyed by the task id."),
            (
                topic.dlq,
                [_dead_letter_key(name) for name in types],
                f"Records of `{topic.value}` that a consumer group could not process, with why.",
            ),
        ):
            channels[address] = {
                "address": address,
                "description": description,
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in keys},
            }
            operations[f"publish.{address}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{address}"},
                "messages": [{"$ref": f"#/channels/{address}/messages/{key}"} for key in keys],
            }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Todo backend events",
            "version": "1.0.0",
            "description": "Domain events on Kafka: CloudEvents 1.0 JSON documents, one payload model per type.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


@require_GET
def asyncapi_view(request: HttpRequest) -> JsonResponse:
    """GET /api/asyncapi.json: the event contract (public, like /api/schema/)."""
    return JsonResponse(asyncapi_document())
