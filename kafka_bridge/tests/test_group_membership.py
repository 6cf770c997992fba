"""A consumer stopped while still joining its group must not wedge the group for the next one."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest

from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def fresh_group_env() -> dict[str, str]:
    """The test consumer `bridge-test` on task-updates, in a group no other test uses."""
    return subprocess_env(
        KAFKA_BRIDGE_TEST_CONSUMERS="1",
        KAFKA_BRIDGE_TEST_TOPICS="task-updates",
        KAFKA_BRIDGE_TEST_GROUP=f"membership-{uuid.uuid4().hex[:8]}",
    )


def assigned(process) -> bool:
    return "partitions assigned" in Path(process.log_path).read_text()


def assignment_changes(process) -> int:
    text = Path(process.log_path).read_text()
    return text.count("partitions assigned") + text.count("partitions revoked")


def two_assigned_members(processes: ManagedProcesses, env: dict[str, str]) -> tuple:
    first = processes.manage("first", "run_consumer", "bridge-test", env=env)
    second = processes.manage("second", "run_consumer", "bridge-test", env=env)
    for member in (first, second):
        wait_until(lambda m=member: assigned(m), timeout=30)
    return first, second


def assert_the_next_member_is_assigned(processes: ManagedProcesses, env: dict[str, str]) -> None:
    third = processes.manage("third", "run_consumer", "bridge-test", env=env)
    wait_until(lambda: assigned(third), timeout=30, message="the next member of the group being assigned partitions")


def test_a_consumer_stopped_during_its_first_join_leaves_the_group_usable(
    processes: ManagedProcesses, kafka_topics: None
) -> None:
    env = fresh_group_env()
    first = processes.manage("first", "run_consumer", "bridge-test", env=env)
    wait_until(lambda: "consumer started" in Path(first.log_path).read_text(), timeout=30)
    processes.kill(first, signal.SIGTERM)  # well before the join (half the session timeout) completes
    assert first.returncode == 0

    assert_the_next_member_is_assigned(processes, env)


def test_a_consumer_stopped_during_the_rebalance_another_ones_exit_started_leaves_the_group_usable(
    processes: ManagedProcesses, kafka_topics: None
) -> None:
    env = fresh_group_env()
    first, second = two_assigned_members(processes, env)
    changes_before = assignment_changes(second)
    processes.kill(first, signal.SIGTERM)  # its leaving makes the group rebalance
    # Classic groups revoke second's partitions and have it rejoin; KIP-848 groups hand it first's.
    wait_until(lambda: assignment_changes(second) > changes_before, timeout=30)
    processes.kill(second, signal.SIGTERM)  # ... and second is stopped while that is under way
    assert (first.returncode, second.returncode) == (0, 0)

    assert_the_next_member_is_assigned(processes, env)


def test_a_consumer_stopped_before_it_hears_of_the_rebalance_another_ones_exit_started_leaves_the_group_usable(
    processes: ManagedProcesses, kafka_topics: None
) -> None:
    """Two replicas stopped together (a rolling restart, a test's teardown): the second leaves
    within a heartbeat of the first, before the broker's "rebalance in progress" reaches it."""
    env = fresh_group_env()
    first, second = two_assigned_members(processes, env)
    processes.kill(first, signal.SIGTERM)
    processes.kill(second, signal.SIGTERM)  # at once: it still holds its partitions
    assert (first.returncode, second.returncode) == (0, 0)

    assert_the_next_member_is_assigned(processes, env)
