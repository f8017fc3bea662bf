"""The monitoring add-on (kube-prometheus-stack, gitops/platform): rendered from the vendored chart
in every environment, validated (its custom resources against the vendored prometheus-operator
CRDs), placed on the stack's nodes with what the operator makes of it, fenced by the project
`platform`, and checked against the stack; and proof that each check fails when it should."""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from typing import Any

import pytest

from offline.validators import gitops
from offline.validators.gitops import RenderedObject, charts, operator, rules, schemas
from offline.validators.gitops.addons import ANNOTATION_LIMIT, addon_problems
from offline.validators.gitops.monitoring_stack import (
    etcd_scrape_problems,
    monitoring_problems,
    static_pod_labels,
)
from offline.validators.scheduling import evaluate
from tests.conftest import document

ENVS = gitops.ENVIRONMENTS
K8S = "v1.36.2"
Rendered = dict[str, list[RenderedObject]]
APP = "kube-prometheus-stack"
CHART_KEY = "chart kube-prometheus-stack 88.5.3 (Application kube-prometheus-stack)"
CHART_REPO = "https://prometheus-community.github.io/helm-charts"
VALUES = "spec.source.helm.valuesObject"
SCRAPE_CONFIGS = "gitops/platform/monitoring/base/scrapeconfigs.yaml"


@pytest.fixture(scope="module")
def shipped() -> dict[str, Rendered]:
    return {env: gitops._render_environment(env, K8S) for env in ENVS}


def tree_of(shipped: dict[str, Rendered], env: str) -> Rendered:
    """A copy of an environment's render to break on purpose."""
    return copy.deepcopy(shipped[env])


def find(
    rendered: Rendered | list[RenderedObject], kind: str, name: str, namespace: str | None = None
) -> RenderedObject:
    """The one object of that kind and name (and namespace) in a render or a list of objects."""
    groups = rendered.values() if isinstance(rendered, dict) else [rendered]
    (found,) = [
        item
        for items in groups
        for item in items
        if item.manifest["kind"] == kind
        and item.manifest["metadata"]["name"] == name
        and namespace in (None, item.manifest["metadata"].get("namespace"))
    ]
    return found


def application(rendered: Rendered, name: str = APP) -> RenderedObject:
    return find(rendered, "Application", name)


def source(rendered: Rendered) -> charts.HelmSource:
    (helm,) = charts.helm_sources(application(rendered).manifest)
    return helm


def stack_of(env: str, **changes: Any) -> gitops.StackPlatform:
    stack = gitops.stack_platform(env)
    assert isinstance(stack, gitops.StackPlatform)
    return dataclasses.replace(stack, **changes)


def problems_of(rendered: Rendered, env: str, stack: gitops.StackPlatform | None = None) -> list:
    item = application(rendered)
    return monitoring_problems(item, source(rendered), stack or stack_of(env), rendered, True)


def messages(problems: list[gitops.Problem]) -> list[str]:
    return [str(p) for p in problems]


# --- The shipped tree --------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_the_addon_renders_and_validates_in_every_environment(
    env: str, shipped: dict[str, Rendered]
) -> None:
    rendered = shipped[env]
    assert gitops.validate_environment(env, K8S, rendered=rendered) == []
    app = application(rendered).manifest
    spec = app["spec"]
    assert (spec["project"], spec["source"]["repoURL"], spec["source"]["targetRevision"]) == (
        "platform",
        CHART_REPO,
        "88.5.3",
    )
    assert spec["source"]["helm"]["releaseName"] == APP
    assert spec["destination"]["namespace"] == "monitoring"
    assert "ServerSideApply=true" in spec["syncPolicy"]["syncOptions"]
    assert "CreateNamespace=true" not in spec["syncPolicy"]["syncOptions"]
    kinds = {obj.manifest["kind"] for obj in rendered[CHART_KEY]}
    assert {"Prometheus", "Alertmanager", "ServiceMonitor", "PrometheusRule"} <= kinds
    assert not kinds & {"Namespace", "Secret", "Job", "CustomResourceDefinition"}


@pytest.mark.parametrize("env", ENVS)
def test_it_syncs_after_the_other_addons_and_before_its_configuration(
    env: str, shipped: dict[str, Rendered]
) -> None:
    def wave(name: str) -> int:
        annotations = application(shipped[env], name).manifest["metadata"]["annotations"]
        return int(annotations["argocd.argoproj.io/sync-wave"])

    others = ("kubelet-csr-approver", "metrics-server", "proxmox-csi-plugin")
    assert max(wave(name) for name in others) < wave(APP) < wave("monitoring-config")


