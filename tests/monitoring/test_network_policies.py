"""The NetworkPolicies of `monitoring` (gitops/platform/monitoring/base/networkpolicies.yaml,
docs/monitoring.md "NetworkPolicies of monitoring"), evaluated over what each stack runs (the
program's objects, its Helm releases and the GitOps environment) by
offline/validators/monitoring/network_policy.py: every pod of the namespace is closed to ingress
by default; Prometheus, Alertmanager and Grafana are reached by exactly who needs them; and
Prometheus still scrapes every port of kube-prometheus-stack's own ServiceMonitors there."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.validators.cluster_objects import pod_template, selected_workloads
from offline.validators.disruption.objects import Placed, selector_matches
from offline.validators.monitoring.network_policy import Endpoint, admits, ingress_selected
from tests.conftest import STACKS
from tests.offline.test_storage_binding import shipped_objects

NAMESPACE = "monitoring"
POLICY_FILE = "gitops/platform/monitoring/base/networkpolicies.yaml"

#: The workloads by a short name: (namespace, kind, name).
WORKLOADS = {
    "prometheus": ("monitoring", "StatefulSet", "prometheus-kube-prometheus-stack-prometheus"),
    "alertmanager": (
        "monitoring",
        "StatefulSet",
        "alertmanager-kube-prometheus-stack-alertmanager",
    ),
    "grafana": ("monitoring", "Deployment", "grafana"),
    "kube-state-metrics": ("monitoring", "Deployment", "kube-state-metrics"),
    "operator": ("monitoring", "Deployment", "kube-prometheus-stack-operator"),
    "cloudflared": ("cloudflared", "Deployment", "cloudflared"),
    "argocd-server": ("argocd", "Deployment", "argocd-server"),
    "node-exporter": ("node-exporter", "DaemonSet", "node-exporter"),
}

#: The config reloader's port in every pod the operator makes (prometheus-operator v0.93.0
#: pkg/operator/config_reloader.go: `reloader-web`, `configReloaderPort` 8080), which
#: offline/validators/gitops/operator.py leaves out of the StatefulSets it derives.
RELOADER_PORT = {"name": "reloader-web", "containerPort": 8080, "protocol": "TCP"}

#: Who must reach whom: (source, target, port, protocol).
NEEDED = [
    ("grafana", "prometheus", 9090, "TCP"),  # the data source
    ("cloudflared", "prometheus", 9090, "TCP"),  # the admin hostname
    ("prometheus", "prometheus", 9090, "TCP"),  # self-monitoring, the other replica
    ("prometheus", "prometheus", 8080, "TCP"),  # the config reloader's metrics
    ("prometheus", "alertmanager", 9093, "TCP"),  # alerts
    ("grafana", "alertmanager", 9093, "TCP"),  # the Alertmanager data source
    ("cloudflared", "alertmanager", 9093, "TCP"),
    ("prometheus", "alertmanager", 8080, "TCP"),
    ("alertmanager", "alertmanager", 9094, "TCP"),  # gossip
    ("alertmanager", "alertmanager", 9094, "UDP"),
    ("cloudflared", "grafana", 3000, "TCP"),
    ("prometheus", "grafana", 3000, "TCP"),
    ("prometheus", "kube-state-metrics", 8080, "TCP"),
    ("prometheus", "operator", 8080, "TCP"),
    # node-exporter is on the host's network: no NetworkPolicy applies
    ("prometheus", "node-exporter", 9100, "TCP"),
]
#: Who must not.
REFUSED = [
    ("argocd-server", "prometheus", 9090, "TCP"),
    ("kube-state-metrics", "prometheus", 9090, "TCP"),
    ("cloudflared", "prometheus", 8080, "TCP"),
    ("argocd-server", "alertmanager", 9093, "TCP"),
    ("kube-state-metrics", "alertmanager", 9093, "TCP"),
    ("prometheus", "alertmanager", 9094, "TCP"),
    ("cloudflared", "alertmanager", 9094, "UDP"),
    ("argocd-server", "grafana", 3000, "TCP"),
    ("alertmanager", "grafana", 3000, "TCP"),
    ("cloudflared", "grafana", 6060, "TCP"),  # Grafana's profiling port
    ("cloudflared", "kube-state-metrics", 8080, "TCP"),
    ("grafana", "kube-state-metrics", 8080, "TCP"),
    ("prometheus", "kube-state-metrics", 8081, "TCP"),  # its own telemetry: not scraped
    ("grafana", "operator", 8080, "TCP"),
]


def _namespace_labels(objects: list[Placed]) -> dict[str, dict[str, str]]:
    return {
        o.manifest["metadata"]["name"]: o.manifest["metadata"].get("labels") or {}
        for o in objects
        if o.manifest.get("kind") == "Namespace"
    }


def endpoint(placed: Placed, objects: list[Placed]) -> Endpoint:
    labels, spec = pod_template(placed.manifest) or ({}, {})
    ports = [
        port
        for group in ("containers", "initContainers")
        for container in spec.get(group) or []
        for port in container.get("ports") or []
    ]
    metadata = placed.manifest["metadata"]
    if (metadata.get("labels") or {}).get("app.kubernetes.io/managed-by") == (
        "prometheus-operator"
    ):
        ports.append(RELOADER_PORT)
    return Endpoint(
        namespace=placed.namespace,
        labels=dict(labels),
        ports=tuple(ports),
        host_network=bool(spec.get("hostNetwork")),
        namespace_labels=_namespace_labels(objects).get(placed.namespace, {}),
    )


def workload(objects: list[Placed], short: str) -> Placed:
    namespace, kind, name = WORKLOADS[short]
    [found] = [
        o
        for o in objects
        if o.namespace == namespace
        and o.manifest.get("kind") == kind
        and o.manifest["metadata"]["name"] == name
    ]
    return found


def policies(objects: list[Placed]) -> list[dict[str, Any]]:
    return [o.manifest for o in objects if o.manifest.get("kind") == "NetworkPolicy"]


def _flow(objects: list[Placed], source: str, target: str, port: int, protocol: str) -> bool:
    return admits(
        policies(objects),
        endpoint(workload(objects, source), objects),
        endpoint(workload(objects, target), objects),
        port,
        protocol,
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_of_monitoring_is_closed_to_ingress_by_default(stack: str) -> None:
    objects = list(shipped_objects(stack))
    ours = [p for p in policies(objects) if p["metadata"]["namespace"] == NAMESPACE]
    assert {p["metadata"]["name"] for p in ours} == {
        "default-deny-ingress",
        "prometheus",
        "alertmanager",
        "grafana",
        "kube-state-metrics",
        "prometheus-operator",
    }
    # Ingress only: what the pods of monitoring reach is not restricted here.
    assert all(p["spec"]["policyTypes"] == ["Ingress"] for p in ours)
    pods = [o for o in objects if o.namespace == NAMESPACE and pod_template(o.manifest)]
    assert len(pods) == 5
    for placed in pods:
        assert ingress_selected(ours, endpoint(placed, objects)), placed.manifest["metadata"]


@pytest.mark.parametrize("stack", STACKS)
def test_each_policy_selects_pods_that_exist(stack: str) -> None:
    """The selectors are the rendered pods' labels: every policy's podSelector and every peer's
    selects at least one workload (a label renamed in a chart upgrade shows here)."""
    objects = list(shipped_objects(stack))
    templates = [(o.namespace, (pod_template(o.manifest) or ({}, {}))[0]) for o in objects]
    templates = [(ns, labels) for ns, labels in templates if labels]
    namespace_labels = _namespace_labels(objects)
    for policy in policies(objects):
        if policy["metadata"]["namespace"] != NAMESPACE:
            continue
        name = policy["metadata"]["name"]
        assert any(
            ns == NAMESPACE and selector_matches(policy["spec"]["podSelector"], labels)
            for ns, labels in templates
        ), name
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    spaces = {
                        ns
                        for ns, labels in namespace_labels.items()
                        if selector_matches(
                            peer["namespaceSelector"], {**labels, "kubernetes.io/metadata.name": ns}
                        )
                    }
                else:
                    spaces = {NAMESPACE}
                assert spaces, (name, peer)
                assert any(
                    ns in spaces and selector_matches(peer.get("podSelector") or {}, labels)
                    for ns, labels in templates
                ), (name, peer)


@pytest.mark.parametrize("stack", STACKS)
def test_who_needs_them_reaches_prometheus_alertmanager_and_grafana(stack: str) -> None:
    objects = list(shipped_objects(stack))
    refused = [flow for flow in NEEDED if not _flow(objects, *flow)]
    assert refused == []


@pytest.mark.parametrize("stack", STACKS)
def test_nobody_else_gets_in(stack: str) -> None:
    objects = list(shipped_objects(stack))
    admitted = [flow for flow in REFUSED if _flow(objects, *flow)]
    assert admitted == []
    # Without the policies, every one of them would get in.
    without = [o for o in objects if o.where != POLICY_FILE or o.namespace != NAMESPACE]
    assert all(_flow(without, *flow) for flow in REFUSED)


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_scrapes_every_port_of_the_charts_monitors(stack: str) -> None:
    """kube-prometheus-stack's ServiceMonitors of the pods in `monitoring`: each endpoint's port,
    through its Service to the pods' container port, is open to Prometheus."""
    objects = list(shipped_objects(stack))
    prometheus = endpoint(workload(objects, "prometheus"), objects)
    services = [o for o in objects if o.manifest.get("kind") == "Service"]
    checked = []
    for monitor in (o.manifest for o in objects if o.manifest.get("kind") == "ServiceMonitor"):
        namespaces = (monitor["spec"].get("namespaceSelector") or {}).get("matchNames") or [
            monitor["metadata"]["namespace"]
        ]
        for service in services:
            labels = service.manifest["metadata"].get("labels") or {}
            if service.namespace not in namespaces or service.namespace != NAMESPACE:
                continue
            if not selector_matches(monitor["spec"]["selector"], labels):
                continue
            ports = {p.get("name"): p for p in service.manifest["spec"]["ports"]}
            for target in selected_workloads(service, objects):
                pod = endpoint(target, objects)
                for entry in monitor["spec"]["endpoints"]:
                    port = ports[entry["port"]]
                    wanted = port.get("targetPort", port["port"])
                    [number] = [
                        p["containerPort"]
                        for p in pod.ports
                        if wanted in (p.get("name"), p.get("containerPort"))
                    ]
                    name = f"{monitor['metadata']['name']} -> {target.manifest['metadata']['name']}"
                    checked.append((name, number))
                    assert admits(policies(objects), prometheus, pod, number), (name, number)
    assert {number for _, number in checked} == {9090, 9093, 8080, 3000}
    assert len({name for name, _ in checked}) == 5


def test_a_peer_in_another_namespace_needs_its_namespace_selector() -> None:
    """A `podSelector` alone picks pods of the policy's own namespace: cloudflared's labels
    without the namespace selector would not admit the tunnel."""
    objects = list(shipped_objects("dev"))
    changed = copy.deepcopy(policies(objects))
    for policy in changed:
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule.get("from") or []:
                peer.pop("namespaceSelector", None)
    cloudflared = endpoint(workload(objects, "cloudflared"), objects)
    grafana = endpoint(workload(objects, "grafana"), objects)
    assert admits(policies(objects), cloudflared, grafana, 3000)
    assert not admits(changed, cloudflared, grafana, 3000)
