"""core.domain_events: routes found in the installed apps, the batching scope, payload messages."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from core.domain_events import Topic, batched, event_routes, outbox_batch, payload_models
from core.domain_events.fields import Int, OpenPayload, Payload, UUIDStr, invalid_payload_message


def test_every_installed_app_route_is_found_once_with_a_payload_model_and_known_topics() -> None:
    routes = event_routes()
    assert routes, "no app declared an event route"
    assert len(payload_models()) == len(routes)
    topics = {topic.value for topic in Topic}
    for route in routes:
        assert issubclass(route.payload, BaseModel)
        assert set(route.topics) <= topics
        assert route.summary


def test_a_batch_hands_each_writer_its_items_once_at_the_end_and_nothing_if_it_raises() -> None:
    written: list[list[int]] = []
    assert batched(written.append) is None  # outside a batch the writer writes at once
    with outbox_batch():
        batched(written.append).append(1)
        with outbox_batch():
            batched(written.append).append(2)
        assert written == []
    assert written == [[1, 2]]

    def failing_pass() -> None:
        with outbox_batch():
            batched(written.append).append(3)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_pass()
    assert written == [[1, 2]]


class _Item(OpenPayload):
    id: UUIDStr


class _Data(Payload):
    items: list[_Item]
    count: Int


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"items": [{"id": "x"}], "count": 1}, "data.items[0].id: must be a UUID string"),
        ({"items": [], "count": True}, "data.count: must be an integer"),
        ({"items": {}, "count": 1}, "data.items: must be a list"),
        ({"count": 1, "z": 2, "a": 3}, "data: missing keys ['items']"),
        ({"items": [], "count": 1, "z": 2, "a": 3}, "data: unknown keys ['a', 'z']"),
        ([], "data: must be an object"),
    ],
)
def test_an_invalid_payload_gets_one_line_naming_the_field(data: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Data.model_validate(data)
    assert invalid_payload_message(caught.value) == message