@pytest.mark.parametrize("env", ENVS)
def test_the_services_have_the_names_the_tunnel_routes_to(
    env: str, shipped: dict[str, Rendered]
) -> None:
    def port(name: str) -> int:
        service = find(shipped[env][CHART_KEY], "Service", name, "monitoring").manifest
        (web,) = [p for p in service["spec"]["ports"] if p["name"] == "http-web"]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
        return int(web["port"])

    assert (port("grafana"), port(f"{APP}-prometheus"), port(f"{APP}-alertmanager")) == (
        80,
        9090,
        9093,
    )


RETENTION = {"dev": "2d", "staging": "7d", "prod": "15d"}
REPLICAS = {"dev": 1, "staging": 1, "prod": 2}
STORAGE = {"dev": None, "staging": "10Gi", "prod": "20Gi"}


@pytest.mark.parametrize("env", ENVS)
def test_values_per_environment(env: str, shipped: dict[str, Rendered]) -> None:
    rendered = shipped[env]
    prometheus = find(rendered, "Prometheus", f"{APP}-prometheus").manifest["spec"]
    alertmanager = find(rendered, "Alertmanager", f"{APP}-alertmanager").manifest["spec"]
    assert prometheus["retention"] == RETENTION[env]
    assert (prometheus["replicas"], alertmanager["replicas"]) == (REPLICAS[env],) * 2
    claim = prometheus["storage"].get("volumeClaimTemplate")
    if STORAGE[env] is None:
        assert claim is None and prometheus["storage"]["emptyDir"]["sizeLimit"] == "3Gi"
    else:
        assert claim["spec"]["resources"]["requests"]["storage"] == STORAGE[env]
        assert "storageClassName" not in claim["spec"]  # the default class
    assert alertmanager["configSecret"] == "alertmanager-config"
    budgets = {
        obj.manifest["metadata"]["name"]
        for obj in rendered[CHART_KEY]
        if obj.manifest["kind"] == "PodDisruptionBudget"
    }
    assert budgets == ({f"{APP}-prometheus", f"{APP}-alertmanager"} if env == "prod" else set())
    if env == "prod":
        for spec in (prometheus, alertmanager):
            assert spec["affinity"]["podAntiAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]
    for key in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert prometheus[f"{key}Selector"] == prometheus[f"{key}NamespaceSelector"] == {}


@pytest.mark.parametrize("env", ENVS)
def test_grafana_loads_the_dashboards_of_monitoring(env: str, shipped: dict[str, Rendered]) -> None:
    deployment = find(shipped[env][CHART_KEY], "Deployment", "grafana").manifest
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    variables = {v["name"]: v.get("value") for v in containers["grafana-sc-dashboard"]["env"]}
    assert (variables["LABEL"], variables["LABEL_VALUE"], variables["NAMESPACE"]) == (
        "grafana_dashboard",
        "1",
        "monitoring",
    )
    credentials = {v["name"]: v for v in containers["grafana"]["env"]}
    assert credentials["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == (
        "grafana-admin"
    )
    kinds = {o.manifest["kind"] for o in shipped[env][CHART_KEY] if "grafana" in o.origin}
    assert "ClusterRole" not in kinds  # reads its own namespace only
    # The dashboards monitoring-config ships are ConfigMaps the sidecar picks up.
    dashboards = [
        obj.manifest
        for obj in shipped[env][f"gitops/platform/monitoring/envs/{env}"]
        if obj.manifest["kind"] == "ConfigMap"
    ]
    assert dashboards
    for dashboard in dashboards:
        assert dashboard["metadata"]["namespace"] == "monitoring"
        assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


@pytest.mark.parametrize("env", ENVS)
def test_the_controller_manager_and_scheduler_are_found_by_their_talos_labels(
    env: str, shipped: dict[str, Rendered]
) -> None:
    """Services that select Talos' static pods (host network: their endpoints are the control
    planes' addresses, whichever they are), no address lists, no Endpoints objects."""
    objects = shipped[env][CHART_KEY]
    for suffix, port in (("kube-controller-manager", 10257), ("kube-scheduler", 10259)):
        service = find(objects, "Service", f"{APP}-{suffix}").manifest
        assert service["metadata"]["namespace"] == "kube-system"
        assert service["spec"]["selector"] == {"k8s-app": suffix}
        assert service["spec"]["selector"].items() <= static_pod_labels(suffix).items()
        assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(port, port)]
        monitor = find(objects, "ServiceMonitor", f"{APP}-{suffix}").manifest
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["scheme"], endpoint["tlsConfig"]["insecureSkipVerify"]) == ("https", True)
    kinds = {obj.manifest["kind"] for items in shipped[env].values() for obj in items}
    assert not kinds & {"Endpoints", "EndpointSlice"}
    names = {o.manifest["metadata"]["name"] for o in objects}
    assert not {n for n in names if "kube-proxy" in n}
    assert problems_of(shipped[env], env) == []


