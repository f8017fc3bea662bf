"""The monitoring add-on (kube-prometheus-stack, gitops/platform): rendered from the vendored chart
in every environment, validated (its custom resources against the vendored prometheus-operator
CRDs), placed on the stack's nodes with what the operator makes of it, fenced by the project
`platform`, and checked against the stack; and proof that each check fails when it should."""

from __future__ import annotations

import copy
import dataclasses
from ipaddress import IPv4Address
from typing import Any

import pytest

from offline.validators import gitops
from offline.validators.gitops import RenderedObject, charts, operator, rules, schemas
from offline.validators.gitops.addons import ANNOTATION_LIMIT, addon_problems
from offline.validators.gitops.monitoring_stack import monitoring_problems
from offline.validators.scheduling import evaluate
from tests.conftest import document

ENVS = gitops.ENVIRONMENTS
K8S = "v1.36.2"
Rendered = dict[str, list[RenderedObject]]
APP = "kube-prometheus-stack"
CHART_KEY = "chart kube-prometheus-stack 88.5.3 (Application kube-prometheus-stack)"
CHART_REPO = "https://prometheus-community.github.io/helm-charts"
CONTROL_PLANES = {
    "dev": ["192.0.2.11"],
    "staging": ["198.51.100.11", "198.51.100.12", "198.51.100.13"],
    "prod": ["203.0.113.11", "203.0.113.12", "203.0.113.13"],
}


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
def test_the_control_plane_is_scraped_on_the_stacks_control_planes(
    env: str, shipped: dict[str, Rendered]
) -> None:
    stack = stack_of(env)
    assert [str(n.ip) for n in stack.nodes if n.controlplane] == CONTROL_PLANES[env]
    for suffix, port in (
        ("kube-controller-manager", 10257),
        ("kube-scheduler", 10259),
        ("kube-etcd", 2381),
    ):
        endpoints = find(shipped[env][CHART_KEY], "Endpoints", f"{APP}-{suffix}").manifest
        assert endpoints["metadata"]["namespace"] == "kube-system"
        (subset,) = endpoints["subsets"]
        assert [a["ip"] for a in subset["addresses"]] == CONTROL_PLANES[env]
        assert [p["port"] for p in subset["ports"]] == [port]
    names = {o.manifest["metadata"]["name"] for o in shipped[env][CHART_KEY]}
    assert not {n for n in names if "kube-proxy" in n}
    assert problems_of(shipped[env], env) == []


def test_the_namespace_secret_and_ports_are_the_programs() -> None:
    from components.monitoring import alerting
    from components.talos import documents
    from offline.validators.gitops import monitoring_stack

    assert (
        monitoring_stack.MONITORING_NAMESPACE,
        monitoring_stack.ALERTMANAGER_SECRET,
        monitoring_stack.ALERTMANAGER_SECRET_KEY,
    ) == (alerting.NAMESPACE, alerting.CONFIG_SECRET, alerting.CONFIG_KEY)
    ports = {t.suffix: t.port for t in monitoring_stack.CONTROL_PLANE_TARGETS}
    assert ports["kube-etcd"] == documents.ETCD_METRICS_PORT
    assert documents.METRICS_ARGS["etcd"]["listen-metrics-urls"].endswith(":2381")
    for component in ("controllerManager", "scheduler"):
        assert documents.METRICS_ARGS[component] == {"bind-address": "0.0.0.0"}
    (rule,) = rules.HOST_ACCESS
    assert rule.namespace == alerting.NAMESPACE
    labels = alerting.namespace_manifest()["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


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
    assert pods["DaemonSet monitoring/node-exporter"] == len(report.nodes)
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


def test_an_endpoint_that_is_not_a_control_plane(shipped: dict[str, Rendered]) -> None:
    nodes = list(stack_of("staging").nodes)
    nodes[1] = dataclasses.replace(nodes[1], ip=IPv4Address("198.51.100.14"))
    problems = problems_of(shipped["staging"], "staging", stack_of("staging", nodes=tuple(nodes)))
    values = "spec.source.helm.valuesObject"
    assert [(p.field, p.message.split(":")[0]) for p in problems] == [
        (f"{values}.{key}.endpoints", message)
        for key in ("kubeControllerManager", "kubeScheduler", "kubeEtcd")
        for message in (
            "198.51.100.12 is no control plane of Pulumi.staging.yaml (198.51.100.11, "
            "198.51.100.14, 198.51.100.13)",
            "leaves out control plane 'staging-cp-2' (198.51.100.14) of Pulumi.staging.yaml",
        )
    ]


def test_missing_endpoints_a_wrong_port_and_scheme(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    objects = rendered[CHART_KEY]
    rendered[CHART_KEY] = [
        o
        for o in objects
        if o.manifest["metadata"]["name"] != f"{APP}-kube-scheduler"
        or o.manifest["kind"] != "Endpoints"
    ]
    etcd = find(rendered, "Endpoints", f"{APP}-kube-etcd").manifest
    etcd["subsets"][0]["ports"][0]["port"] = 2379
    monitor = find(rendered, "ServiceMonitor", f"{APP}-kube-controller-manager").manifest
    monitor["spec"]["endpoints"][0].pop("scheme")
    values = "spec.source.helm.valuesObject"
    assert [(p.field, p.message.split(",")[0]) for p in problems_of(rendered, "dev")] == [
        (
            f"{values}.kubeControllerManager.serviceMonitor.https",
            "scrapes over http: must be https",
        ),
        (
            f"{values}.kubeScheduler.endpoints",
            "empty: Talos runs the scheduler as a static pod that the chart's Service selector "
            "does not find; list the control planes of Pulumi.dev.yaml (192.0.2.11)",
        ),
        (f"{values}.kubeEtcd.service.port", "port 2379: must be 2381"),
    ]


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
    assert {("monitoring.coreos.com", k) for k in ("PodMonitor", "ServiceMonitor")} <= listed
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
    assert len(refused) == 10 and all(o.endswith(".monitoring.coreos.com") for o in refused)


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
        ("DaemonSet monitoring/node-exporter", "spec.template.spec.hostNetwork"),
        ("DaemonSet monitoring/node-exporter", "spec.template.spec.hostPID"),
        ("Deployment monitoring/grafana", "spec.template.spec.hostNetwork"),
    ]


def test_a_grant_wider_than_the_daemonset_needs_is_named(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    daemonset = find(rendered, "DaemonSet", "node-exporter")
    daemonset.manifest["spec"]["template"]["spec"].pop("hostPID")
    (problem,) = rules.host_access_problems("dev", rendered)
    assert (problem.object, problem.field) == ("DaemonSet monitoring/node-exporter", "hostPID")
    assert problem.message.startswith("granted by HOST_ACCESS")
    daemonset.manifest["metadata"]["name"] = "prometheus-node-exporter"
    (problem,) = rules.host_access_problems("dev", rendered)
    assert problem.object == f"Application argocd/{APP}"
    assert "which its charts no longer render" in problem.message
