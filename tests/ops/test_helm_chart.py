"""The Helm chart, rendered by Helm's engine with the default and the production values."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import pytest

from core import health
from tests.ops.chart import (
    CHART,
    KUBERNETES_VERSIONS,
    PRODUCTION_VALUES,
    RELEASE,
    by_kind,
    load_values,
    production_consumers,
    render,
    render_values,
    validate_manifest,
)

CONSUMERS = production_consumers()
VALUE_FILES = {"default": None, "production": PRODUCTION_VALUES}
ROLES = ["web", "worker", "beat", "relay", *(f"consumer-{name}" for name in CONSUMERS)]


def deployments(values: str) -> dict[str, dict[str, Any]]:
    """Deployments by role (the component label)."""
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in by_kind(render(VALUE_FILES[values]), "Deployment").values()
    }


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]


@pytest.mark.parametrize("values", VALUE_FILES)
@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
def test_every_rendered_manifest_matches_the_kubernetes_schemas(values: str, kubernetes_version: str) -> None:
    manifests = render(VALUE_FILES[values])
    assert len(manifests) >= 15
    for template, manifest in manifests:
        try:
            validate_manifest(manifest, kubernetes_version)
        except Exception as exc:  # noqa: BLE001 - name the object that failed
            pytest.fail(f"{template}: {manifest['kind']}/{manifest['metadata']['name']}: {exc}")


@pytest.mark.parametrize("values", VALUE_FILES)
def test_helm_lint_finds_no_warning_or_error(values: str) -> None:
    path = VALUE_FILES[values]
    report = helm.lint(CHART, load_values(path) if path else None, strict=True, kube_version="v1.27.0")
    # Severity 1 is informational ("icon is recommended"); 2 is a warning, 3 an error.
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_schema_validation_catches_an_unknown_field() -> None:
    # Guards the guard: strict validation really rejects what Kubernetes would reject.
    _, deployment = next((t, m) for t, m in render() if m["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(Exception, match="replica"):
        validate_manifest(broken, KUBERNETES_VERSIONS[0])


@pytest.mark.parametrize("values", VALUE_FILES)
def test_every_role_and_every_registered_consumer_has_its_own_deployment(values: str) -> None:
    assert sorted(deployments(values)) == sorted(ROLES)
    for name in CONSUMERS:
        container = pod_spec(deployments(values)[f"consumer-{name}"])["containers"][0]
        assert container["args"] == ["consumer", name]


@pytest.mark.parametrize("values", VALUE_FILES)
def test_beat_runs_exactly_one_replica_and_is_recreated_never_rolled(values: str) -> None:
    beat = deployments(values)["beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "beat" not in {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in _pdbs(values)}


@pytest.mark.parametrize("values", VALUE_FILES)
def test_every_container_is_probed_limited_and_locked_down(values: str) -> None:
    for role, deployment in deployments(values).items():
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, role
        assert spec["automountServiceAccountToken"] is False, role
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in spec["volumes"], role
        (container,) = spec["containers"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] in {"http", "metrics"}, (role, probe)
        assert container["resources"]["requests"]["memory"], role
        assert container["resources"]["limits"]["memory"], role
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, role
        assert security["allowPrivilegeEscalation"] is False, role
        assert security["capabilities"]["drop"] == ["ALL"], role
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], role


@pytest.mark.parametrize("values", VALUE_FILES)
def test_web_is_probed_on_health_endpoints_and_other_roles_on_their_metrics_port(values: str) -> None:
    for role, deployment in deployments(values).items():
        container = pod_spec(deployment)["containers"][0]
        env = {e["name"]: e for e in container.get("env", [])}
        if role == "web":
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            # The kubelet and Prometheus address the pod by IP: Django must accept that Host.
            assert env["ALLOWED_HOSTS"]["value"].endswith(",$(POD_IP)")
            assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
            # Still serving while the Service and the ingress drop the endpoint.
            assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
        else:
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
            assert env["METRICS_PORT"]["value"] == "9100"
            assert deployment["spec"]["template"]["metadata"]["labels"]["todo-backend.io/metrics-port"] == "true"


@pytest.mark.parametrize("values", VALUE_FILES)
def test_only_readiness_checks_dependencies_so_an_outage_restarts_no_pod(values: str) -> None:
    """Start-up and liveness probes ask whether the process answers; readiness, which checks what
    the role needs (core/health.py), only takes a pod out of its Service while that is down."""
    for role, deployment in deployments(values).items():
        container = pod_spec(deployment)["containers"][0]
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", role
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", role
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", role


@pytest.mark.parametrize("values", VALUE_FILES)
def test_every_probed_role_is_one_whose_readiness_the_code_defines(values: str) -> None:
    """The image's role (the first argument) names the readiness its process serves."""
    for role, deployment in deployments(values).items():
        role_argument = pod_spec(deployment)["containers"][0]["args"][0]
        assert role_argument in health.ROLES, role