@pytest.mark.parametrize("env", ENVS)
def test_etcd_is_scraped_by_a_scrape_config_of_the_control_plane_nodes(
    env: str, shipped: dict[str, Rendered]
) -> None:
    objects = shipped[env][CHART_KEY]
    # The chart keeps etcd's rules and dashboard, not its Service, Endpoints, ServiceMonitor.
    assert {(o.manifest["kind"], o.manifest["metadata"]["name"]) for o in objects} >= {
        ("PrometheusRule", f"{APP}-etcd"),
        ("ConfigMap", f"{APP}-etcd"),
    }
    assert not [o for o in objects if o.manifest["metadata"]["name"] == f"{APP}-kube-etcd"]
    scrape = find(shipped[env], "ScrapeConfig", "kube-etcd")
    assert scrape.origin == SCRAPE_CONFIGS
    assert scrape in shipped[env][f"gitops/platform/monitoring/envs/{env}"]
    spec = scrape.manifest["spec"]
    assert scrape.manifest["metadata"]["namespace"] == "monitoring"
    assert (spec["jobName"], spec["scheme"].lower()) == ("kube-etcd", "http")
    (sd,) = spec["kubernetesSDConfigs"]
    assert sd["role"] == "Node"
    assert sd["selectors"] == [{"role": "Node", "label": "node-role.kubernetes.io/control-plane"}]
    # The job the chart's etcd rules select.
    rule = find(objects, "PrometheusRule", f"{APP}-etcd").manifest
    expressions = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert all('job=~".*etcd.*"' in e for e in expressions if "etcd_" in e)
    # Prometheus may list the nodes it discovers.
    role = find(objects, "ClusterRole", f"{APP}-prometheus").manifest
    assert any(
        "nodes" in r["resources"] and {"list", "watch"} <= set(r["verbs"]) for r in role["rules"]
    )
    assert etcd_scrape_problems(shipped[env], stack_of(env)) == []


