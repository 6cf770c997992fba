"""The AsyncAPI 3 document at /api/asyncapi.json: public, accepted by the official parser
(npm @asyncapi/parser, pinned in scripts/asyncapi_parser.py), and complete."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.domain_events import Topic, event_routes
from kafka_bridge.envelope import ENVELOPE_FIELDS
from kafka_bridge.schemas import event_types

ROOT = Path(__file__).resolve().parent.parent
ERROR = 0  # the parser's (Spectral's) severity of an error


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    response = client.get("/api/asyncapi.json")  # no credentials: public, like /api/schema/
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def test_the_asyncapi_parser_reports_no_error(document: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "asyncapi_parser.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    errors = [item for item in json.loads(result.stdout) if item["severity"] == ERROR]
    assert errors == []
    assert document["asyncapi"].startswith("3.")


def test_every_event_type_is_a_message_on_each_of_its_topics_and_their_dlqs(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    assert event_types() <= set(messages)
    for route in event_routes():
        assert messages[route.event_type]["payload"]["allOf"][1]["properties"]["type"] == {"const": route.event_type}
        for topic in route.topics:
            assert route.event_type in document["channels"][topic]["messages"]
            assert f"{route.event_type}.dead-letter" in document["channels"][f"{topic}.dlq"]["messages"]
    assert set(document["channels"]) == {name for topic in Topic for name in (topic.value, topic.dlq)}


def test_the_envelope_schema_lists_exactly_the_envelope_fields(document: dict[str, Any]) -> None:
    envelope = document["components"]["schemas"]["CloudEventEnvelope"]
    assert set(envelope["properties"]) == ENVELOPE_FIELDS


def test_payload_schemas_come_from_the_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for route in event_routes():
        expected = route.payload.model_json_schema(ref_template="#/components/schemas/{model}")
        expected.pop("$defs", None)
        assert schemas[route.payload.__name__] == expected
