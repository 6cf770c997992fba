"""Which broker a bench run uses, and how its tables name it."""

from __future__ import annotations

import pytest

from bench import capacity
from bench.__main__ import choose_broker
from bench.harness import Harness, broker_role, tansu_workarounds


@pytest.fixture
def no_broker_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_EMBEDDED_BROKER", raising=False)


@pytest.mark.usefixtures("no_broker_in_environment")
def test_scenario_10_alone_runs_on_apache_kafka_and_every_other_run_on_tansu() -> None:
    assert choose_broker(None, ["users_10k"]) == "apache"
    assert choose_broker(None, ["ws_storm"]) == "tansu"
    assert choose_broker(None, ["users_10k", "ws_storm"]) == "tansu"
    assert choose_broker(None, None) == "tansu"


def test_the_option_then_the_environment_overrule_the_scenarios_preference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_EMBEDDED_BROKER", "tansu")
    assert choose_broker(None, ["users_10k"]) == "tansu"
    assert choose_broker("apache", ["ws_storm"]) == "apache"


@pytest.mark.parametrize(("kind", "role"), [("apache", "broker (Apache Kafka)"), ("tansu", "broker (Tansu)")])
def test_the_harness_names_its_broker_and_the_capacity_table_sizes_it_in_cores(kind: str, role: str) -> None:
    assert Harness(kind).broker_role == role == broker_role(kind)
    (row,) = capacity.plan({role: 2.0})
    assert row.scales_by == "cores of the brokers"
    assert f"| {role} | 2.00 | — | 2.0 | 3 cores | 20.0 | 29 cores |" in capacity.table([row])


def test_an_unknown_broker_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown broker"):
        Harness("redpanda")


def test_the_tansu_workarounds_are_on_exactly_with_tansu_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KAFKA_TANSU_WORKAROUNDS", raising=False)
    assert (tansu_workarounds("tansu"), tansu_workarounds("apache")) == ("true", "false")
    monkeypatch.setenv("KAFKA_TANSU_WORKAROUNDS", "false")
    assert tansu_workarounds("tansu") == "false"
