"""Every HorizontalPodAutoscaler reads a metrics API the stack serves and a target that exists,
with requests for what it measures by utilization: podinfo's in every shipped stack through
metrics-server, and each way an HPA would never scale reported with the controller's reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.validators import metrics_api
from offline.validators.cluster_objects import find, selected_workloads
from offline.validators.disruption.objects import Placed
from tests.conftest import STACKS
from tests.offline.test_storage_binding import shipped_objects

LABELS = {"app": "web"}
SERVER_LABELS = {"app": "metrics-server"}


# --- Synthetic objects ------------------------------------------------------------------------


def container(name: str = "web", **resources: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "image": "web:1.0", "resources": resources}


def deployment(
    name: str = "web",
    namespace: str = "app",
    labels: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    **pod: Any,
) -> Placed:
    labels = labels or LABELS
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": containers or [container(requests={"cpu": "10m"})],
                    **pod,
                },
            },
        },
    }
    return Placed(manifest, namespace, f"{name}.yaml")


def service(selector: dict[str, str] | None = None, port: int = 443) -> Placed:
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": "kube-system"},
        "spec": {
            "selector": SERVER_LABELS if selector is None else selector,
            "ports": [{"port": port}],
        },
    }
    return Placed(manifest, "kube-system", "metrics-server.yaml")


INSECURE = {"insecureSkipTLSVerify": True}


def apiservice(
    name: str = "v1beta1.metrics.k8s.io",
    port: int | None = None,
    tls: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> Placed:
    """An APIService backed by metrics-server's Service; `tls`: how the API server trusts the
    backend (the chart's default, insecureSkipTLSVerify, unless given)."""
    backend: dict[str, Any] = {"namespace": "kube-system", "name": "metrics-server"}
    if port is not None:
        backend["port"] = port
    group = name.split(".", 1)[1]
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    manifest = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": metadata,
        "spec": {
            "group": group,
            "version": name.split(".", 1)[0],
            "service": backend,
            **(INSECURE if tls is None else tls),
        },
    }
    return Placed(manifest, "kube-system", "apiservice.yaml")


def metrics_server(*apiservices: Placed) -> list[Placed]:
    """metrics-server's Deployment and Service, with the resource metrics APIService unless
    others are given."""
    server = deployment("metrics-server", "kube-system", SERVER_LABELS)
    return [server, service(), *(apiservices or (apiservice(),))]


def cpu(target: dict[str, Any] | None = None) -> dict[str, Any]:
    target = target or {"type": "Utilization", "averageUtilization": 75}
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


def hpa(
    *metrics: dict[str, Any], target: str = "web", api_version: str = "autoscaling/v2", **spec: Any
) -> Placed:
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": 3,
        **spec,
    }
    if metrics:
        body["metrics"] = list(metrics)
    manifest = {
        "apiVersion": api_version,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": body,
    }
    return Placed(manifest, "app", "hpa.yaml")


def problems(*objects: Placed) -> list[str]:
    return metrics_api.evaluate(list(objects)).problems


# --- The metrics API --------------------------------------------------------------------------


def test_an_hpa_on_cpu_with_metrics_server_and_requests_passes() -> None:
    findings = metrics_api.evaluate([hpa(cpu()), deployment(), *metrics_server()])
    assert (findings.problems, findings.notes, findings.checked) == ([], [], 1)


def test_without_the_resource_metrics_api_the_hpa_never_scales() -> None:
    [problem] = problems(hpa(cpu()), deployment())
    assert problem.startswith(
        "hpa.yaml: HorizontalPodAutoscaler app/web: spec.metrics[0] (Resource cpu, "
        "Utilization 75%): the resource metrics API (APIService v1beta1.metrics.k8s.io) is not "
        "among the stack's objects: the HPA reports FailedGetResourceMetric"
    )
    assert problem.endswith("keeps its replica count; install metrics-server")


def test_the_apiservice_needs_a_service() -> None:
    objects = [hpa(cpu()), deployment(), apiservice()]
    [problem] = problems(*objects)
    assert "names Service kube-system/metrics-server, which the stack does not create" in problem
    assert problem.endswith("that selects the pods serving the API")


