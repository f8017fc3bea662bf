"""What Prometheus scrapes beyond kube-prometheus-stack's own targets, and the dashboards
(gitops/platform/monitoring/base, docs/monitoring.md).

- Every ServiceMonitor selects exactly the Services it is written for among what each stack
  runs (`scheduling.sources.stack_objects`: the program's objects, its rendered Helm releases,
  the GitOps environment), each endpoint's port is a named port of the Service, and the Service
  sends it to a container port of pods that exist; every PodMonitor selects pods with its port.
- Prometheus, in `monitoring`, may open every such port: no NetworkPolicy of the target's
  namespace shuts it out (podinfo's default-deny would, without `metrics-from-monitoring`).
- Every dashboard parses, has a uid and title, reads its data source from the `${datasource}`
  variable in every panel and query, is a ConfigMap the Grafana sidecar loads, and names only
  metrics its exporter defines, and the SLO recording rules of the agreed convention.
- The Application `monitoring-config` points at this repository, after every other add-on.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from offline import parsed
from offline.graph import plan_document
from offline.paths import REPO_ROOT, UPSTREAM_DIR
from offline.validators import gitops, helm_render, scheduling
from offline.validators.cluster_objects import pod_template, selected_workloads
from offline.validators.disruption.objects import Placed, selector_matches
from offline.validators.gitops.schemas import _schema_problems, _walk_unknown_keys
from offline.validators.monitoring import dashboard_problems
from offline.validators.scheduling.sources import stack_objects
from tests.conftest import NS, STACKS, recorded, stack_values
from tests.offline.test_storage_binding import shipped_objects

K8S = "v1.36.2"
MONITORING = REPO_ROOT / "gitops" / "platform" / "monitoring"
BASE = MONITORING / "base"
DASHBOARDS = BASE / "dashboards"
ADDON = REPO_ROOT / "gitops" / "platform" / "addons" / "monitoring-config"
PROMETHEUS_NAMESPACE = "monitoring"
MONITOR_KINDS = ("ServiceMonitor", "PodMonitor")

#: What each monitor must select in every stack: Services (ServiceMonitor) or workloads whose
#: pods it scrapes (PodMonitor), as (namespace, name).
EXPECTED: dict[tuple[str, str], set[tuple[str, str]]] = {
    # upstream/charts/argo-cd templates/argocd-*/metrics.yaml
    ("ServiceMonitor", "argocd"): {
        ("argocd", "argocd-application-controller-metrics"),
        ("argocd", "argocd-applicationset-controller-metrics"),
        ("argocd", "argocd-repo-server-metrics"),
        ("argocd", "argocd-server-metrics"),
    },
    # components/cloudflare/cloudflared.py, metrics_service_manifest
    ("ServiceMonitor", "cloudflared"): {("cloudflared", "cloudflared-metrics")},
    # upstream/charts/cilium templates/cilium-agent/service.yaml, cilium-operator/service.yaml,
    # cilium-envoy/service.yaml
    ("ServiceMonitor", "cilium-agent"): {("kube-system", "cilium-agent")},
    ("ServiceMonitor", "cilium-operator"): {("kube-system", "cilium-operator")},
    ("ServiceMonitor", "cilium-envoy"): {("kube-system", "cilium-envoy")},
    # gitops/apps/podinfo/base
    ("PodMonitor", "podinfo"): {("podinfo", "frontend"), ("podinfo", "backend")},
}
#: With `argocd_notifications_url` set, the notifications controller's metrics Service too.
NOTIFICATIONS_SERVICE = ("argocd", "argocd-notifications-controller-metrics")

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: The SLO recording rules (gitops/platform/monitoring/rules): `level:metric:operation`, the
#: error ratio of the SLI over each window, the objective and the 30-day budget left; every
#: series carries `slo_service` and `slo_hostname`.
SLO_WINDOWS = ("5m", "1h", "6h", "1d", "30d")
SLO_RECORDS = frozenset(
    {
        *(f"slo:sli_error:ratio_rate{window}" for window in SLO_WINDOWS),
        "slo:objective:ratio",
        "slo:error_budget_remaining:ratio",
    }
)
#: Metric names the dashboards may read, by the exporter that defines them (histograms by their
#: base name).
EXPORTED: dict[str, frozenset[str]] = {
    # argoproj/argo-cd v3.4.4 controller/metrics/metrics.go
    "argocd_": frozenset({"argocd_app_info", "argocd_app_sync_total", "argocd_app_reconcile"}),
    # cloudflare/cloudflared supervisor/metrics.go (ha_connections), proxy/metrics.go,
    # connection/metrics.go (namespace `cloudflared`, subsystem `tunnel`)
    "cloudflared_": frozenset(
        {
            "cloudflared_tunnel_ha_connections",
            "cloudflared_tunnel_total_requests",
            "cloudflared_tunnel_request_errors",
            "cloudflared_tunnel_response_by_code",
            "cloudflared_tunnel_concurrent_requests_per_tunnel",
            "cloudflared_tunnel_server_locations",
        }
    ),
    # kube-state-metrics docs/metrics/workload/pod-metrics.md, cluster/node-metrics.md
    "kube_": frozenset(
        {
            "kube_pod_container_resource_requests",
            "kube_pod_status_phase",
            "kube_pod_info",
            "kube_node_info",
            "kube_node_status_allocatable",
        }
    ),
    # prometheus/node_exporter collector/cpu_linux.go, meminfo.go, uname.go
    "node_": frozenset(
        {
            "node_cpu_seconds_total",
            "node_uname_info",
            "node_memory_MemAvailable_bytes",
            "node_memory_MemTotal_bytes",
        }
    ),
    "slo:": SLO_RECORDS,
    # Prometheus's own, per target
    "up": frozenset({"up"}),
}


# --- The objects --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def monitors() -> tuple[dict[str, Any], ...]:
    """The base's objects, as `kubectl kustomize` renders them."""
    return tuple(gitops.render(BASE))


