"""Can every HorizontalPodAutoscaler read its metrics and its target?

The HPA controller reads each metric from an aggregated API (kube-controller-manager
cmd/kube-controller-manager/app/autoscaling.go builds its client from three: the resource
metrics API `metrics.k8s.io/v1beta1` for `Resource` and `ContainerResource` metrics, the
custom metrics API `custom.metrics.k8s.io` in whichever version discovery offers (v1beta2 or
v1beta1) for `Pods` and `Object`, the external metrics API `external.metrics.k8s.io/v1beta1` for
`External`). Each is an APIService among the stack's objects whose `spec.service` is a Service
among them, on the APIService's port (443 by default), selecting the pods of a workload. Without
one the controller records FailedGet<Type>Metric and never scales
(pkg/controller/podautoscaler/horizontal.go). The API server must also be able to trust the
backend: it calls the Service over TLS with `spec.caBundle` as its only CA, or without
verification when `spec.insecureSkipTLSVerify` is true (kubernetes
staging/src/k8s.io/kube-aggregator/pkg/apiserver/handler_proxy.go, updateAPIService; the
transport is built from `CAData: apiService.Spec.CABundle`, `Insecure:
apiService.Spec.InsecureSkipTLSVerify`). With neither it verifies the backend's certificate
against no CA at all and every call fails (the APIService turns Available=False,
FailedDiscoveryCheck); with both the API server refuses the object (pkg/apis/apiregistration/
validation/validation.go, "may not be true if caBundle is present"). A cert-manager CA
injector annotation counts as a caBundle: cert-manager writes it.

An HPA without metrics scales on CPU at 80 % utilization (pkg/apis/autoscaling/v2/defaults.go,
SetDefaults_HorizontalPodAutoscaler); an autoscaling/v1 HPA on CPU at
`targetCPUUtilizationPercentage`, 80 % when unset.

Its `scaleTargetRef` must exist (else FailedGetScale). A `Utilization` target divides usage by
the pods' requests: every container measured (all containers and restartable init containers
for `Resource`, the named one for `ContainerResource`) needs a request for the resource, else
"missing request for <resource> in container <c> of Pod <p>" and FailedGetResourceMetric
(pkg/controller/podautoscaler/replica_calculator.go, calculatePodRequestsFromContainers). A
limit without request counts, as the API server copies it into the request
(pkg/apis/core/v1/defaults.go, SetDefaults_Pod); so do pod-level requests for `Resource`
metrics (PodLevelResources, calculatePodLevelRequests in the same file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .cluster_objects import (
    Findings,
    annotations_of,
    as_list,
    as_map,
    find,
    name_of,
    of_kind,
    pod_template,
    selected_workloads,
    title,
)
from .disruption.objects import Placed

#: autoscaling.DefaultCPUUtilization (pkg/apis/autoscaling/types.go).
DEFAULT_CPU_UTILIZATION = 80
#: The APIService port when `spec.service.port` is unset (apiregistration/v1 defaults).
DEFAULT_APISERVICE_PORT = 443
#: Annotations of cert-manager's cainjector, which fills an APIService's `spec.caBundle`.
CA_INJECTOR_ANNOTATIONS = (
    "cert-manager.io/inject-ca-from",
    "cert-manager.io/inject-ca-from-secret",
    "cert-manager.io/inject-apiserver-ca",
)


@dataclass(frozen=True)
class MetricsApi:
    group: str
    versions: tuple[str, ...]
    """Versions the controller can use; any one will do."""
    serves: str
    provider: str
    """What usually serves it, for the fix in messages."""

    def names(self) -> list[str]:
        """The APIService names (`<version>.<group>`) that would serve it."""
        return [f"{version}.{self.group}" for version in self.versions]


RESOURCE_METRICS = MetricsApi(
    "metrics.k8s.io", ("v1beta1",), "the resource metrics API", "metrics-server"
)
CUSTOM_METRICS = MetricsApi(
    "custom.metrics.k8s.io",
    ("v1beta2", "v1beta1"),
    "the custom metrics API",
    "a custom metrics adapter (prometheus-adapter, KEDA)",
)
EXTERNAL_METRICS = MetricsApi(
    "external.metrics.k8s.io",
    ("v1beta1",),
    "the external metrics API",
    "an external metrics adapter (KEDA, prometheus-adapter)",
)
#: metric type -> (the API it reads, the reason the controller reports for that type).
METRIC_SOURCES: dict[str, tuple[MetricsApi, str]] = {
    "Resource": (RESOURCE_METRICS, "FailedGetResourceMetric"),
    "ContainerResource": (RESOURCE_METRICS, "FailedGetContainerResourceMetric"),
    "Pods": (CUSTOM_METRICS, "FailedGetPodsMetric"),
    "Object": (CUSTOM_METRICS, "FailedGetObjectMetric"),
    "External": (EXTERNAL_METRICS, "FailedGetExternalMetric"),
}


def hpa_metrics(hpa: dict[str, Any]) -> list[dict[str, Any]]:
    """The HPA's metrics as autoscaling/v2 writes them, defaults applied."""
    spec = as_map(hpa.get("spec"))
    if str(hpa.get("apiVersion", "")).endswith("/v1") and "metrics" not in spec:
        target = spec.get("targetCPUUtilizationPercentage", DEFAULT_CPU_UTILIZATION)
        utilization = {"type": "Utilization", "averageUtilization": target}
        return [{"type": "Resource", "resource": {"name": "cpu", "target": utilization}}]
    metrics = [as_map(m) for m in as_list(spec.get("metrics"))]
    if metrics:
        return metrics
    default = {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}
    return [{"type": "Resource", "resource": {"name": "cpu", "target": default}}]