def test_a_local_apiservice_serves_no_metrics() -> None:
    local = Placed(
        {"kind": "APIService", "metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {}},
        "default",
        "apiservice.yaml",
    )
    [problem] = problems(hpa(cpu()), deployment(), *metrics_server(local))
    assert "has no spec.service" in problem


def test_the_apiservice_calls_a_port_of_the_service() -> None:
    [problem] = problems(hpa(cpu()), deployment(), *metrics_server(apiservice(port=4443)))
    assert "calls port 4443 of Service kube-system/metrics-server, which has [443]" in problem


@pytest.mark.parametrize("tls", [{}, {"insecureSkipTLSVerify": False}, {"caBundle": ""}])
def test_the_api_server_must_be_able_to_trust_the_backend(tls: dict[str, Any]) -> None:
    [problem] = problems(hpa(cpu()), deployment(), *metrics_server(apiservice(tls=tls)))
    assert (
        "APIService v1beta1.metrics.k8s.io (apiservice.yaml) has neither spec.caBundle nor "
        "spec.insecureSkipTLSVerify: true, so the API server cannot verify its backend's serving "
        "certificate and every call fails (Available False, FailedDiscoveryCheck): the HPA "
        "reports FailedGetResourceMetric"
    ) in problem
    assert problem.endswith(
        "set spec.caBundle to the CA that signed the backend's serving certificate, or "
        "spec.insecureSkipTLSVerify: true"
    )


@pytest.mark.parametrize(
    ("tls", "annotations"),
    [
        ({"caBundle": "LS0tLS1CRUdJTi4uLg=="}, None),
        ({}, {"cert-manager.io/inject-ca-from": "kube-system/metrics-server"}),
    ],
)
def test_a_ca_bundle_lets_the_api_server_verify(
    tls: dict[str, Any], annotations: dict[str, str] | None
) -> None:
    served = apiservice(tls=tls, annotations=annotations)
    assert problems(hpa(cpu()), deployment(), *metrics_server(served)) == []


def test_a_ca_bundle_and_skipping_verification_are_refused_together() -> None:
    both = apiservice(tls={"caBundle": "LS0tLS1CRUdJTi4uLg==", "insecureSkipTLSVerify": True})
    [problem] = problems(hpa(cpu()), deployment(), *metrics_server(both))
    assert '"may not be true if caBundle is present"' in problem
    assert problem.endswith("keep one of the two")


def test_the_service_must_select_the_metrics_server_pods() -> None:
    objects = [deployment("metrics-server", "kube-system", SERVER_LABELS), apiservice()]
    [problem] = problems(hpa(cpu()), deployment(), service({"app": "other"}), *objects)
    assert "whose selector selects the pods of no workload" in problem


def test_a_service_without_selector_selects_nothing() -> None:
    objects = [deployment("metrics-server", "kube-system", SERVER_LABELS), apiservice()]
    [problem] = problems(hpa(cpu()), deployment(), service({}), *objects)
    assert "selects the pods of no workload" in problem


@pytest.mark.parametrize(
    ("metric", "needed", "reason"),
    [
        (
            {
                "type": "Pods",
                "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue"}},
            },
            "v1beta2.custom.metrics.k8s.io or APIService v1beta1.custom.metrics.k8s.io",
            "FailedGetPodsMetric",
        ),
        (
            {"type": "Object", "object": {"metric": {"name": "hits"}, "target": {"type": "Value"}}},
            "v1beta2.custom.metrics.k8s.io",
            "FailedGetObjectMetric",
        ),
        (
            {
                "type": "External",
                "external": {"metric": {"name": "q"}, "target": {"type": "Value"}},
            },
            "v1beta1.external.metrics.k8s.io",
            "FailedGetExternalMetric",
        ),
    ],
)
def test_other_metric_types_need_their_own_api(metric: dict, needed: str, reason: str) -> None:
    [problem] = problems(hpa(metric), deployment(), *metrics_server())
    assert needed in problem
    assert f"the HPA reports {reason}" in problem


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_either_custom_metrics_version_serves_pods_metrics(version: str) -> None:
    metric = {
        "type": "Pods",
        "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue"}},
    }
    adapter = apiservice(f"{version}.custom.metrics.k8s.io")
    assert problems(hpa(metric), deployment(), *metrics_server(adapter)) == []


def test_an_hpa_without_metrics_scales_on_cpu() -> None:
    [problem] = problems(hpa(), deployment())
    assert "spec.metrics[0] (Resource cpu, Utilization 80%)" in problem
    assert problems(hpa(), deployment(), *metrics_server()) == []


def test_an_autoscaling_v1_hpa_scales_on_cpu() -> None:
    v1 = hpa(api_version="autoscaling/v1", targetCPUUtilizationPercentage=60)
    [problem] = problems(v1, deployment(containers=[container()]), *metrics_server())
    assert "(Resource cpu, Utilization 60%)" in problem
    assert "missing request for cpu" in problem


def test_an_unknown_metric_type_is_a_note() -> None:
    findings = metrics_api.evaluate([hpa({"type": "Magic"}), deployment(), *metrics_server()])
    assert findings.problems == []
    assert "metric type 'Magic' is not understood" in findings.notes[0]


# --- The target and its requests --------------------------------------------------------------