def monitors_of(kind: str) -> list[dict[str, Any]]:
    return [obj for obj in monitors() if obj["kind"] == kind]


@lru_cache(maxsize=1)
def with_notifications() -> tuple[Placed, ...]:
    """What the program puts in dev's cluster with Argo CD's notifications on (a receiver URL
    set): its objects and its Helm releases' (the argo-cd release with the notifications
    controller, its metrics Service and NetworkPolicy)."""
    values, secrets = stack_values("dev")
    values[f"{NS}:argocd_notifications_url"] = "https://hooks.example.test/T000/B000/x"
    secrets = secrets | {f"{NS}:argocd_notifications_url"}
    doc = plan_document(recorded("dev", values, secrets))
    nodes, _ = scheduling.plan_nodes(doc)
    releases = helm_render.rendered_releases(doc, K8S)
    # The program's objects and its Helm releases; the GitOps tree is the same as without.
    objects, notes = stack_objects(doc, K8S, nodes, {}, releases)
    assert notes == []
    return tuple(objects)


def namespaces_of(monitor: dict[str, Any]) -> set[str] | None:
    """The namespaces a monitor looks in (None: all), as prometheus-operator reads
    `namespaceSelector`: `any: true`, else `matchNames`, else the monitor's own namespace."""
    selector = monitor["spec"].get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    return set(selector.get("matchNames") or [monitor["metadata"]["namespace"]])


def in_namespaces(placed: Placed, namespaces: set[str] | None) -> bool:
    return namespaces is None or placed.namespace in namespaces


def container_ports(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        port
        for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
        for port in container.get("ports") or []
    ]


def pods_port(spec: dict[str, Any], target: Any) -> dict[str, Any] | None:
    """The container port a Service's `targetPort` (a name or a number) reaches."""
    for port in container_ports(spec):
        if target in (port.get("name"), port.get("containerPort")):
            return port
    return None


@dataclass(frozen=True)
class Target:
    """One port Prometheus scrapes: the monitor, the Service in front (None for a PodMonitor),
    the workload whose pods serve it and the container port."""

    monitor: str
    service: str | None
    workload: Placed
    port: dict[str, Any]