def _describe(metric: dict[str, Any]) -> str:
    kind = str(metric.get("type"))
    source = as_map(metric.get(kind[:1].lower() + kind[1:]))
    name = source.get("name") or as_map(source.get("metric")).get("name") or "?"
    target = as_map(source.get("target"))
    shown = f"{kind} {name}"
    if source.get("container"):
        shown += f" of container {source['container']}"
    if target.get("type") == "Utilization":
        shown += f", Utilization {target.get('averageUtilization')}%"
    return shown


def api_problem(api: MetricsApi, objects: list[Placed]) -> tuple[str, str] | None:
    """(why, what to do) when `api` is not served by the stack's objects; None when it is."""
    services = [
        o for o in of_kind(objects, "APIService") if name_of(o.manifest) in set(api.names())
    ]
    wanted = " or ".join(f"APIService {name}" for name in api.names())
    if not services:
        why = f"{api.serves} ({wanted}) is not among the stack's objects"
        return why, f"install {api.provider}"
    reasons, fixes = [], []
    for apiservice in services:
        reason = _backend_problem(apiservice, objects)
        tls = None if reason is not None else _tls_problem(apiservice)
        if reason is None and tls is None:
            return None
        if reason is not None:
            reasons.append(reason)
            fixes.append(
                "point spec.service at a Service (and port) that selects the pods serving the API"
            )
        elif tls is not None:
            reasons.append(tls[0])
            fixes.append(tls[1])
    return "; ".join(reasons), "; ".join(dict.fromkeys(fixes))


def _backend_problem(apiservice: Placed, objects: list[Placed]) -> str | None:
    name = f"APIService {name_of(apiservice.manifest)} ({apiservice.where})"
    backend = as_map(as_map(apiservice.manifest.get("spec")).get("service"))
    if not backend:
        return f"{name} has no spec.service, so kube-apiserver would serve it itself, and does not"
    namespace, service_name = str(backend.get("namespace")), str(backend.get("name"))
    service = find(objects, "Service", service_name, namespace)
    if service is None:
        return f"{name} names Service {namespace}/{service_name}, which the stack does not create"
    port = backend.get("port", DEFAULT_APISERVICE_PORT)
    service_ports = as_list(as_map(service.manifest.get("spec")).get("ports"))
    ports = [as_map(p).get("port") for p in service_ports]
    if port not in ports:
        return f"{name} calls port {port} of Service {namespace}/{service_name}, which has {ports}"
    if not selected_workloads(service, objects):
        return (
            f"{name} is backed by Service {namespace}/{service_name}, whose selector selects the "
            "pods of no workload the stack runs"
        )
    return None


