"""Renders the Helm chart with Helm's own engine (helm-python-sdk binds Helm's Go SDK; no helm
binary) and validates manifests: built-in kinds against the Kubernetes OpenAPI schemas
(kubernetes-validate, offline, strict: unknown fields fail), the three custom resources the chart
can render against the parts of their CRD schemas that the chart uses."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "todo-backend"
PRODUCTION_VALUES = CHART / "values-production.yaml"
RELEASE = "todo-backend"
NAMESPACE = "todo"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())

_string_map = {"type": "object", "additionalProperties": {"type": "string"}}
_string = {"type": "string"}
_duration = {"type": "string", "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_label_name = {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}
_metadata = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "labels": _string_map,
        "annotations": _string_map,
    },
}


def _custom(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _metadata,
            "spec": spec,
        },
    }


# Subsets of the CRDs' published OpenAPI schemas (prometheus-operator v0.7x, KEDA v2.1x).
CUSTOM_RESOURCE_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": _custom(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {"type": "object", "properties": {"matchLabels": _string_map}},
                "namespaceSelector": {
                    "type": "object",
                    "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": _string}},
                    "additionalProperties": False,
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": _duration,
                            "scrapeTimeout": _duration,
                            "relabelings": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "sourceLabels": {"type": "array", "items": _label_name},
                                        "targetLabel": {"type": "string"},
                                        "action": {"type": "string"},
                                        "regex": {"type": "string"},
                                        "replacement": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    ),
    "PrometheusRule": _custom(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["alert", "expr"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]*$"},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": _duration,
                                        "labels": _string_map,
                                        "annotations": _string_map,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    ),
    "ScaledObject": _custom(
        "keda.sh/v1alpha1",
        "ScaledObject",
        {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": _string, "kind": _string, "apiVersion": _string},
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"},
                            "metadata": _string_map,
                            "authenticationRef": {"type": "object", "required": ["name"]},
                        },
                    },
                },
            },
        },
    ),
}


def production_consumers() -> dict[str, Any]:
    """The registry's consumers without the test-only ones (`bridge-test*`, from
    kafka_bridge/tests/handlers.py), which other tests register in this process and the image
    never ships."""
    from kafka_bridge.registry import consumers

    return {name: definition for name, definition in consumers().items() if not name.startswith("bridge-test")}


def load_values(path: Path) -> dict[str, Any]:
    return helm.values_from_yaml(path.read_text())


@functools.cache
def _render(values_path: Path | None) -> tuple[tuple[str, dict[str, Any]], ...]:
    values = load_values(values_path) if values_path else None
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return tuple(
        (template, document)
        for template, text in sorted(rendered.items())
        if template.endswith((".yaml", ".yml"))
        for document in yaml.safe_load_all(text)
        if document
    )


def render(values_path: Path | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(template path, manifest) for every object the chart renders with these values."""
    return list(_render(values_path))


def render_values(values: dict[str, Any]) -> list[dict[str, Any]]:
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [
        document
        for template, text in rendered.items()
        if template.endswith((".yaml", ".yml"))
        for document in yaml.safe_load_all(text)
        if document
    ]


def validate_manifest(manifest: dict[str, Any], kubernetes_version: str) -> None:
    """Raise if `manifest` does not match its kind's schema."""
    custom = CUSTOM_RESOURCE_SCHEMAS.get(manifest.get("kind", ""))
    if custom is not None:
        jsonschema.validate(manifest, custom)
        return
    kubernetes_validate.validate(manifest, kubernetes_version, strict=True)


def by_kind(manifests: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for _, m in manifests if m["kind"] == kind}