def scrape(
    monitor: dict[str, Any], objects: list[Placed]
) -> tuple[set[tuple[str, str]], list[Target], list[str]]:
    """(what the monitor selects as (namespace, name), the ports it scrapes, problems)."""
    kind, name = monitor["kind"], monitor["metadata"]["name"]
    spec = monitor["spec"]
    namespaces = namespaces_of(monitor)
    selected: set[tuple[str, str]] = set()
    targets: list[Target] = []
    problems: list[str] = []
    if kind == "ServiceMonitor":
        for service in objects:
            labels = (service.manifest.get("metadata") or {}).get("labels") or {}
            if service.manifest.get("kind") != "Service" or not in_namespaces(service, namespaces):
                continue
            if not selector_matches(spec["selector"], labels):
                continue
            service_name = service.manifest["metadata"]["name"]
            selected.add((service.namespace, service_name))
            ports = {p.get("name"): p for p in service.manifest["spec"].get("ports") or []}
            workloads = selected_workloads(service, objects)
            if not workloads:
                problems.append(f"{kind} {name}: Service {service_name} selects no pods")
            for endpoint in spec["endpoints"]:
                port = ports.get(endpoint.get("port"))
                if port is None:
                    problems.append(
                        f"{kind} {name}: Service {service.namespace}/{service_name} has no port "
                        f"named {endpoint.get('port')!r} (it has {sorted(map(str, ports))})"
                    )
                    continue
                target_port = port.get("targetPort", port.get("port"))
                for workload in workloads:
                    _, pod_spec = pod_template(workload.manifest) or ({}, {})
                    found = pods_port(pod_spec, target_port)
                    if found is None:
                        problems.append(
                            f"{kind} {name}: Service {service_name} port {port.get('name')} "
                            f"targets {target_port!r}, which no container of "
                            f"{workload.manifest['kind']} {workload.manifest['metadata']['name']}"
                            " declares"
                        )
                        continue
                    targets.append(Target(name, service_name, workload, found))
    else:
        for workload in objects:
            template = pod_template(workload.manifest)
            if template is None or not in_namespaces(workload, namespaces):
                continue
            labels, pod_spec = template
            if not selector_matches(spec["selector"], labels):
                continue
            selected.add((workload.namespace, workload.manifest["metadata"]["name"]))
            named = {p.get("name"): p for p in container_ports(pod_spec)}
            for endpoint in spec["podMetricsEndpoints"]:
                found = named.get(endpoint.get("port"))
                if found is None:
                    problems.append(
                        f"{kind} {name}: {workload.manifest['kind']} "
                        f"{workload.manifest['metadata']['name']} has no container port named "
                        f"{endpoint.get('port')!r}"
                    )
                    continue
                targets.append(Target(name, None, workload, found))
    if not selected:
        problems.append(f"{kind} {name}: selects nothing")
    return selected, targets, problems


# --- NetworkPolicies: can Prometheus open the port? --------------------------------------------


def _port_admitted(rule_ports: list[dict[str, Any]] | None, port: dict[str, Any]) -> bool:
    if not rule_ports:
        return True
    number, name = port.get("containerPort"), port.get("name")
    protocol = port.get("protocol", "TCP")
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None or wanted in (number, name):
            return True
        end = entry.get("endPort")
        if isinstance(wanted, int) and isinstance(end, int) and wanted <= (number or -1) <= end:
            return True
    return False


def _peer_admits_prometheus(peer: dict[str, Any]) -> bool:
    """A `from` entry that admits every pod of `monitoring`: a namespaceSelector matching it and
    no podSelector narrower than all pods (Prometheus's pod labels are kube-prometheus-stack's,
    not this repository's). An ipBlock does not count: pod addresses are not fixed."""
    if "namespaceSelector" not in peer:
        return False
    namespace_labels = {"kubernetes.io/metadata.name": PROMETHEUS_NAMESPACE}
    if not selector_matches(peer["namespaceSelector"], namespace_labels):
        return False
    return not peer.get("podSelector")