def test_a_missing_scale_target_is_failed_get_scale() -> None:
    [problem] = problems(hpa(cpu(), target="api"), deployment(), *metrics_server())
    assert "scaleTargetRef Deployment app/api is not among the stack's objects" in problem
    assert "FailedGetScale" in problem


def test_the_target_must_be_in_the_hpas_namespace() -> None:
    [problem] = problems(hpa(cpu()), deployment(namespace="other"), *metrics_server())
    assert "scaleTargetRef Deployment app/web is not among" in problem


def test_utilization_needs_a_request_in_every_container() -> None:
    containers = [
        container(requests={"cpu": "10m"}),
        container("proxy", requests={"memory": "8Mi"}),
    ]
    [problem] = problems(hpa(cpu()), deployment(containers=containers), *metrics_server())
    assert "container(s) proxy of Deployment app/web request no cpu" in problem
    assert "missing request for cpu" in problem
    assert problem.endswith("(FailedGetResourceMetric)")


def test_a_limit_stands_for_the_request() -> None:
    limited = deployment(containers=[container(limits={"cpu": "100m"})])
    assert problems(hpa(cpu()), limited, *metrics_server()) == []


def test_pod_level_requests_serve_resource_metrics() -> None:
    pod_level = deployment(containers=[container()], resources={"requests": {"cpu": "100m"}})
    assert problems(hpa(cpu()), pod_level, *metrics_server()) == []


def test_a_sidecar_is_measured_too() -> None:
    sidecar = container("log", requests={"memory": "8Mi"}) | {"restartPolicy": "Always"}
    target = deployment(initContainers=[sidecar])
    [problem] = problems(hpa(cpu()), target, *metrics_server())
    assert "container(s) log of Deployment app/web" in problem


def test_average_value_needs_no_request() -> None:
    average = cpu({"type": "AverageValue", "averageValue": "100m"})
    assert problems(hpa(average), deployment(containers=[container()]), *metrics_server()) == []


def test_container_resource_measures_only_its_container() -> None:
    metric = {
        "type": "ContainerResource",
        "containerResource": {
            "name": "cpu",
            "container": "web",
            "target": {"type": "Utilization", "averageUtilization": 70},
        },
    }
    containers = [container(requests={"cpu": "10m"}), container("proxy")]
    assert problems(hpa(metric), deployment(containers=containers), *metrics_server()) == []
    metric["containerResource"]["container"] = "proxy"
    [problem] = problems(hpa(metric), deployment(containers=containers), *metrics_server())
    assert "(FailedGetContainerResourceMetric)" in problem
    metric["containerResource"]["container"] = "absent"
    [problem] = problems(hpa(metric), deployment(containers=containers), *metrics_server())
    assert "Deployment app/web has no container 'absent'" in problem


# --- The shipped stacks -----------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_podinfo_hpas_read_metrics_server(stack: str) -> None:
    objects = list(shipped_objects(stack))
    apiservice_ = find(objects, "APIService", "v1beta1.metrics.k8s.io")
    assert apiservice_ is not None
    backend = apiservice_.manifest["spec"]["service"]
    assert (backend["namespace"], backend["name"]) == ("kube-system", "metrics-server")
    metrics_service = find(objects, "Service", "metrics-server", "kube-system")
    assert metrics_service is not None
    assert [w.manifest["kind"] for w in selected_workloads(metrics_service, objects)] == [
        "Deployment"
    ]
    assert metrics_api.api_problem(metrics_api.RESOURCE_METRICS, objects) is None
    names = {
        (o.namespace, o.manifest["metadata"]["name"])
        for o in objects
        if o.manifest.get("kind") == "HorizontalPodAutoscaler"
    }
    assert {("podinfo", "frontend"), ("podinfo", "backend")} <= names
    assert apiservice_.manifest["spec"]["insecureSkipTLSVerify"] is True  # the chart's default
    findings = metrics_api.evaluate(objects)
    assert (findings.problems, findings.notes) == ([], [])


@pytest.mark.parametrize("stack", STACKS)
def test_the_shipped_apiservice_without_tls_trust_fails(stack: str) -> None:
    """metrics-server's APIService with neither caBundle nor insecureSkipTLSVerify: the API
    server could not verify metrics-server, and both HPAs would never scale."""
    objects = []
    for placed in shipped_objects(stack):
        if placed.manifest.get("kind") == "APIService":
            manifest = copy.deepcopy(placed.manifest)
            del manifest["spec"]["insecureSkipTLSVerify"]
            placed = Placed(manifest, placed.namespace, placed.where)
        objects.append(placed)
    found = metrics_api.evaluate(objects).problems
    assert len(found) == 2
    assert all(
        "APIService v1beta1.metrics.k8s.io "
        "(upstream/charts/metrics-server/templates/apiservice.yaml) has neither spec.caBundle "
        "nor spec.insecureSkipTLSVerify: true" in p
        for p in found
    )