def _tls_problem(apiservice: Placed) -> tuple[str, str] | None:
    """(why, fix) when the API server cannot verify the backend's certificate (see the
    module's docstring); None when it can."""
    name = f"APIService {name_of(apiservice.manifest)} ({apiservice.where})"
    spec = as_map(apiservice.manifest.get("spec"))
    injected = any(key in annotations_of(apiservice.manifest) for key in CA_INJECTOR_ANNOTATIONS)
    ca_bundle = bool(spec.get("caBundle")) or injected
    insecure = spec.get("insecureSkipTLSVerify") is True
    if ca_bundle and insecure:
        why = (
            f"{name} sets both spec.caBundle and spec.insecureSkipTLSVerify: true, which the API "
            'server refuses ("may not be true if caBundle is present")'
        )
        return why, "keep one of the two"
    if not ca_bundle and not insecure:
        why = (
            f"{name} has neither spec.caBundle nor spec.insecureSkipTLSVerify: true, so the API "
            "server cannot verify its backend's serving certificate and every call fails "
            "(Available False, FailedDiscoveryCheck)"
        )
        fix = (
            "set spec.caBundle to the CA that signed the backend's serving certificate, or "
            "spec.insecureSkipTLSVerify: true"
        )
        return why, fix
    return None


def _requested(holder: dict[str, Any], resource: str) -> bool:
    """Whether a container (or a pod spec, for pod-level resources) requests `resource`, a
    limit standing for the request it defaults."""
    resources = as_map(holder.get("resources"))
    return any(resource in as_map(resources.get(key)) for key in ("requests", "limits"))


def _measured_containers(pod: dict[str, Any], container: str | None) -> list[dict[str, Any]]:
    containers = [as_map(c) for c in as_list(pod.get("containers"))]
    containers += [
        as_map(c)
        for c in as_list(pod.get("initContainers"))
        if as_map(c).get("restartPolicy") == "Always"
    ]
    if container is None:
        return containers
    return [c for c in containers if c.get("name") == container]


def request_problem(metric: dict[str, Any], target: Placed) -> str | None:
    """Why a Utilization target cannot be computed for `target`'s pods, or None."""
    kind = metric.get("type")
    source = as_map(metric.get("resource" if kind == "Resource" else "containerResource"))
    if as_map(source.get("target")).get("type") != "Utilization":
        return None
    template = pod_template(target.manifest)
    if template is None:
        return None
    pod, resource = template[1], str(source.get("name"))
    container = str(source["container"]) if kind == "ContainerResource" else None
    if container is None and _requested(pod, resource):
        return None  # pod-level requests
    measured = _measured_containers(pod, container)
    if container is not None and not measured:
        return f"{title(target)} has no container {container!r}"
    missing = [str(c.get("name")) for c in measured if not _requested(c, resource)]
    if not missing:
        return None
    return (
        f"container(s) {', '.join(missing)} of {title(target)} request no {resource}, so the "
        f"controller cannot compute utilization (missing request for {resource}); set "
        f"resources.requests.{resource}"
    )


def _check_hpa(hpa: Placed, objects: list[Placed], findings: Findings) -> None:
    name = f"{hpa.where}: HorizontalPodAutoscaler {hpa.namespace}/{name_of(hpa.manifest)}"
    ref = as_map(as_map(hpa.manifest.get("spec")).get("scaleTargetRef"))
    kind, target_name = str(ref.get("kind")), str(ref.get("name"))
    target = find(objects, kind, target_name, hpa.namespace, ref.get("apiVersion"))
    if target is None:
        findings.problems.append(
            f"{name}: scaleTargetRef {kind} {hpa.namespace}/{target_name} is not among the "
            "stack's objects: the HPA reports FailedGetScale and scales nothing; point it at the "
            "workload it should scale"
        )
    elif pod_template(target.manifest) is None:
        findings.notes.append(
            f"{name}: scaleTargetRef {title(target)} has no pod template known here; the "
            "requests of its pods are not checked"
        )
    for index, metric in enumerate(hpa_metrics(hpa.manifest)):
        metric_type = str(metric.get("type"))
        at = f"{name}: spec.metrics[{index}] ({_describe(metric)})"
        if metric_type not in METRIC_SOURCES:
            findings.notes.append(f"{at}: metric type {metric_type!r} is not understood")
            continue
        api, reason = METRIC_SOURCES[metric_type]
        missing_api = api_problem(api, objects)
        if missing_api is not None:
            why, fix = missing_api
            findings.problems.append(
                f"{at}: {why}: the HPA reports {reason} and keeps its replica count; {fix}"
            )
        if target is not None and metric_type in ("Resource", "ContainerResource"):
            missing_request = request_problem(metric, target)
            if missing_request is not None:
                findings.problems.append(f"{at}: {missing_request} ({reason})")


def evaluate(objects: list[Placed]) -> Findings:
    """Check every HorizontalPodAutoscaler among `objects` (see the module's docstring)."""
    findings = Findings()
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        findings.checked += 1
        _check_hpa(hpa, objects, findings)
    return findings