def shut_out(target: Target, objects: list[Placed]) -> list[str]:
    """Why Prometheus cannot open the target's port, if it cannot: a NetworkPolicy selects the
    pods for ingress and none of the selecting policies admits `monitoring` on that port."""
    labels, spec = pod_template(target.workload.manifest) or ({}, {})
    if spec.get("hostNetwork"):
        return []  # NetworkPolicies do not apply to pods on the host's network
    policies = [
        placed.manifest
        for placed in objects
        if placed.manifest.get("kind") == "NetworkPolicy"
        and placed.namespace == target.workload.namespace
        and selector_matches(placed.manifest["spec"].get("podSelector"), labels)
        and "Ingress" in (placed.manifest["spec"].get("policyTypes") or ["Ingress"])
    ]
    if not policies:
        return []
    for policy in policies:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            if (not peers or any(map(_peer_admits_prometheus, peers))) and _port_admitted(
                rule.get("ports"), target.port
            ):
                return []
    workload = target.workload
    return [
        f"{target.monitor}: {workload.manifest['kind']} {workload.namespace}/"
        f"{workload.manifest['metadata']['name']} port {target.port.get('name')} "
        f"({target.port.get('containerPort')}): NetworkPolicies "
        f"{sorted(p['metadata']['name'] for p in policies)} admit no ingress from namespace "
        f"{PROMETHEUS_NAMESPACE!r} to it"
    ]


# --- Scrape targets -----------------------------------------------------------------------------


def test_the_base_holds_one_monitor_per_target_and_the_dashboards() -> None:
    found = {
        (obj["kind"], obj["metadata"]["name"]) for obj in monitors() if obj["kind"] in MONITOR_KINDS
    }
    assert found == set(EXPECTED)
    assert {obj["metadata"]["namespace"] for obj in monitors()} == {PROMETHEUS_NAMESPACE}
    for monitor in monitors():
        if monitor["kind"] in MONITOR_KINDS:
            # Explicit namespaces: a monitor never scrapes a namespace it was not written for.
            assert monitor["spec"]["namespaceSelector"].get("matchNames"), monitor["metadata"]


@pytest.mark.parametrize("stack", STACKS)
def test_each_monitor_selects_exactly_its_targets(stack: str) -> None:
    objects = list(shipped_objects(stack))
    for monitor in monitors():
        if monitor["kind"] not in MONITOR_KINDS:
            continue
        selected, targets, problems = scrape(monitor, objects)
        key = (monitor["kind"], monitor["metadata"]["name"])
        assert problems == []
        assert selected == EXPECTED[key], key
        assert targets, key


def test_the_notifications_controller_is_scraped_once_it_runs() -> None:
    objects = list(with_notifications())
    [argocd] = [m for m in monitors_of("ServiceMonitor") if m["metadata"]["name"] == "argocd"]
    selected, targets, problems = scrape(argocd, objects)
    assert problems == []
    assert selected == EXPECTED[("ServiceMonitor", "argocd")] | {NOTIFICATIONS_SERVICE}
    assert "argocd-notifications-controller-metrics" in {t.service for t in targets}
    # The chart's NetworkPolicy of the controller admits its metrics port from every namespace.
    assert [p for target in targets for p in shut_out(target, objects)] == []


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_may_open_every_scraped_port(stack: str) -> None:
    objects = list(shipped_objects(stack))
    problems = []
    for monitor in monitors():
        if monitor["kind"] in MONITOR_KINDS:
            for target in scrape(monitor, objects)[1]:
                problems += shut_out(target, objects)
    assert problems == []


def podinfo_targets(objects: list[Placed]) -> list[Target]:
    [podinfo] = monitors_of("PodMonitor")
    return scrape(podinfo, objects)[1]


def test_podinfos_default_deny_opens_the_metrics_port_to_monitoring_only() -> None:
    objects = list(shipped_objects("dev"))
    targets = podinfo_targets(objects)
    assert {t.port["containerPort"] for t in targets} == {9797}
    assert [p for t in targets for p in shut_out(t, objects)] == []
    # Without the policy `metrics-from-monitoring`, default-deny shuts Prometheus out.
    without = [
        o
        for o in objects
        if not (
            o.manifest["kind"] == "NetworkPolicy"
            and o.manifest["metadata"]["name"] == "metrics-from-monitoring"
        )
    ]
    problems = [p for t in targets for p in shut_out(t, without)]
    assert len(problems) == 2
    assert "Deployment podinfo/frontend port http-metrics (9797)" in problems[0] + problems[1]
    assert "admit no ingress from namespace 'monitoring'" in problems[0]
    # The API port stays closed to monitoring (only the tunnel reaches the frontend's).
    for target in targets:
        api = Target(target.monitor, None, target.workload, {"name": "http", "containerPort": 9898})
        assert shut_out(api, objects), target.workload.manifest["metadata"]["name"]