@pytest.mark.parametrize("values", VALUE_FILES)
def test_secrets_come_from_a_secret_reference_and_none_is_rendered_by_default(values: str) -> None:
    manifests = render(VALUE_FILES[values])
    assert by_kind(manifests, "Secret") == {}
    expected = RELEASE if values == "default" else "todo-backend-secrets"
    for deployment in by_kind(manifests, "Deployment").values():
        env_from = pod_spec(deployment)["containers"][0]["envFrom"]
        assert {"secretRef": {"name": expected}} in env_from
    config = next(iter(by_kind(manifests, "ConfigMap").values()))["data"]
    assert not {"SECRET_KEY", "DATABASE_URL", "JWT_SIGNING_KEY", "EMAIL_HOST_PASSWORD"} & set(config)
    assert config["DJANGO_ENV"] == "production"


def test_writes_skip_the_celery_relay_wakeup_only_while_the_relay_deployment_runs() -> None:
    def wakeup(manifests: list[dict[str, Any]]) -> str:
        (config,) = [m["data"] for m in manifests if m["kind"] == "ConfigMap"]
        return config["KAFKA_OUTBOX_CELERY_WAKEUP"]

    assert wakeup(render_values({})) == "false"
    assert wakeup(render_values({"relay": {"replicas": 0}})) == "true"


def test_a_development_secret_is_created_before_the_migrations_hook_when_asked() -> None:
    manifests = render_values({"secrets": {"existingSecret": "", "create": True, "data": {"SECRET_KEY": "x" * 50}}})
    (secret,) = [m for m in manifests if m["kind"] == "Secret"]
    assert secret["stringData"] == {"SECRET_KEY": "x" * 50}
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0


@pytest.mark.parametrize("values", VALUE_FILES)
def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook_with_the_full_configuration(values: str) -> None:
    manifests = render(VALUE_FILES[values])
    (job,) = by_kind(manifests, "Job").values()
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    container = pod_spec(job)["containers"][0]
    assert container["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    # A pre-install hook runs before the ConfigMap exists: the same settings are inline.
    config = next(iter(by_kind(manifests, "ConfigMap").values()))["data"]
    assert {e["name"]: e["value"] for e in container["env"]} == config


@pytest.mark.parametrize(
    "values", [{}, {"secrets": {"existingSecret": "", "create": True, "data": {"SECRET_KEY": "k" * 50}}}]
)
def test_the_migrations_hook_needs_nothing_that_the_release_creates_after_it(values: dict[str, Any]) -> None:
    """A pre-install hook runs before the release's ordinary objects exist: its pod must not need
    the release's ServiceAccount, ConfigMap or (unless it is an earlier hook) Secret."""
    manifests = render_values(values)
    hooks = {m["kind"]: m for m in manifests if "helm.sh/hook" in m["metadata"].get("annotations", {})}
    job = hooks["Job"]
    created_later = {(m["kind"], m["metadata"]["name"]) for m in manifests if m not in hooks.values()}
    spec = pod_spec(job)
    needed = {("ServiceAccount", spec["serviceAccountName"])}
    for source in spec["containers"][0].get("envFrom", []):
        needed |= {("ConfigMap", ref["name"]) for ref in [source.get("configMapRef")] if ref}
        needed |= {("Secret", ref["name"]) for ref in [source.get("secretRef")] if ref}
    assert not needed & created_later
    if "Secret" in hooks:
        weight = int(hooks["Secret"]["metadata"]["annotations"]["helm.sh/hook-weight"])
        assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])