def test_the_namespace_secret_and_ports_are_the_programs() -> None:
    from components.monitoring import alerting
    from components.talos import documents
    from offline.validators.gitops import monitoring_stack

    assert (
        monitoring_stack.MONITORING_NAMESPACE,
        monitoring_stack.ALERTMANAGER_SECRET,
        monitoring_stack.ALERTMANAGER_SECRET_KEY,
    ) == (alerting.NAMESPACE, alerting.CONFIG_SECRET, alerting.CONFIG_KEY)
    assert monitoring_stack.ETCD.port == documents.ETCD_METRICS_PORT
    assert documents.METRICS_ARGS["etcd"]["listen-metrics-urls"].endswith(":2381")
    for component in ("controllerManager", "scheduler"):
        assert documents.METRICS_ARGS[component] == {"bind-address": "0.0.0.0"}
    # node-exporter's host access is granted in its own namespace, the program's privileged
    # one; `monitoring` enforces baseline (tests/monitoring/test_pod_security.py).
    (rule,) = rules.HOST_ACCESS
    assert rule.namespace == alerting.NODE_EXPORTER_NAMESPACE
    labels = alerting.node_exporter_namespace_manifest()["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    labels = alerting.namespace_manifest()["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"


# --- What the operator makes, placed -----------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_the_operators_statefulsets_are_placed_with_everything_else(
    env: str, shipped: dict[str, Rendered]
) -> None:
    rendered = shipped[env]
    statefulset = find(rendered, "StatefulSet", f"prometheus-{APP}-prometheus").manifest
    assert statefulset["spec"]["replicas"] == REPLICAS[env]
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert labels["operator.prometheus.io/name"] == f"{APP}-prometheus"
    pod = statefulset["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["prometheus", "config-reloader"]
    assert [c["name"] for c in pod["initContainers"]] == ["init-config-reloader"]
    # The reloader's resources are what the chart passes the operator (--config-reloader-*).
    assert pod["containers"][1]["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"memory": "64Mi"},
    }
    claims = statefulset["spec"].get("volumeClaimTemplates") or []
    assert [c["spec"]["resources"]["requests"]["storage"] for c in claims] == (
        [STORAGE[env]] if STORAGE[env] else []
    )
    report = evaluate(document(env), K8S, rendered=rendered)
    assert report.problems == [] and report.failures == []
    assert report.cluster is not None
    pods: dict[str, int] = {}
    for placed in report.cluster.all_pods():
        pods[placed.workload.ref] = pods.get(placed.workload.ref, 0) + 1
    assert pods[f"StatefulSet monitoring/prometheus-{APP}-prometheus"] == REPLICAS[env]
    assert pods[f"StatefulSet monitoring/alertmanager-{APP}-alertmanager"] == REPLICAS[env]
    assert pods["DaemonSet node-exporter/node-exporter"] == len(report.nodes)
    if env == "prod":  # one replica per worker
        hosts = {
            node
            for node, placed in report.cluster.pods.items()
            for p in placed
            if p.workload.ref == f"StatefulSet monitoring/prometheus-{APP}-prometheus"
        }
        assert len(hosts) == 2


def test_the_operator_defaults(shipped: dict[str, Rendered]) -> None:
    """What prometheus-operator v0.93.0 does with fields the chart leaves out: one replica, the
    200Mi memory request of an Alertmanager, a shard per StatefulSet, additional label
    selectors, and its own reloader defaults without the chart's flags."""
    reloader = operator.Operator("quay.io/x:v1", operator.DEFAULT_RELOADER, None)
    bare = {"apiVersion": operator.API_VERSION, "metadata": {"name": "x", "namespace": "m"}}
    (alertmanager_sts,) = [operator.alertmanager_statefulset({**bare, "spec": {}}, reloader)]
    container = alertmanager_sts["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"memory": "200Mi"}}
    assert alertmanager_sts["spec"]["replicas"] == 1
    spread = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
    spec = {
        "shards": 2,
        "replicas": -1,
        "topologySpreadConstraints": [{**spread, "additionalLabelSelectors": "ResourceName"}],
    }
    first, second = operator.prometheus_statefulsets({**bare, "spec": spec}, reloader)
    assert (first["metadata"]["name"], second["metadata"]["name"]) == (
        "prometheus-x",
        "prometheus-x-shard-1",
    )
    assert first["spec"]["replicas"] == 1
    (constraint,) = second["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert "additionalLabelSelectors" not in constraint
    assert constraint["labelSelector"]["matchLabels"]["prometheus"] == "x"
    assert "operator.prometheus.io/shard" not in constraint["labelSelector"]["matchLabels"]
    init = first["spec"]["template"]["spec"]["initContainers"][0]
    assert init["resources"] == operator.DEFAULT_RELOADER
    # No operator in the environment: nothing is made.
    rendered = tree_of(shipped, "dev")
    rendered[CHART_KEY] = [o for o in rendered[CHART_KEY] if o.manifest["kind"] != "Deployment"]
    assert operator.managed_objects(rendered) == {}


def test_the_prod_budgets_select_the_operators_pods(shipped: dict[str, Rendered]) -> None:
    from offline.validators.disruption.sources import gitops_budgets

    budgets = {b.name: b for b in gitops_budgets(shipped["prod"], "argocd")}
    for name in (f"{APP}-prometheus", f"{APP}-alertmanager"):
        budget = budgets[f"PodDisruptionBudget monitoring/{name}"]
        assert (budget.replicas, budget.allowed) == (2, 1)


# --- CRDs ---------------------------------------------------------------------------------------


def service_monitor(**endpoint: Any) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x", "namespace": "monitoring"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "endpoints": [endpoint]},
    }


def test_crd_validation_catches_an_unknown_field() -> None:
    good = service_monitor(port="http", interval="30s")
    assert gitops.validate_manifest(good, K8S, "x.yaml") == []
    bad = service_monitor(port="http", intervall="30s")
    assert messages(gitops.validate_manifest(bad, K8S, "x.yaml")) == [
        "x.yaml: ServiceMonitor monitoring/x: spec.endpoints[0].intervall: unknown field "
        "'intervall'; did you mean 'interval'?"
    ]
    wrong_type = service_monitor(port="http", honorLabels="yes")
    (problem,) = gitops.validate_manifest(wrong_type, K8S, "x.yaml")
    assert problem.field == "spec.endpoints[0].honorLabels"
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r", "namespace": "monitoring"},
        "spec": {
            "groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "fro": "5m"}]}]
        },
    }
    (problem,) = gitops.validate_manifest(rule, K8S, "r.yaml")
    assert problem.field == "spec.groups[0].rules[0].fro"
    for api_version, kind, message in (
        ("monitoring.coreos.com/v1alpha1", "ServiceMonitor", "serves monitoring.coreos.com/v1"),
        ("monitoring.coreos.com/v1", "ServiceMonitors", "no vendored monitoring.coreos.com CRD"),
    ):
        (problem,) = gitops.validate_manifest(
            {**good, "apiVersion": api_version, "kind": kind}, K8S, "x"
        )
        assert problem.field == "apiVersion" and message in problem.message


def test_a_servicemonitor_anywhere_in_the_tree_is_validated(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "staging")
    folder = rendered["gitops/platform/monitoring/envs/staging"]
    monitor = next(o for o in folder if o.manifest["kind"] == "ServiceMonitor")
    monitor.manifest["spec"]["endpoints"][0]["intervall"] = "1m"
    problems = gitops.validate_environment("staging", K8S, rendered=rendered)
    assert [(p.source, p.field) for p in problems] == [
        (monitor.origin, "spec.endpoints[0].intervall")
    ]


def test_the_crds_are_counted_not_rendered(shipped: dict[str, Rendered]) -> None:
    helm = source(shipped["dev"])
    assert charts.render_key(helm, K8S)[-1] is False  # rendered without --include-crds
    crds = charts.chart_crds(helm)
    assert len(crds) == 10
    assert {crd.group for crd in crds} == {"monitoring.coreos.com"}
    assert all(crd.path.parent == schemas.PROMETHEUS_CRDS_DIR for crd in crds)
    assert sum(crd.size > ANNOTATION_LIMIT for crd in crds) == 6
    # As Helm would include them: the subchart's condition and skipCrds decide.
    off = dataclasses.replace(helm, values={**helm.values, "crds": {"enabled": False}})
    assert charts.chart_crds(off) == []
    assert charts.chart_crds(dataclasses.replace(helm, include_crds=False)) == []
    # The files are the very CRDs the validator reads (a plain `=` is a string, as in go-yaml).
    for crd in crds:
        assert schemas.is_vendored_crd(schemas.monitoring_crd(crd.kind))
    enums: list[list[Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            enums.extend([node["enum"]] if "enum" in node else [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schemas.custom_resource_schema("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"))
    assert ["!=", "=", "=~", "!~"] in enums


def test_server_side_apply_is_required_for_the_crds(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    options = application(rendered).manifest["spec"]["syncPolicy"]["syncOptions"]
    options.remove("ServerSideApply=true")
    (problem,) = addon_problems("dev", rendered)
    assert problem.field == "spec.syncPolicy.syncOptions"
    assert problem.message.startswith(
        "the kube-prometheus-stack chart applies CRDs larger than the 256 KiB a client-side "
        "apply can keep in its last-applied annotation (alertmanagerconfigs.monitoring.coreos.com"
    )


# --- Against the stack and the program ----------------------------------------------------------


def test_an_address_list_a_wrong_selector_port_and_scheme(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    objects = rendered[CHART_KEY]
    # The scheduler as the old values rendered it: an Endpoints list, no selector.
    scheduler = find(objects, "Service", f"{APP}-kube-scheduler").manifest
    del scheduler["spec"]["selector"]
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": f"{APP}-kube-scheduler", "namespace": "kube-system"},
        "subsets": [{"addresses": [{"ip": "192.0.2.11"}], "ports": [{"port": 10259}]}],
    }
    objects.append(RenderedObject(endpoints, "x"))
    manager = find(objects, "Service", f"{APP}-kube-controller-manager").manifest
    manager["spec"]["selector"] = {"tier": "control-plane"}  # the API server's too
    manager["spec"]["ports"][0]["targetPort"] = 10252
    monitor = find(objects, "ServiceMonitor", f"{APP}-kube-controller-manager").manifest
    monitor["spec"]["endpoints"][0].pop("scheme")
    assert [(p.field, p.message.split(";")[0]) for p in problems_of(rendered, "dev")] == [
        (
            f"{VALUES}.kubeControllerManager.service.selector",
            "{'tier': 'control-plane'} also selects kube-apiserver, kube-scheduler",
        ),
        (
            f"{VALUES}.kubeControllerManager.service.targetPort",
            "port 10252: must be 10257, its secure port (kubernetes pkg/cluster/ports/ports.go, "
            "KubeControllerManagerPort), which Talos binds to 0.0.0.0 "
            "(components/talos/documents.py, METRICS_ARGS)",
        ),
        (
            f"{VALUES}.kubeControllerManager.serviceMonitor.https",
            "scrapes over http: must be https, its secure port (kubernetes "
            "pkg/cluster/ports/ports.go, KubeControllerManagerPort), which Talos binds to "
            "0.0.0.0 (components/talos/documents.py, METRICS_ARGS)",
        ),
        (
            f"{VALUES}.kubeScheduler.endpoints",
            "lists addresses: the chart then renders an Endpoints object, which Argo CD "
            "excludes (argocd-cm resource.exclusions) and never applies, beside a Service "
            "without a selector, so the scheduler is never scraped",
        ),
        (
            f"{VALUES}.kubeScheduler.service.selector",
            "none: the Service has no endpoints but the Endpoints object Argo CD never applies",
        ),
    ]
    manager["spec"]["selector"] = {"component": "kube-controller-manager", "tier": "x"}
    (problem,) = [p for p in problems_of(rendered, "dev") if p.field.endswith(".selector")][:1]
    assert problem.message.startswith(
        "{'component': 'kube-controller-manager', 'tier': 'x'} matches no Talos static pod"
    )


def test_etcd_from_the_chart_is_refused(shipped: dict[str, Rendered]) -> None:
    """The chart's etcd Service, Endpoints and ServiceMonitor: nothing they could select."""
    rendered = tree_of(shipped, "staging")
    scheduler = [
        o for o in rendered[CHART_KEY] if o.manifest["metadata"]["name"] == f"{APP}-kube-scheduler"
    ]
    for template in copy.deepcopy(scheduler):
        template.manifest["metadata"]["name"] = f"{APP}-kube-etcd"
        rendered[CHART_KEY].append(template)
    problems = problems_of(rendered, "staging")
    assert [(p.field, p.message.split(":")[0]) for p in problems] == [
        (f"{VALUES}.kubeEtcd.service.enabled", "renders a Service"),
        (f"{VALUES}.kubeEtcd.serviceMonitor.enabled", "renders a ServiceMonitor"),
    ]
    assert "Talos runs etcd as a host service, not a pod" in problems[0].message


def scrape_config(rendered: Rendered) -> dict[str, Any]:
    return find(rendered, "ScrapeConfig", "kube-etcd").manifest


def test_the_etcd_scrape_config_is_simulated_on_the_stacks_nodes(
    shipped: dict[str, Rendered],
) -> None:
    # Scoped by the keep rule alone, it still scrapes the control planes only.
    rendered = tree_of(shipped, "prod")
    del scrape_config(rendered)["spec"]["kubernetesSDConfigs"][0]["selectors"]
    assert etcd_scrape_problems(rendered, stack_of("prod")) == []
    # Without either, every worker too; a wrong port; a keep that drops everything.
    spec = scrape_config(rendered)["spec"]
    spec["relabelings"].pop(0)
    spec["relabelings"][0]["replacement"] = "$1:2379"
    problems = etcd_scrape_problems(rendered, stack_of("prod"))
    assert [(p.source, p.field, p.message.split(":")[0]) for p in problems] == [
        (SCRAPE_CONFIGS, "spec.relabelings", f"scrapes control plane 'prod-cp-{i}' at '{ip}")
        for i, ip in ((1, "203.0.113.11"), (2, "203.0.113.12"), (3, "203.0.113.13"))
    ] + [
        (
            SCRAPE_CONFIGS,
            "spec.kubernetesSDConfigs[0].selectors",
            f"scrapes node 'prod-worker-{i}' of Pulumi.prod.yaml that is no control plane "
            "(etcd runs on the control planes only",
        )
        for i in (1, 2, 3)
    ]
    spec["relabelings"] = [
        {"sourceLabels": ["__meta_kubernetes_node_name"], "regex": "x", "action": "keep"}
    ]
    fields = {p.message.split(" of ")[0] for p in etcd_scrape_problems(rendered, stack_of("prod"))}
    assert fields == {f"drops control plane 'prod-cp-{i}'" for i in (1, 2, 3)}
    # staging has no workers: a node that is no control plane is made up.
    rendered = tree_of(shipped, "staging")
    del scrape_config(rendered)["spec"]["kubernetesSDConfigs"][0]["selectors"]
    scrape_config(rendered)["spec"]["relabelings"].pop(0)
    (problem,) = etcd_scrape_problems(rendered, stack_of("staging"))
    assert problem.message.startswith("scrapes a node that is no control plane")
    # Static targets, plain HTTPS, another job, a relabelling the check cannot follow.
    rendered = tree_of(shipped, "dev")
    spec = scrape_config(rendered)["spec"]
    spec["scheme"] = "HTTPS"
    spec["relabelings"].append({"targetLabel": "job", "replacement": "etcd"})
    assert [
        (p.field, p.message.split(":")[0]) for p in etcd_scrape_problems(rendered, stack_of("dev"))
    ] == [
        ("spec.scheme", "https"),
        ("spec.relabelings", "job 'etcd'"),
    ]
    spec["relabelings"].append({"action": "hashmod", "modulus": 2, "targetLabel": "x"})
    assert etcd_scrape_problems(rendered, stack_of("dev"))[-1].message == (
        "the offline check cannot follow it: the relabel action 'hashmod'"
    )
    spec["staticConfigs"] = [{"targets": ["192.0.2.11:2381"]}]
    (problem,) = etcd_scrape_problems(rendered, stack_of("dev"))
    assert problem.field == "spec.kubernetesSDConfigs"


def test_a_missing_or_second_etcd_scrape_config(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    folder = rendered["gitops/platform/monitoring/envs/dev"]
    scrape = find(rendered, "ScrapeConfig", "kube-etcd")
    folder.append(copy.deepcopy(scrape))
    (problem,) = problems_of(rendered, "dev")
    assert problem.message.startswith("a second ScrapeConfig of job kube-etcd")
    folder[:] = [o for o in folder if o.manifest["kind"] != "ScrapeConfig"]
    (problem,) = problems_of(rendered, "dev")
    assert (problem.source, problem.object, problem.field) == (
        SCRAPE_CONFIGS,
        "ScrapeConfig monitoring/kube-etcd",
        "spec.jobName",
    )
    assert problem.message.startswith("missing: nothing scrapes etcd as job kube-etcd")
    # With etcd's rules off, nothing asks for it.
    app = application(rendered).manifest
    app["spec"]["source"]["helm"]["valuesObject"]["kubeEtcd"] = {"enabled": False}
    assert problems_of(rendered, "dev") == []


def test_kube_proxy_unverified_kubelets_and_the_chart_alertmanager_secret(
    shipped: dict[str, Rendered],
) -> None:
    rendered = tree_of(shipped, "prod")
    objects = rendered[CHART_KEY]
    kubelet = find(rendered, "ServiceMonitor", f"{APP}-kubelet").manifest
    kubelet["spec"]["endpoints"][0]["tlsConfig"]["insecureSkipVerify"] = True
    proxy = copy.deepcopy(find(rendered, "ServiceMonitor", f"{APP}-kube-scheduler"))
    proxy.manifest["metadata"]["name"] = f"{APP}-kube-proxy"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"alertmanager-{APP}-alertmanager"},
    }
    objects += [proxy, RenderedObject(secret, "x")]
    prometheus = find(rendered, "Prometheus", f"{APP}-prometheus").manifest
    prometheus["spec"]["ruleSelector"] = {"matchLabels": {"release": APP}}
    del prometheus["spec"]["podMonitorNamespaceSelector"]
    fields = [
        p.field.removeprefix("spec.source.helm.valuesObject.")
        for p in problems_of(rendered, "prod")
    ]
    assert fields == [
        "kubeProxy.enabled",
        "kubelet.serviceMonitor.insecureSkipVerify",
        "alertmanager.alertmanagerSpec.useExistingSecret",
        "prometheus.prometheusSpec.podMonitorNamespaceSelector",
        "prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues",
    ]
    alertmanager = find(rendered, "Alertmanager", f"{APP}-alertmanager").manifest
    alertmanager["spec"]["configSecret"] = f"alertmanager-{APP}-alertmanager"
    assert "alertmanager.alertmanagerSpec.configSecret" in [
        p.field.removeprefix("spec.source.helm.valuesObject.")
        for p in problems_of(rendered, "prod")
    ]


def test_the_kubelets_need_the_approver(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    folder = rendered["gitops/platform/envs/dev"]
    folder.remove(application(rendered, "kubelet-csr-approver"))
    metrics = application(rendered, "metrics-server")
    folder.remove(metrics)  # which needs it too
    problems = gitops.platform_problems("dev", rendered, stack_of("dev"))
    assert [(p.object, p.field) for p in problems] == [
        (f"Application argocd/{APP}", "spec.source.chart")
    ]
    assert problems[0].message.startswith("needs kubelet-csr-approver beside it")


# --- The project ----------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_the_project_admits_exactly_what_the_addons_apply(
    env: str, shipped: dict[str, Rendered]
) -> None:
    rendered = shipped[env]
    project = find(rendered, "AppProject", "platform").manifest["spec"]
    assert CHART_REPO in project["sourceRepos"]
    assert project["sourceRepos"][0] == gitops.GITOPS_REPO_URL
    assert {"namespace": "monitoring", "server": gitops.IN_CLUSTER_SERVER} in project[
        "destinations"
    ]
    listed = {
        (rule["group"], rule["kind"])
        for key in ("clusterResourceWhitelist", "namespaceResourceWhitelist")
        for rule in project[key]
    }
    assert ("apiextensions.k8s.io", "CustomResourceDefinition") in listed
    assert {
        ("monitoring.coreos.com", k) for k in ("PodMonitor", "ServiceMonitor", "ScrapeConfig")
    } <= listed
    assert ("", "Endpoints") not in listed  # Argo CD excludes them: nothing renders one
    assert addon_problems(env, rendered) == []
    # One kind more is too wide, one kind less refuses what needs it.
    wider = tree_of(shipped, env)
    spec = find(wider, "AppProject", "platform").manifest["spec"]
    spec["namespaceResourceWhitelist"].append({"group": "monitoring.coreos.com", "kind": "Probe"})
    spec["clusterResourceWhitelist"].remove(
        {"group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition"}
    )
    problems = addon_problems(env, wider)
    assert problems[-1].message.startswith("monitoring.coreos.com/Probe: no add-on renders one")
    refused = {p.object for p in problems if p.message == "cluster-scoped kind not whitelisted"}
    # kube-prometheus-stack's 10 CRDs, and the velero add-on's 13 (its chart's crds/).
    groups = Counter(o.split(".", 1)[1] for o in refused)
    assert groups == {"monitoring.coreos.com": 10, "velero.io": 13}


def test_the_monitoring_configuration_is_a_folder_of_this_repository(
    shipped: dict[str, Rendered],
) -> None:
    rendered = tree_of(shipped, "prod")
    spec = application(rendered, "monitoring-config").manifest["spec"]
    assert (spec["project"], spec["source"]["repoURL"]) == ("platform", gitops.GITOPS_REPO_URL)
    assert spec["source"]["path"] == "gitops/platform/monitoring/envs/prod"
    assert spec["source"]["targetRevision"] == gitops.environment_revision("prod")
    spec["source"]["path"] = "gitops/platform/envs/dev"
    spec["source"]["targetRevision"] = "main"
    problems = [
        p
        for p in addon_problems("prod", rendered)
        if p.object == "Application argocd/monitoring-config"
    ]
    assert [(p.field, p.message.split(",")[0]) for p in problems] == [
        ("spec.source.path", "must be gitops/platform/<name>/envs/prod"),
        ("spec.source.targetRevision", "must be 'env/prod' (gitops/envs/prod/revision.yaml)"),
    ]
    # Its objects are admitted like a chart's: a kind the project lacks is refused.
    rendered = tree_of(shipped, "prod")
    whitelist = find(rendered, "AppProject", "platform").manifest["spec"]
    whitelist["namespaceResourceWhitelist"].remove(
        {"group": "monitoring.coreos.com", "kind": "PodMonitor"}
    )
    (problem,) = addon_problems("prod", rendered)
    assert problem.source.startswith("gitops/platform/monitoring/")
    assert problem.message == "kind not in the project's namespaceResourceWhitelist"


# --- node-exporter's host access ----------------------------------------------------------------


def test_node_exporter_alone_may_use_the_hosts_namespaces(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    daemonset = find(rendered, "DaemonSet", "node-exporter")
    pod = daemonset.manifest["spec"]["template"]["spec"]
    assert (pod["hostNetwork"], pod["hostPID"]) == (True, True)
    granted = rules.host_access("dev", rendered)
    assert granted == {id(daemonset): frozenset({"hostNetwork", "hostPID"})}
    assert rules.host_access_problems("dev", rendered) == []
    assert gitops.object_rules(daemonset.manifest, granted[id(daemonset)]) == []
    # Not hostIPC nor a hostPort, even there.
    pod["hostIPC"] = True
    pod["containers"][0]["ports"][0]["hostPort"] = 9100
    fields = [field for field, _ in gitops.object_rules(daemonset.manifest, granted[id(daemonset)])]
    assert fields == [
        "spec.template.spec.hostIPC",
        "spec.template.spec.containers[0].ports[0].hostPort",
    ]


def test_the_same_daemonset_as_an_app_or_another_workload_is_refused(
    shipped: dict[str, Rendered],
) -> None:
    rendered = tree_of(shipped, "dev")
    daemonset = find(rendered, "DaemonSet", "node-exporter")
    # The same DaemonSet in an app's overlay (project `dev`): no grant.
    copied = copy.deepcopy(daemonset)
    rendered["gitops/apps/podinfo/overlays/dev"].append(copied)
    assert id(copied) not in rules.host_access("dev", rendered)
    # Another workload of the same chart with the host's network.
    grafana = find(rendered, "Deployment", "grafana")
    grafana.manifest["spec"]["template"]["spec"]["hostNetwork"] = True
    # An Application of that name in another project gets nothing either.
    app = application(rendered).manifest
    granted = rules.host_access("dev", rendered)
    assert set(granted) == {id(daemonset)}
    app["spec"]["project"] = "dev"
    assert rules.host_access("dev", rendered) == {}
    app["spec"]["project"] = "platform"
    problems = gitops.validate_environment("dev", K8S, rendered=rendered)
    hosts = [(p.object, p.field) for p in problems if "is not allowed" in p.message]
    assert hosts == [
        ("DaemonSet node-exporter/node-exporter", "spec.template.spec.hostNetwork"),
        ("DaemonSet node-exporter/node-exporter", "spec.template.spec.hostPID"),
        ("Deployment monitoring/grafana", "spec.template.spec.hostNetwork"),
    ]


def test_a_grant_wider_than_the_daemonset_needs_is_named(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    daemonset = find(rendered, "DaemonSet", "node-exporter")
    daemonset.manifest["spec"]["template"]["spec"].pop("hostPID")
    (problem,) = rules.host_access_problems("dev", rendered)
    assert (problem.object, problem.field) == ("DaemonSet node-exporter/node-exporter", "hostPID")
    assert problem.message.startswith("granted by HOST_ACCESS")
    daemonset.manifest["metadata"]["name"] = "prometheus-node-exporter"
    (problem,) = rules.host_access_problems("dev", rendered)
    assert problem.object == f"Application argocd/{APP}"
    assert "which its charts no longer render" in problem.message
