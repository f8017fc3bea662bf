"""What the Prometheus Operator creates from the custom resources the tree renders, as far as
the checks need it: the StatefulSets of each `Prometheus` and `Alertmanager`.

Nothing in Git or in a chart is the Prometheus or Alertmanager pod: the operator (deployed by
kube-prometheus-stack) makes a StatefulSet for each such resource. Without them, the scheduling
check would not place Prometheus (the largest pod of the stack), the storage check would not see
its volume claim, and the PodDisruptionBudgets the chart renders for them would select nothing.
So the environment's render gets, beside each resource, the StatefulSet(s) the operator would
make from it, with what those checks read: replicas, pod labels and selector, containers and
their resources (the config-reloader sidecar and init container with the resources the
operator's `--config-reloader-*` flags give them), node selector, affinity, tolerations,
topology spread, priority, host network, volumes and volume claim templates. Built the way
prometheus-operator v0.93.0 builds them (kube-prometheus-stack 88.5.3 runs v0.93.1; v0.93.0 is
the newest tag in the mirror this was read from, and v0.93.1 is a patch release):

- Prometheus: `pkg/prometheus/server/statefulset.go` (`makeStatefulSet`, `makeStatefulSetSpec`),
  one StatefulSet per shard named `prometheus-<name>` (`-shard-<n>` from the second on,
  `pkg/prometheus/common.go`, `prometheusNameByShard`), `spec.replicas` pods each (default 1,
  `ReplicasNumberPtr`), selector labels from `pkg/prometheus/server/operator.go`
  (`makeSelectorLabels`) plus `operator.prometheus.io/shard`; topology spread constraints with
  `additionalLabelSelectors` get the selector labels (`MakeK8sTopologySpreadConstraint`);
- Alertmanager: `pkg/alertmanager/statefulset.go`, named `alertmanager-<name>`, `spec.replicas`
  pods (default 1), a memory request of 200Mi when none is given (`makeStatefulSet`), selector
  labels from `pkg/alertmanager/operator.go` (`makeSelectorLabels`);
- storage: `spec.storage.volumeClaimTemplate` becomes a claim template named
  `<prefix>-<name>-db` unless it has a name, `ReadWriteOnce` unless it gives access modes
  (`pkg/operator/types.go`, `MakeVolumeClaimTemplate`); otherwise an `emptyDir` volume;
- `spec.containers` and `spec.initContainers` are merged into the operator's by name
  (`pkg/k8s`, `MergePatchContainers`: a strategic merge; here a container of the same name gets
  the given fields, others are added).

Only the operator's own Deployment makes them: a Deployment with its `--prometheus-config-reloader`
flag must be in the environment. Its `--namespaces` (watch only these) is followed; the
operator's other objects (the governing Services, configuration Secrets, rule ConfigMaps) take
no capacity and are not modelled.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .schemas import MONITORING_GROUP, describe
from .tree import RenderedObject

API_VERSION = f"{MONITORING_GROUP}/v1"
#: The operator's flag that names the config-reloader image (cmd/operator/main.go): how its
#: Deployment is recognised.
RELOADER_IMAGE_FLAG = "--prometheus-config-reloader="
#: Its flags for the config-reloader's resources (cmd/operator/main.go; "0" leaves one unset).
RELOADER_FLAGS = {
    "--config-reloader-cpu-request=": ("requests", "cpu"),
    "--config-reloader-memory-request=": ("requests", "memory"),
    "--config-reloader-cpu-limit=": ("limits", "cpu"),
    "--config-reloader-memory-limit=": ("limits", "memory"),
}
#: Without the flags, the operator's own defaults (cmd/operator/main.go, defaultReloaderCPU and
#: defaultReloaderMemory: requests and limits both).
DEFAULT_RELOADER = {
    "requests": {"cpu": "10m", "memory": "50Mi"},
    "limits": {"cpu": "10m", "memory": "50Mi"},
}
MANAGED_BY = {"app.kubernetes.io/managed-by": "prometheus-operator"}
ALERTMANAGER_DEFAULT_MEMORY = "200Mi"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
ALERTMANAGER_MESH_PORT = 9094


@dataclass(frozen=True)
class Operator:
    """A Prometheus Operator of the environment: its config-reloader image and resources, and
    the namespaces it watches (None: all)."""

    reloader_image: str
    reloader_resources: dict[str, dict[str, str]]
    namespaces: frozenset[str] | None


def operators(rendered: dict[str, list[RenderedObject]]) -> list[Operator]:
    """Every Prometheus Operator Deployment of a rendered environment."""
    found = []
    for items in rendered.values():
        for item in items:
            if item.manifest.get("kind") != "Deployment":
                continue
            pod = ((item.manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
            for container in pod.get("containers") or []:
                args = [str(a) for a in container.get("args") or []]
                image = _flag(args, RELOADER_IMAGE_FLAG)
                if image is not None:
                    found.append(_operator(image, args))
    return found


def _flag(args: list[str], prefix: str) -> str | None:
    values = [arg.removeprefix(prefix) for arg in args if arg.startswith(prefix)]
    return values[-1] if values else None


def _operator(image: str, args: list[str]) -> Operator:
    resources: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
    for prefix, (section, resource) in RELOADER_FLAGS.items():
        value = _flag(args, prefix)
        if value is None:
            value = DEFAULT_RELOADER[section][resource]
        if value != "0":
            resources[section][resource] = value
    namespaces = _flag(args, "--namespaces=")
    watched = frozenset(filter(None, namespaces.split(","))) if namespaces else None
    return Operator(image, {k: v for k, v in resources.items() if v}, watched)


def managed_objects(rendered: dict[str, list[RenderedObject]]) -> dict[str, list[RenderedObject]]:
    """The StatefulSets the environment's Prometheus Operator makes, by render key
    (`prometheus-operator (Prometheus monitoring/x)`), each with the file of the resource it
    comes from; empty without an operator."""
    found = operators(rendered)
    if not found:
        return {}
    operator = found[0]
    out: dict[str, list[RenderedObject]] = {}
    for items in rendered.values():
        for item in items:
            manifest = item.manifest
            if manifest.get("apiVersion") != API_VERSION:
                continue
            namespace = str((manifest.get("metadata") or {}).get("namespace") or "")
            if operator.namespaces is not None and namespace not in operator.namespaces:
                continue
            if manifest.get("kind") == "Prometheus":
                made = prometheus_statefulsets(manifest, operator)
            elif manifest.get("kind") == "Alertmanager":
                made = [alertmanager_statefulset(manifest, operator)]
            else:
                continue
            key = f"prometheus-operator ({describe(manifest)})"
            out[key] = [RenderedObject(manifest=m, origin=item.origin) for m in made]
    return out


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def prometheus_statefulsets(prometheus: dict[str, Any], operator: Operator) -> list[dict]:
    """The StatefulSets of one Prometheus resource, one per shard."""
    metadata = prometheus.get("metadata") or {}
    spec = prometheus.get("spec") or {}
    name = str(metadata.get("name"))
    replicas = _int(spec.get("replicas"), 1)
    replicas = 1 if replicas < 0 else replicas  # ReplicasNumberPtr
    shards = max(_int(spec.get("shards"), 1), 1)
    out = []
    for shard in range(shards):
        selector = {
            **MANAGED_BY,
            "app.kubernetes.io/name": "prometheus",
            "app.kubernetes.io/instance": name,
            "operator.prometheus.io/name": name,
            "prometheus": name,
            "operator.prometheus.io/shard": str(shard),
        }
        containers = [
            {
                "name": "prometheus",
                "image": str(
                    spec.get("image") or f"quay.io/prometheus/prometheus:{_version(spec)}"
                ),
                "ports": [{"name": "web", "containerPort": PROMETHEUS_PORT, "protocol": "TCP"}],
                "resources": copy.deepcopy(spec.get("resources") or {}),
            },
            _reloader("config-reloader", operator),
        ]
        base = f"prometheus-{name}"
        statefulset = _statefulset(
            prometheus,
            base if shard == 0 else f"{base}-shard-{shard}",
            replicas,
            selector,
            _merge_containers(containers, spec.get("containers")),
            _merge_containers(
                [_reloader("init-config-reloader", operator)], spec.get("initContainers")
            ),
            "prometheus-operated",
            f"{base}-db",
        )
        statefulset["metadata"]["labels"]["operator.prometheus.io/mode"] = "server"
        pod = statefulset["spec"]["template"]["spec"]
        constraints = [_spread(c, selector) for c in spec.get("topologySpreadConstraints") or []]
        if constraints:
            pod["topologySpreadConstraints"] = constraints
        out.append(statefulset)
    return out


def alertmanager_statefulset(alertmanager: dict[str, Any], operator: Operator) -> dict:
    """The StatefulSet of one Alertmanager resource."""
    metadata = alertmanager.get("metadata") or {}
    spec = alertmanager.get("spec") or {}
    name = str(metadata.get("name"))
    replicas = max(_int(spec.get("replicas"), 1), 0)  # makeStatefulSet: nil 1, negative 0
    resources = copy.deepcopy(spec.get("resources") or {})
    resources.setdefault("requests", {}).setdefault("memory", ALERTMANAGER_DEFAULT_MEMORY)
    selector = {
        **MANAGED_BY,
        "app.kubernetes.io/name": "alertmanager",
        "app.kubernetes.io/instance": name,
        "alertmanager": name,
    }
    ports = [{"name": "web", "containerPort": ALERTMANAGER_PORT, "protocol": "TCP"}]
    if replicas > 1 or spec.get("forceEnableClusterMode"):
        ports += [
            {"name": "mesh-tcp", "containerPort": ALERTMANAGER_MESH_PORT, "protocol": "TCP"},
            {"name": "mesh-udp", "containerPort": ALERTMANAGER_MESH_PORT, "protocol": "UDP"},
        ]
    containers = [
        {
            "name": "alertmanager",
            "image": str(spec.get("image") or f"quay.io/prometheus/alertmanager:{_version(spec)}"),
            "ports": ports,
            "resources": resources,
        },
        _reloader("config-reloader", operator),
    ]
    statefulset = _statefulset(
        alertmanager,
        f"alertmanager-{name}",
        replicas,
        selector,
        _merge_containers(containers, spec.get("containers")),
        _merge_containers(
            [_reloader("init-config-reloader", operator)], spec.get("initContainers")
        ),
        str(spec.get("serviceName") or "alertmanager-operated"),
        f"alertmanager-{name}-db",
    )
    constraints = copy.deepcopy(spec.get("topologySpreadConstraints") or [])
    if constraints:
        statefulset["spec"]["template"]["spec"]["topologySpreadConstraints"] = constraints
    return statefulset


def _version(spec: dict[str, Any]) -> str:
    version = str(spec.get("version") or "")
    return version if version.startswith("v") or not version else f"v{version}"


def _reloader(name: str, operator: Operator) -> dict[str, Any]:
    return {
        "name": name,
        "image": operator.reloader_image,
        "resources": copy.deepcopy(operator.reloader_resources),
    }


def _merge_containers(ours: list[dict[str, Any]], given: Any) -> list[dict[str, Any]]:
    """The resource's containers merged into the operator's by name."""
    merged = [dict(container) for container in ours]
    by_name = {container["name"]: container for container in merged}
    for container in given or []:
        if not isinstance(container, dict):
            continue
        if container.get("name") in by_name:
            by_name[container["name"]].update(copy.deepcopy(container))
        else:
            merged.append(copy.deepcopy(container))
    return merged


def _spread(constraint: dict[str, Any], selector: dict[str, str]) -> dict[str, Any]:
    """A Prometheus topology spread constraint as the operator writes it: with
    `additionalLabelSelectors`, the pod's selector labels join its label selector
    (`ResourceName`: all but the shard label; `OnShard`: all)."""
    out = copy.deepcopy(constraint)
    extra = out.pop("additionalLabelSelectors", None)
    if extra is None:
        return out
    labels = out.setdefault("labelSelector", {}).setdefault("matchLabels", {})
    for key, value in selector.items():
        if extra == "ResourceName" and key == "operator.prometheus.io/shard":
            continue
        labels[key] = value
    return out


def _statefulset(
    resource: dict[str, Any],
    name: str,
    replicas: int,
    selector: dict[str, str],
    containers: list[dict[str, Any]],
    init_containers: list[dict[str, Any]],
    service_name: str,
    volume_name: str,
) -> dict[str, Any]:
    """What Prometheus and Alertmanager StatefulSets have in common."""
    metadata = resource.get("metadata") or {}
    spec = resource.get("spec") or {}
    pod_metadata = spec.get("podMetadata") or {}
    version = _version(spec)
    labels = {**(pod_metadata.get("labels") or {}), **selector}
    if version:
        labels.setdefault("app.kubernetes.io/version", version.removeprefix("v"))
    pod: dict[str, Any] = {"containers": containers, "initContainers": init_containers}
    for key in (
        "nodeSelector",
        "affinity",
        "tolerations",
        "priorityClassName",
        "securityContext",
        "serviceAccountName",
        "hostNetwork",
        "schedulerName",
    ):
        if spec.get(key) not in (None, "", [], {}):
            pod[key] = copy.deepcopy(spec[key])
    volumes = copy.deepcopy(spec.get("volumes") or [])
    claims = []
    storage = spec.get("storage") or {}
    template = storage.get("volumeClaimTemplate")
    if template:
        claim_spec = copy.deepcopy(template.get("spec") or {})
        claim_spec.setdefault("accessModes", ["ReadWriteOnce"])
        claim_metadata = copy.deepcopy(template.get("metadata") or {})
        claim_metadata["name"] = claim_metadata.get("name") or volume_name
        claims.append({"metadata": claim_metadata, "spec": claim_spec})
    elif storage.get("ephemeral"):
        volumes.insert(0, {"name": volume_name, "ephemeral": copy.deepcopy(storage["ephemeral"])})
    else:
        volumes.insert(
            0, {"name": volume_name, "emptyDir": copy.deepcopy(storage.get("emptyDir") or {})}
        )
    pod["volumes"] = volumes
    statefulset: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": name,
            "namespace": metadata.get("namespace"),
            "labels": {**(metadata.get("labels") or {}), **selector},
        },
        "spec": {
            "replicas": replicas,
            "serviceName": service_name,
            "podManagementPolicy": str(spec.get("podManagementPolicy") or "Parallel"),
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    if claims:
        statefulset["spec"]["volumeClaimTemplates"] = claims
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention:
        statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] = copy.deepcopy(retention)
    return statefulset
