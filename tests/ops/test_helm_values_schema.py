"""values.schema.json: Helm refuses a bad values file before rendering anything."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import pytest

from tests.ops.chart import CHART, PRODUCTION_VALUES, load_values

BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "a typo in a key": ({"web": {"replica": 3}}, "replica"),
    "zero web replicas": ({"web": {"replicas": 0}}, "/web/replicas"),
    "an unknown Celery pool": ({"worker": {"pool": "fork"}}, "/worker/pool"),
    "a consumer group the registry does not know": (
        {"consumers": {"groups": {"billing": {"enabled": True}}}},
        "billing",
    ),
    "root containers": ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    "a writable root filesystem": ({"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
    "a beat replica count": ({"beat": {"replicas": 2}}, "replicas"),
    "no Kafka brokers": ({"config": {"kafkaBootstrapServers": ""}}, "kafkaBootstrapServers"),
    "a port out of range": ({"metrics": {"port": 70000}}, "/metrics/port"),
    "a list of secrets instead of a map": ({"secrets": {"data": ["SECRET_KEY=x"]}}, "/secrets/data"),
    "a memory request that is not a quantity": (
        {"worker": {"resources": {"requests": {"memory": "lots"}}}},
        "memory",
    ),
    "a non-numeric lag threshold": (
        {"metrics": {"prometheusRule": {"thresholds": {"consumerLagMessages": "1k"}}}},
        "consumerLagMessages",
    ),
    "a JWKS URL over plain HTTP": ({"config": {"jwtJwksUrl": "http://auth.example.com/jwks"}}, "jwtJwksUrl"),
}


@pytest.fixture(scope="module")
def chart() -> helm.Chart:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def test_the_chart_ships_a_values_schema(chart: helm.Chart) -> None:
    assert chart.schema is not None
    assert chart.schema["additionalProperties"] is False


def test_the_default_and_production_values_are_valid(chart: helm.Chart) -> None:
    chart.validate_schema(chart.values)
    chart.validate_schema(chart.merge_values(load_values(PRODUCTION_VALUES)))


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_values_file_is_rejected_naming_the_offending_key(chart: helm.Chart, case: str) -> None:
    overrides, offending = BAD_VALUES[case]
    with pytest.raises(helm.HelmValuesError, match=offending):
        chart.validate_schema(chart.merge_values(copy.deepcopy(overrides)))


def test_rendering_refuses_bad_values_too(chart: helm.Chart) -> None:
    # `helm install/template -f bad.yaml` goes through the same check before any template runs.
    with pytest.raises(helm.HelmValuesError, match="/web/replicas"):
        chart.render({"web": {"replicas": -1}}, name="todo-backend")