def test_a_monitor_that_misses_its_target_is_named() -> None:
    objects = list(shipped_objects("dev"))
    [cloudflared] = [
        m for m in monitors_of("ServiceMonitor") if m["metadata"]["name"] == "cloudflared"
    ]
    wrong_port = copy.deepcopy(cloudflared)
    wrong_port["spec"]["endpoints"][0]["port"] = "http-metrics"
    assert scrape(wrong_port, objects)[2] == [
        "ServiceMonitor cloudflared: Service cloudflared/cloudflared-metrics has no port named "
        "'http-metrics' (it has ['metrics'])"
    ]
    wrong_namespace = copy.deepcopy(cloudflared)
    wrong_namespace["spec"]["namespaceSelector"] = {"matchNames": ["cloudflare"]}
    assert scrape(wrong_namespace, objects)[:1] == (set(),)
    assert scrape(wrong_namespace, objects)[2] == ["ServiceMonitor cloudflared: selects nothing"]
    [podinfo] = monitors_of("PodMonitor")
    wrong_pod_port = copy.deepcopy(podinfo)
    wrong_pod_port["spec"]["podMetricsEndpoints"][0]["port"] = "metrics"
    assert "Deployment frontend has no container port named 'metrics'" in " ".join(
        scrape(wrong_pod_port, objects)[2]
    )