def test_web_scales_with_an_hpa_that_owns_the_replica_count() -> None:
    manifests = render()
    (hpa,) = by_kind(manifests, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-web"
    assert "replicas" not in deployments("default")["web"]["spec"]
    without_hpa = render_values({"web": {"autoscaling": {"enabled": False}, "replicas": 4}})
    assert not [m for m in without_hpa if m["kind"] == "HorizontalPodAutoscaler"]
    (web,) = [m for m in without_hpa if m["kind"] == "Deployment" and m["metadata"]["name"] == f"{RELEASE}-web"]
    assert web["spec"]["replicas"] == 4


def test_the_ingress_routes_http_and_websockets_to_web_with_long_idle_timeouts() -> None:
    manifests = render(PRODUCTION_VALUES)
    (ingress,) = by_kind(manifests, "Ingress").values()
    (service,) = [s for s in by_kind(manifests, "Service").values() if s["spec"].get("clusterIP") != "None"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "web"
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert {p["backend"]["service"]["name"] for p in paths} == {service["metadata"]["name"]}
    assert any(p["path"] in {"/", "/ws"} for p in paths)
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert ingress["spec"]["tls"]
    assert by_kind(render(), "Ingress") == {}


def _pdbs(values: str) -> list[dict[str, Any]]:
    return list(by_kind(render(VALUE_FILES[values]), "PodDisruptionBudget").values())


@pytest.mark.parametrize("values", VALUE_FILES)
def test_pod_disruption_budgets_select_their_role(values: str) -> None:
    roles = deployments(values)
    pdbs = _pdbs(values)
    assert {"web", "worker", *(f"consumer-{n}" for n in CONSUMERS)} <= {
        p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pdbs
    }
    for pdb in pdbs:
        role = pdb["metadata"]["labels"]["app.kubernetes.io/component"]
        assert pdb["spec"]["selector"]["matchLabels"] == roles[role]["spec"]["selector"]["matchLabels"]


def test_keda_scales_each_consumer_on_its_own_group_lag_and_takes_over_its_replicas() -> None:
    manifests = render(PRODUCTION_VALUES)
    scaled = by_kind(manifests, "ScaledObject")
    assert len(scaled) == len(CONSUMERS)
    for name, definition in CONSUMERS.items():
        scaled_object = scaled[f"{RELEASE}-consumer-{name}"]
        assert scaled_object["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-consumer-{name}"
        (trigger,) = scaled_object["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == definition.group_id
        assert "replicas" not in deployments("production")[f"consumer-{name}"]["spec"]
    assert by_kind(render(), "ScaledObject") == {}


def test_the_service_monitor_scrapes_web_and_every_metrics_port() -> None:
    manifests = render(PRODUCTION_VALUES)
    (monitor,) = by_kind(manifests, "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [s for s in by_kind(manifests, "Service").values() if selector.items() <= s["metadata"]["labels"].items()]
    ports = {p["name"] for s in scraped for p in s["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports == {"http", "metrics"}
    (headless,) = [s for s in scraped if s["spec"].get("clusterIP") == "None"]
    for role, deployment in deployments("production").items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert (headless["spec"]["selector"].items() <= pod_labels.items()) == (role != "web"), role


def alert_rules() -> dict[str, dict[str, Any]]:
    (rule,) = by_kind(render(PRODUCTION_VALUES), "PrometheusRule").values()
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_alerts_cover_consumer_lag_outbox_age_dead_letters_reminders_and_notifications() -> None:
    rules = alert_rules()
    assert re.search(r"kafka_consumer_lag_messages\{.*\}\)\) > 1000$", rules["TodoConsumerLagHigh"]["expr"])
    assert rules["TodoConsumerLagOld"]["expr"].endswith("> 300")
    assert "outbox_oldest_age_seconds" in rules["TodoOutboxBacklogOld"]["expr"]
    assert "increase(outbox_events_rejected_total" in rules["TodoOutboxRowsRejected"]["expr"]
    assert "increase(kafka_records_dead_lettered_total" in rules["TodoDeadLetterGrowth"]["expr"]
    assert "reminder_fire_lag_seconds_bucket" in rules["TodoReminderFireLag"]["expr"]
    assert (
        'notification_send_attempts_total{namespace="todo",outcome=~"retry|dead"}'
        in (rules["TodoNotificationFailures"]["expr"])
    )
    assert 'outcome="dead"' in rules["TodoNotificationsDead"]["expr"]
    for name, rule in rules.items():
        assert 'namespace="todo"' in rule["expr"], name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        # Prometheus' own templates reach Alertmanager untouched by Helm.
        assert "{{ $labels" in rule["annotations"]["summary"] or "$labels" not in rule["annotations"]["summary"]
    assert by_kind(render(), "PrometheusRule") == {}


def test_alert_metric_names_are_the_ones_the_code_exports() -> None:
    """Every metric an alert reads must be defined by the code, or the alert never fires."""
    import importlib

    from prometheus_client import REGISTRY

    for module in (
        "core.metrics",
        "kafka_bridge.metrics",
        "kafka_bridge.lag_exporter",
        "sync_app.metrics",
        "notifications_app.metrics",
        "tasks_app.metrics",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue
    exported = {sample for metric in REGISTRY.collect() for sample in _sample_names(metric)}
    used = {
        name
        for rule in alert_rules().values()
        for name in re.findall(r"([a-z_][a-z0-9_]*)\{", rule["expr"])
        if name != "up"
    }
    assert {"outbox_oldest_age_seconds", "kafka_consumer_lag_messages", "kafka_consumer_lag_seconds"} <= used
    assert sorted(used - exported) == []


def _sample_names(metric: Any) -> set[str]:
    names = {metric.name}
    if metric.type == "counter":
        names.add(f"{metric.name}_total")
    if metric.type == "histogram":
        names |= {f"{metric.name}_bucket", f"{metric.name}_sum", f"{metric.name}_count"}
    return names
