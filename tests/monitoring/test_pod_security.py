"""Pod Security of the monitoring namespaces (offline/validators/monitoring/pod_security.py,
docs/monitoring.md "Pod Security"): `monitoring` enforces baseline and warns and audits
restricted, `node-exporter` is privileged for node-exporter alone. Every pod kube-prometheus-stack
puts in a namespace meets what that namespace enforces, and nothing in `monitoring` would even
draw a restricted warning."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.validators.cluster_objects import pod_template
from offline.validators.disruption.objects import Placed, selector_matches
from offline.validators.monitoring.pod_security import (
    namespace_levels,
    pod_security_problems,
)
from tests.conftest import STACKS
from tests.offline.test_storage_binding import shipped_objects

MONITORING_NAMESPACES = ("monitoring", "node-exporter")

#: The securityContext prometheus-operator gives every container it makes for a Prometheus or
#: Alertmanager pod: prometheus, alertmanager, config-reloader and init-config-reloader
#: (prometheus-operator v0.93.0 pkg/prometheus/server/statefulset.go,
#: pkg/alertmanager/statefulset.go, pkg/operator/config_reloader.go `CreateConfigReloader`).
#: offline/validators/gitops/operator.py derives the StatefulSets without it.
OPERATOR_CONTAINER_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def _namespaces(objects: list[Placed]) -> dict[str, dict[str, str]]:
    return {
        o.manifest["metadata"]["name"]: o.manifest["metadata"].get("labels") or {}
        for o in objects
        if o.manifest.get("kind") == "Namespace"
    }


def _workloads(objects: list[Placed], namespace: str) -> list[Placed]:
    return [o for o in objects if o.namespace == namespace and pod_template(o.manifest)]


def _name(placed: Placed) -> str:
    return f"{placed.manifest['kind']} {placed.namespace}/{placed.manifest['metadata']['name']}"


def _as_the_operator_makes_it(placed: Placed) -> dict[str, Any]:
    """The pod spec of a workload, with the operator's container securityContext for the
    StatefulSets it makes."""
    _, spec = pod_template(placed.manifest) or ({}, {})
    spec = copy.deepcopy(spec)
    labels = placed.manifest["metadata"].get("labels") or {}
    if labels.get("app.kubernetes.io/managed-by") == "prometheus-operator":
        for group in ("initContainers", "containers"):
            for container in spec.get(group) or []:
                container.setdefault("securityContext", copy.deepcopy(OPERATOR_CONTAINER_CONTEXT))
    return spec


def _annotations(placed: Placed) -> dict[str, str]:
    template = (placed.manifest.get("spec") or {}).get("template") or {}
    return (template.get("metadata") or {}).get("annotations") or {}


@pytest.mark.parametrize("stack", STACKS)
def test_the_monitoring_namespaces_levels(stack: str) -> None:
    """That every pod meets what its namespace enforces, warns and audits, in these namespaces
    and all others, is tests/offline/test_pod_security_namespaces.py (with the operator's
    securityContext above)."""
    objects = list(shipped_objects(stack))
    namespaces = _namespaces(objects)
    levels = {ns: namespace_levels(namespaces[ns]) for ns in MONITORING_NAMESPACES}
    assert levels["monitoring"] == {
        "enforce": "baseline",
        "warn": "restricted",
        "audit": "restricted",
    }
    assert levels["node-exporter"]["enforce"] == "privileged"


@pytest.mark.parametrize("stack", STACKS)
def test_node_exporter_alone_needs_the_privileged_namespace(stack: str) -> None:
    """node-exporter is where the chart's `namespaceOverride` puts it, alone, and it could run
    nowhere stricter; in `monitoring` the admission would refuse its pods."""
    objects = list(shipped_objects(stack))
    [node_exporter] = _workloads(objects, "node-exporter")
    assert _name(node_exporter) == "DaemonSet node-exporter/node-exporter"
    spec = _as_the_operator_makes_it(node_exporter)
    problems = pod_security_problems(spec, "baseline")
    assert "hostNetwork: host namespaces" in problems
    assert "hostPID: host namespaces" in problems
    assert any(p.endswith(": hostPath volume") for p in problems)
    names = {_name(p) for p in _workloads(objects, "monitoring")}
    assert names == {
        "Deployment monitoring/grafana",
        "Deployment monitoring/kube-state-metrics",
        "Deployment monitoring/kube-prometheus-stack-operator",
        "StatefulSet monitoring/prometheus-kube-prometheus-stack-prometheus",
        "StatefulSet monitoring/alertmanager-kube-prometheus-stack-alertmanager",
    }


POD: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "c",
            "image": "x:1",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ],
    "volumes": [{"name": "v", "emptyDir": {}}],
}


def test_a_minimal_hardened_pod_is_restricted() -> None:
    assert pod_security_problems(POD, "restricted") == []
    assert pod_security_problems({"containers": [{"name": "c"}]}, "baseline") == []
    assert pod_security_problems({"hostNetwork": True}, "privileged") == []


def _changed(path: list[str | int], value: Any) -> dict[str, Any]:
    pod = copy.deepcopy(POD)
    target: Any = pod
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[path[-1]] = value
    return pod


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["hostNetwork"], True, "hostNetwork: host namespaces"),
        (["hostIPC"], True, "hostIPC: host namespaces"),
        (["volumes"], [{"name": "root", "hostPath": {"path": "/"}}], "hostPath volume"),
        (["containers", 0, "securityContext", "privileged"], True, "privileged container"),
        (
            ["containers", 0, "securityContext", "capabilities", "add"],
            ["NET_ADMIN"],
            "['NET_ADMIN'] beyond the baseline's",
        ),
        (["containers", 0, "ports"], [{"name": "p", "hostPort": 9100}], "hostPort 9100"),
        (["securityContext", "seccompProfile"], {"type": "Unconfined"}, "Unconfined"),
        (
            ["securityContext", "sysctls"],
            [{"name": "net.core.somaxconn", "value": "1024"}],
            "net.core.somaxconn is not a safe sysctl",
        ),
        (["containers", 0, "securityContext", "procMount"], "Unmasked", "procMount"),
        (
            ["securityContext", "seLinuxOptions"],
            {"type": "spc_t"},
            "seLinuxOptions.type: 'spc_t'",
        ),
    ],
)
def test_each_baseline_control_is_checked(path: list[str | int], value: Any, message: str) -> None:
    problems = pod_security_problems(_changed(path, value), "baseline")
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["containers", 0, "securityContext", "allowPrivilegeEscalation"],
            True,
            "allowPrivilegeEscalation: must be false",
        ),
        (["securityContext", "runAsNonRoot"], False, "runAsNonRoot: must be true"),
        (["securityContext", "seccompProfile"], None, "seccompProfile: RuntimeDefault"),
        (["containers", 0, "securityContext", "capabilities"], {}, "drop: must include ALL"),
        (["volumes"], [{"name": "nfs", "nfs": {"server": "x"}}], "['nfs'] volume"),
    ],
)
def test_each_restricted_control_is_checked(
    path: list[str | int], value: Any, message: str
) -> None:
    pod = _changed(path, value)
    assert pod_security_problems(pod, "baseline") == []
    problems = pod_security_problems(pod, "restricted")
    assert any(message in p for p in problems), problems


def test_an_apparmor_annotation_other_than_the_runtimes_is_refused() -> None:
    key = "container.apparmor.security.beta.kubernetes.io/c"
    assert pod_security_problems(POD, "baseline", {key: "runtime/default"}) == []
    assert pod_security_problems(POD, "baseline", {key: "unconfined"})


def test_namespace_levels() -> None:
    assert namespace_levels({}) == {
        "enforce": "privileged",
        "warn": "privileged",
        "audit": "privileged",
    }
    with pytest.raises(ValueError, match="not a level"):
        namespace_levels({"pod-security.kubernetes.io/enforce": "strict"})


@pytest.mark.parametrize("stack", STACKS)
def test_node_exporter_is_still_scraped_in_its_own_namespace(stack: str) -> None:
    """The subchart's ServiceMonitor moves with it (`namespaceOverride`): in `node-exporter`,
    without a namespaceSelector (its own namespace), it selects the node-exporter Service there,
    whose port reaches the DaemonSet's 9100; Prometheus reads ServiceMonitors of every
    namespace (an empty serviceMonitorNamespaceSelector)."""
    objects = list(shipped_objects(stack))
    [monitor] = [
        o.manifest
        for o in objects
        if o.manifest.get("kind") == "ServiceMonitor"
        and o.manifest["metadata"]["name"] == "node-exporter"
    ]
    assert monitor["metadata"]["namespace"] == "node-exporter"
    assert not monitor["spec"].get("namespaceSelector")
    services = [
        o.manifest
        for o in objects
        if o.manifest.get("kind") == "Service"
        and o.namespace == "node-exporter"
        and selector_matches(monitor["spec"]["selector"], o.manifest["metadata"].get("labels"))
    ]
    assert [s["metadata"]["name"] for s in services] == ["node-exporter"]
    [port] = [p for p in services[0]["spec"]["ports"] if p["name"] == "http-metrics"]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http-metrics"
    [daemonset] = _workloads(objects, "node-exporter")
    _, spec = pod_template(daemonset.manifest) or ({}, {})
    assert port["targetPort"] in [
        p["containerPort"] for c in spec["containers"] for p in c.get("ports") or []
    ]
    assert selector_matches(services[0]["spec"]["selector"], pod_template(daemonset.manifest)[0])
    [prometheus] = [o.manifest for o in objects if o.manifest.get("kind") == "Prometheus"]
    assert prometheus["spec"]["serviceMonitorNamespaceSelector"] == {}
    assert prometheus["spec"]["serviceMonitorSelector"] == {}