def _monitoring_crds() -> dict[str, dict[str, Any]]:
    """The prometheus-operator CRDs of ServiceMonitor and PodMonitor wherever upstream/ vendors
    them (kube-prometheus-stack's `crds` subchart: `crd-servicemonitors.yaml`,
    `crd-podmonitors.yaml`), by kind."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(UPSTREAM_DIR.rglob("*.yaml")):
        if "crds" not in path.parts or not re.search(r"(service|pod)monitors?\.yaml$", path.name):
            continue
        crd = parsed.load(path)
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        if crd.get("spec", {}).get("group") == "monitoring.coreos.com":
            found[crd["spec"]["names"]["kind"]] = crd
    return found


def test_the_monitors_are_valid_for_the_prometheus_operator_crds() -> None:
    crds = _monitoring_crds()
    if set(crds) < set(MONITOR_KINDS):
        pytest.skip("the prometheus-operator CRDs are not vendored in upstream/charts (yet)")
    problems = []
    for monitor in monitors():
        if monitor["kind"] not in MONITOR_KINDS:
            continue
        [version] = [v for v in crds[monitor["kind"]]["spec"]["versions"] if v["name"] == "v1"]
        schema = version["schema"]["openAPIV3Schema"]
        name = f"{monitor['kind']} {monitor['metadata']['name']}"
        problems += _schema_problems(jsonschema.Draft7Validator(schema), monitor, "base", name)
        problems += _walk_unknown_keys(monitor, schema, [], "base", name)
    assert [str(p) for p in problems] == []


# --- Dashboards ---------------------------------------------------------------------------------


DASHBOARD_FILES = sorted(path.name for path in DASHBOARDS.glob("*.json"))


def dashboard(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / name).read_text())


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []  # a collapsed row's


def expressions(board: dict[str, Any]) -> Iterator[str]:
    for panel in panels(board):
        for target in panel.get("targets") or []:
            yield target["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield query["query"] if isinstance(query, dict) else query


_PROMQL_WORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "or", "and", "unless",
     "bool", "offset", "inf", "nan"}
)  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana `label_values(...)`) reads."""
    text = re.sub(r"label_values\(([^,)]+)(,[^)]*)?\)", r"(\1)", expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        if word.lower() in _PROMQL_WORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def exported(name: str) -> bool:
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return any(
        name.startswith(prefix) and (name in known or base in known)
        for prefix, known in EXPORTED.items()
    )


def test_every_dashboard_is_a_configmap_the_grafana_sidecar_loads() -> None:
    assert DASHBOARD_FILES == [
        "argocd.json",
        "cloudflare-tunnel.json",
        "node-capacity.json",
        "slo.json",
    ]
    configmaps = {o["metadata"]["name"]: o for o in monitors() if o["kind"] == "ConfigMap"}
    # Stable names (no generator hash): an edit updates the ConfigMap the sidecar watches.
    assert sorted(configmaps) == sorted(
        f"grafana-dashboard-{Path(f).stem}" for f in DASHBOARD_FILES
    )
    for file in DASHBOARD_FILES:
        configmap = configmaps[f"grafana-dashboard-{Path(file).stem}"]
        assert configmap["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert configmap["metadata"]["namespace"] == PROMETHEUS_NAMESPACE
        assert configmap["data"] == {file: (DASHBOARDS / file).read_text()}


@pytest.mark.parametrize("file", DASHBOARD_FILES)
def test_a_dashboard_reads_its_data_source_from_the_variable(file: str) -> None:
    board = dashboard(file)
    assert isinstance(board["uid"], str) and 0 < len(board["uid"]) <= 40  # Grafana's limit
    assert board["title"].strip()
    assert board["schemaVersion"] >= 39
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]
    ids = []
    for panel in panels(board):
        ids.append(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, (panel["title"], target["refId"])
            assert target["expr"].strip(), (panel["title"], target["refId"])
    assert len(ids) == len(set(ids))


def test_dashboard_uids_are_unique() -> None:
    uids = [dashboard(file)["uid"] for file in DASHBOARD_FILES]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("file", DASHBOARD_FILES)
def test_a_dashboard_reads_only_metrics_their_exporters_define(file: str) -> None:
    names = {name for expr in expressions(dashboard(file)) for name in metric_names(expr)}
    assert names
    assert sorted(name for name in names if not exported(name)) == []


def test_the_metric_name_reader() -> None:
    expr = (
        'sum by (node) (kube_pod_container_resource_requests{resource="cpu", node=~"$node"} '
        "* on (namespace, pod) group_left () (max by (namespace, pod) "
        '(kube_pod_status_phase{phase=~"Pending|Running"} == 1))) / '
        "histogram_quantile(0.95, sum by (le) "
        "(rate(argocd_app_reconcile_bucket[$__rate_interval]))) or vector(0)"
    )
    assert metric_names(expr) == {
        "kube_pod_container_resource_requests",
        "kube_pod_status_phase",
        "argocd_app_reconcile_bucket",
    }
    assert metric_names('label_values(slo:objective:ratio{slo_service=~"$s"}, slo_hostname)') == {
        "slo:objective:ratio"
    }
    assert exported("argocd_app_reconcile_bucket")
    assert not exported("argocd_app_sync_status")
    assert not exported("slo:sli_error:ratio_rate2h")


def test_every_dashboard_query_is_valid_promql() -> None:
    """Parsed by offline.validators.monitoring (a real PromQL parser, Grafana's variables
    replaced first), with the SLO recording rules of the convention recorded (whether the rules
    of gitops/platform/monitoring/rules record them is the next test's)."""
    convention = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "slo-convention", "namespace": PROMETHEUS_NAMESPACE},
        "spec": {
            "groups": [
                {
                    "name": "slo",
                    "rules": [{"record": n, "expr": "vector(0)"} for n in sorted(SLO_RECORDS)],
                }
            ]
        },
    }
    assert dashboard_problems([*monitors(), convention]) == []
    broken = copy.deepcopy(next(o for o in monitors() if o["kind"] == "ConfigMap"))
    [(key, text)] = broken["data"].items()
    broken["data"][key] = text.replace("sum(", "sum((", 1)
    [problem] = dashboard_problems([broken, convention])
    assert "not valid PromQL" in problem


