"""Operator commands that need no consumer: kafka_topics, and argument errors."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from kafka_bridge.topics import all_topic_names


@pytest.mark.usefixtures("kafka_topics")
def test_kafka_topics_reports_every_topic_and_dlq_with_its_partitions() -> None:
    out = StringIO()

    call_command("kafka_topics", stdout=out)

    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == all_topic_names()
    assert all(line.split(": ")[1].startswith("exists, 3 partitions") for line in lines)


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
