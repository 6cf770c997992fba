"""Operator commands that need no consumer: kafka_topics, and argument errors."""

from __future__ import annotations

from io import StringIO

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from django.core.management import CommandError, call_command

from kafka_bridge.config import client_config
from kafka_bridge.topics import all_topic_names, topic_configs
from tests.fixtures import wait_until


@pytest.mark.usefixtures("kafka_topics")
def test_kafka_topics_reports_every_topic_and_dlq_with_its_partitions() -> None:
    out = StringIO()

    call_command("kafka_topics", stdout=out)

    lines = out.getvalue().splitlines()
    topic_lines = [line for line in lines if not line.startswith("topic configs:")]
    assert [line.split(":")[0] for line in topic_lines] == all_topic_names()
    assert all(line.split(": ")[1].startswith("exists, 3 partitions") for line in topic_lines)


def current_configs(name: str) -> dict[str, str]:
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    admin = AdminClient(client_config())  # kept alive until the answer: its futures end with it
    entries = admin.describe_configs([resource])[resource].result(timeout=15)
    return {key: entries[key].value for key in topic_configs()}


@pytest.mark.usefixtures("kafka_topics")
def test_kafka_topics_sets_the_configured_topic_configs_where_a_topic_differs(settings) -> None:
    """retention.ms, cleanup.policy, min.insync.replicas and max.message.bytes from settings, on
    every topic and DLQ; a topic changed by hand is put back, and only what differs is touched."""
    settings.KAFKA_TOPIC_RETENTION_MS = 3 * 24 * 3600 * 1000
    out = StringIO()

    call_command("kafka_topics", stdout=out)

    # The broker applies an altered config moments after the controller accepts it.
    wait_until(lambda: all(current_configs(name) == topic_configs() for name in all_topic_names()), timeout=15)
    assert f"task-events: retention.ms 604800000 -> {settings.KAFKA_TOPIC_RETENTION_MS}" in out.getvalue()
    assert int(topic_configs()["max.message.bytes"]) >= 9 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    settings.KAFKA_TOPIC_RETENTION_MS = 7 * 24 * 3600 * 1000  # the default again, for other tests
    again = StringIO()
    call_command("kafka_topics", stdout=again)
    wait_until(lambda: all(current_configs(name)["retention.ms"] == "604800000" for name in all_topic_names()))
    assert again.getvalue().count("-> 604800000") == len(all_topic_names())


@pytest.mark.django_db
def test_run_consumer_rejects_an_unknown_consumer_name() -> None:
    with pytest.raises(CommandError, match="unknown consumer 'nope'"):
        call_command("run_consumer", "nope")


@pytest.mark.usefixtures("kafka_topics")
def test_kafka_lag_rejects_an_unknown_consumer_name() -> None:
    with pytest.raises(CommandError, match="unknown consumers"):
        call_command("kafka_lag", "--group", "nope")


@pytest.mark.usefixtures("kafka_topics")
def test_redrive_of_a_missing_dlq_is_an_error() -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("redrive_dlq", "no-such-topic")


@pytest.mark.usefixtures("kafka_topics")
def test_kafka_lag_prints_a_table_per_group_and_partition() -> None:
    out = StringIO()

    # Thresholds out of reach: earlier tests of the run may have left old records on the topic.
    call_command(
        "kafka_lag", "--group", "sync", "--max-messages", "1000000000", "--max-seconds", "1000000000", stdout=out
    )

    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["group", "topic", "part", "committed", "end", "behind", "secs"]
    assert [line.split()[:3] for line in lines[1:4]] == [["sync", "task-updates", str(p)] for p in range(3)]
    assert lines[-1].startswith("sync: ")
    assert lines[-1].endswith("(ok)")