def test_the_slo_dashboard_reads_every_recording_rule_by_service_and_hostname() -> None:
    board = dashboard("slo.json")
    exprs = list(expressions(board))
    names = {name for expr in exprs for name in metric_names(expr)}
    assert names == SLO_RECORDS
    for panel in panels(board):
        for target in panel.get("targets") or []:
            for name in metric_names(target["expr"]):
                # Each reference filters by both variables.
                assert re.search(
                    re.escape(name) + r'\{slo_service=~"\$service", slo_hostname=~"\$hostname"\}',
                    target["expr"],
                ), (panel["title"], name)


def _recorded_names() -> set[str] | None:
    """Every `record` of the PrometheusRules under gitops/platform/monitoring/rules, or None
    while that folder does not exist."""
    rules = MONITORING / "rules"
    if not rules.is_dir():
        return None
    names = set()
    for path in rules.rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "PrometheusRule":
                for group in document["spec"].get("groups") or []:
                    names |= {r["record"] for r in group.get("rules") or [] if "record" in r}
    return names


def test_the_slo_recording_rules_exist() -> None:
    recorded_names = _recorded_names()
    if recorded_names is None:
        pytest.skip("gitops/platform/monitoring/rules does not exist (yet)")
    assert sorted(SLO_RECORDS - recorded_names) == []


# --- Environments and the Application -----------------------------------------------------------


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_each_environment_takes_the_base_and_its_rules(env: str) -> None:
    folder = MONITORING / "envs" / env
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [
        "../../base",
        "../../rules/common",
        f"../../rules/slos/{env}",
    ]
    if not all((folder / resource).resolve().is_dir() for resource in kustomization["resources"]):
        pytest.skip("gitops/platform/monitoring/rules/{common,slos/<env>} do not exist (yet)")
    rendered = {(o["kind"], o["metadata"]["name"]) for o in gitops.render(folder)}
    assert {(o["kind"], o["metadata"]["name"]) for o in monitors()} <= rendered


def _waves(folder: Path) -> dict[str, int]:
    return {
        o["metadata"]["name"]: int(
            (o["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave", "0")
        )
        for o in gitops.render(folder)
        if o["kind"] == "Application"
    }


def test_monitoring_config_follows_this_repository_after_every_other_addon() -> None:
    [app] = gitops.render(ADDON)
    assert gitops.validate_manifest(app, K8S, "application.yaml") == []
    spec = app["spec"]
    assert spec["project"] == gitops.PLATFORM_PROJECT
    assert spec["source"]["repoURL"] == gitops.GITOPS_REPO_URL
    assert spec["destination"] == {
        "server": gitops.IN_CLUSTER_SERVER,
        "namespace": PROMETHEUS_NAMESPACE,
    }
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "ServerSideApply=true" in spec["syncPolicy"]["syncOptions"]
    assert "CreateNamespace=true" not in spec["syncPolicy"]["syncOptions"]  # the program's
    assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    [wave] = _waves(ADDON).values()
    for env in gitops.ENVIRONMENTS:
        others = {
            n: w
            for n, w in _waves(REPO_ROOT / gitops.platform_path(env)).items()
            if n != app["metadata"]["name"]
        }
        # The last wave, which velero and etcd-backup share: neither needs monitoring-config
        # nor holds it up, and both come after kube-prometheus-stack's CRDs.
        assert wave >= max(others.values()), (env, others)
        assert wave > others["kube-prometheus-stack"], (env, others)


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_each_environment_sets_the_folder_and_its_git_ref(env: str) -> None:
    rendered = gitops.render(REPO_ROOT / gitops.platform_path(env))
    apps = [
        o
        for o in rendered
        if o["kind"] == "Application" and o["metadata"]["name"] == "monitoring-config"
    ]
    if not apps:
        pytest.skip(f"{gitops.platform_path(env)} does not list monitoring-config (yet)")
    [app] = apps
    assert app["spec"]["source"] == {
        "repoURL": gitops.GITOPS_REPO_URL,
        "path": f"gitops/platform/monitoring/envs/{env}",
        "targetRevision": gitops.environment_revision(env),
    }
    [project] = [o for o in rendered if o["kind"] == "AppProject"]
    assert gitops.GITOPS_REPO_URL in project["spec"]["sourceRepos"]
    assert {"server": gitops.IN_CLUSTER_SERVER, "namespace": PROMETHEUS_NAMESPACE} in project[
        "spec"
    ]["destinations"]
