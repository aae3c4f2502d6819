"""The Helm chart (deploy/helm/voxgate): rendered by Helm's own engine, checked against the schemas.

``helm-python-sdk`` runs Helm's Go SDK in-process (no ``helm`` binary to download), and
``kubernetes-validate`` carries the Kubernetes OpenAPI schemas, so nothing is fetched at test
time. Every manifest is validated strictly (unknown fields are errors) for the oldest and the
newest Kubernetes the chart's ``kubeVersion`` admits that the schemas cover.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from voxgate.config import ServerSettings

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "voxgate"
KUBERNETES = ("1.25.0", "1.37.0")
EVERYTHING: dict[str, Any] = {
    "config": "[server]\nmax_upload_bytes = 52428800\n",
    "env": [{"name": "CHAT_COMPLETION_BASE_URL", "value": "http://ollama:11434/v1"}],
    "apiKeys": {"values": ["key-one", "key-two"]},
    "ingress": {"enabled": True, "className": "nginx", "tls": [{"secretName": "tls"}]},
    "autoscaling": {"enabled": True, "queueDepth": {"enabled": True}},
    "modelCache": {"persistence": True, "accessModes": ["ReadWriteMany"]},
    "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "8Gi"}},
    "nodeSelector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name="demo", namespace="voice")
    return [
        doc
        for name, text in sorted(files.items())
        if name.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def by_kind(manifests: list[dict[str, Any]], kind: str, name: str = "demo-voxgate") -> dict:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def env(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["name"]: item for item in container(manifests)["env"]}


@pytest.mark.parametrize(
    "values",
    [
        {},
        EVERYTHING,
        {"redis": {"enabled": False}, "externalRedis": {"url": "redis://cache:6379/0"}},
        {"redis": {"enabled": False}, "externalRedis": {"existingSecret": "state"}},
        {"redis": {"enabled": False}, "replicaCount": 1},
    ],
    ids=["defaults", "everything", "external-url", "external-secret", "single"],
)
@pytest.mark.parametrize("kubernetes", KUBERNETES)
def test_every_manifest_is_valid_kubernetes(values: dict[str, Any], kubernetes: str) -> None:
    manifests = render(values)
    assert manifests
    for manifest in manifests:
        kubernetes_validate.validate(manifest, kubernetes, strict=True)


def test_the_validation_catches_a_misspelt_field() -> None:
    deployment = by_kind(render({}), "Deployment")
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES[0], strict=True)


def test_the_chart_lints_clean() -> None:
    result = helm.lint(str(CHART))
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []


def test_probes_use_health_and_the_draining_ready() -> None:
    manifests = render({})
    server = container(manifests)
    assert server["livenessProbe"]["httpGet"]["path"] == "/health"
    assert server["readinessProbe"]["httpGet"]["path"] == "/ready"
    pod = by_kind(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > ServerSettings().shutdown_timeout + 5, (
        "the drain (shutdown_timeout) and the preStop sleep fit in the grace period"
    )
    assert server["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]


def test_replicas_share_the_charts_valkey() -> None:
    manifests = render({})
    assert env(manifests)["VOXGATE_STATE_URL"]["value"] == "redis://demo-voxgate-valkey:6379/0"
    valkey = by_kind(manifests, "Deployment", "demo-voxgate-valkey")
    service = by_kind(manifests, "Service")
    pod_labels = valkey["spec"]["template"]["metadata"]["labels"]
    assert not set(service["spec"]["selector"].items()) <= set(pod_labels.items()), (
        "the voxgate Service never sends API traffic to the Valkey pod"
    )
    assert "volatile-lru" in valkey["spec"]["template"]["spec"]["containers"][0]["args"]


def test_external_state_url_from_a_secret() -> None:
    values = {"redis": {"enabled": False}, "externalRedis": {"existingSecret": "state"}}
    manifests = render(values)
    reference = env(manifests)["VOXGATE_STATE_URL"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "state", "key": "redis-url"}
    assert not [m for m in manifests if "valkey" in m["metadata"]["name"]]


def test_several_replicas_without_shared_state_are_refused() -> None:
    with pytest.raises(helm.HelmError, match="more than one replica needs shared state"):
        render({"redis": {"enabled": False}})


def test_everything_optional_renders_as_asked() -> None:
    manifests = render(EVERYTHING)
    keys = env(manifests)["VOXGATE_API_KEYS"]["valueFrom"]["secretKeyRef"]
    secret = by_kind(manifests, "Secret", keys["name"])
    assert secret["stringData"][keys["key"]] == "key-one,key-two"
    hpa = by_kind(manifests, "HorizontalPodAutoscaler")
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "voxgate_engine_queue_depth"
    assert "replicas" not in by_kind(manifests, "Deployment")["spec"], "the HPA owns the count"
    ingress = by_kind(manifests, "Ingress")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]
    claim = by_kind(manifests, "PersistentVolumeClaim", "demo-voxgate-models")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    config = by_kind(manifests, "ConfigMap")
    assert config["data"]["voxgate.toml"].startswith("[server]")
    server = container(manifests)
    assert server["args"][-2:] == ["--config", "/etc/voxgate/voxgate.toml"]
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    pod = by_kind(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
