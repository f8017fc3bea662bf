"""The monitoring add-on (kube-prometheus-stack) against the stack it runs on and what the
program provides, as platform.py checks the other add-ons (docs/monitoring.md):

- it is in `monitoring`, the namespace the program creates (Pod Security `baseline`; node-exporter
  alone runs in the privileged `node-exporter`), and its
  Alertmanager reads the program's Secret `alertmanager-config` (the chart makes no config
  Secret of its own);
- the controller manager and the scheduler run as Talos static pods on the host's network: the
  chart's Services select exactly that pod (Talos' labels, `k8s-app: <component>`), so their
  endpoints are the control planes' addresses, on the ports and schemes Talos serves them
  (components/talos/documents.py, `METRICS_ARGS`); no `endpoints` lists: the Endpoints objects
  they render are a kind Argo CD excludes (exclusions.py) and never applies;
- etcd is a Talos service on the host, no pod: the chart keeps its rules but renders no Service,
  Endpoints or ServiceMonitor for it, and one ScrapeConfig of job `kube-etcd` in the tree
  discovers the nodes and, simulated on the stack's nodes (Prometheus' node role and the
  relabellings), scrapes every control plane and nothing else at its InternalIP on etcd's
  plain-HTTP metrics port; Prometheus may list the nodes;
- no kube-proxy (Talos runs none, Cilium replaces it: its target would be down and
  `KubeProxyDown` fire forever);
- the kubelets' serving certificates are verified (kubelet-csr-approver approves them, so it
  must be beside it), as metrics-server verifies them;
- Prometheus selects ServiceMonitors, PodMonitors, Probes, ScrapeConfigs and PrometheusRules of
  every namespace whatever their labels (the monitoring configuration of gitops/platform carries
  no Helm release label);
- Grafana's admin password is not made up by the chart on every render;
- every Prometheus carries the external label `cluster: <cluster_name>` of its stack: it goes
  on every series and alert that leaves Prometheus, so where the clusters of an environment
  meet (a hostname they both serve, docs/multi-cluster.md) their SLO series are told apart and
  sum over it, and each alert names its cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from config.errors import NAMESPACE

from . import charts
from .schemas import describe
from .stack import StackPlatform
from .tree import Problem, RenderedObject

MONITORING_CHART = "kube-prometheus-stack"
#: What the Pulumi program creates for the add-on (components/monitoring/alerting.py).
MONITORING_NAMESPACE = "monitoring"
ALERTMANAGER_SECRET = "alertmanager-config"
ALERTMANAGER_SECRET_KEY = "alertmanager.yaml"
#: The selectors of a Prometheus resource that must select everything: an empty selector
#: matches every object (namespace), a missing one none (only its own namespace)
#: (prometheus-operator v0.93.0 pkg/apis/monitoring/v1/prometheus_types.go).
PROMETHEUS_SELECTORS = {
    "serviceMonitorSelector": "serviceMonitorSelectorNilUsesHelmValues",
    "podMonitorSelector": "podMonitorSelectorNilUsesHelmValues",
    "probeSelector": "probeSelectorNilUsesHelmValues",
    "scrapeConfigSelector": "scrapeConfigSelectorNilUsesHelmValues",
    "ruleSelector": "ruleSelectorNilUsesHelmValues",
}


@dataclass(frozen=True)
class ControlPlaneTarget:
    """A control-plane component Prometheus scrapes on every control plane."""

    values_key: str
    """Its section of the chart's values (`kubeControllerManager`)."""
    suffix: str
    """The chart names its Service and ServiceMonitor `<fullname>-<suffix>`; Talos names its
    static pod so (pkg/machinery/resources/k8s/k8s.go, ControllerManagerID, SchedulerID)."""
    port: int
    scheme: str
    why: str

    @property
    def component(self) -> str:
        return self.suffix.removeprefix("kube-").replace("-", " ")


#: The labels of Talos' control-plane static pods, all in kube-system on the host's network
#: (siderolabs/talos v1.13.9 internal/app/machined/pkg/controllers/k8s/
#: control_plane_static_pod.go: `tier`, `k8s-app`, `component`, `app.kubernetes.io/name`,
#: `app.kubernetes.io/component`; `app.kubernetes.io/version` and `managed-by` vary).
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def static_pod_labels(name: str) -> dict[str, str]:
    return {
        "tier": "control-plane",
        "k8s-app": name,
        "component": name,
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "control-plane",
    }


CONTROL_PLANE_TARGETS = (
    ControlPlaneTarget(
        "kubeControllerManager",
        "kube-controller-manager",
        10257,
        "https",
        "its secure port (kubernetes pkg/cluster/ports/ports.go, KubeControllerManagerPort), "
        "which Talos binds to 0.0.0.0 (components/talos/documents.py, METRICS_ARGS)",
    ),
    ControlPlaneTarget(
        "kubeScheduler",
        "kube-scheduler",
        10259,
        "https",
        "its secure port (kubernetes pkg/cluster/ports/ports.go, KubeSchedulerPort), which "
        "Talos binds to 0.0.0.0 (components/talos/documents.py, METRICS_ARGS)",
    ),
)
#: etcd: a Talos service on the host (internal/app/machined/pkg/system/services/etcd.go), no
#: pod, so no Service selects it; a ScrapeConfig finds the control-plane nodes instead.
ETCD = ControlPlaneTarget(
    "kubeEtcd",
    "kube-etcd",
    2381,
    "http",
    "the plain-HTTP metrics listener Talos gives etcd (listen-metrics-urls "
    "http://0.0.0.0:2381, components/talos/documents.py, METRICS_ARGS)",
)
#: The job of the chart's etcd ServiceMonitor (the `jobLabel` of its Service), which its etcd
#: rules and dashboard select (`job=~".*etcd.*"`).
ETCD_JOB = "kube-etcd"
ETCD_SCRAPE_CONFIG = "gitops/platform/monitoring/base/scrapeconfigs.yaml"
#: The label Talos gives every control-plane node (pkg/machinery/constants/constants.go,
#: LabelNodeRoleControlPlane; internal/app/machined/pkg/controllers/k8s/node_label_spec.go).
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
#: Where the kubelet listens: the address Prometheus' node role gives a node (Prometheus
#: discovery/kubernetes/node.go: the InternalIP and `status.daemonEndpoints.kubeletEndpoint`).
KUBELET_PORT = 10250


def monitoring_problems(
    item: RenderedObject,
    source: charts.HelmSource,
    stack: StackPlatform,
    rendered: dict[str, list[RenderedObject]],
    approver: bool,
) -> list[Problem]:
    """Every disagreement of the kube-prometheus-stack add-on with the stack and the program."""
    objects = rendered.get(source.key)
    if not objects:
        return []  # did not render: charts.source_problems says why
    name = describe(item.manifest)
    problems: list[Problem] = []

    def add(field: str, message: str) -> None:
        problems.append(Problem(item.origin, name, field, message))

    values = source.values_field
    if source.namespace != MONITORING_NAMESPACE:
        add(
            "spec.destination.namespace",
            f"must be {MONITORING_NAMESPACE!r}: the namespace the program creates for it (Pod "
            "Security baseline) with Alertmanager's configuration Secret",
        )
    for target in CONTROL_PLANE_TARGETS:
        for field, message in _static_pod_problems(target, source, objects):
            add(f"{values}.{field}", message)
    for field, message in _etcd_chart_problems(source, objects, rendered):
        add(f"{values}.{field}", message)
    if _enabled(source.values, ETCD.values_key):
        problems += etcd_scrape_problems(rendered, stack)
    for field, message in _kube_proxy_problems(objects):
        add(f"{values}.{field}", message)
    for field, message in _kubelet_problems(objects, approver):
        add(field if field.startswith("spec.") else f"{values}.{field}", message)
    for field, message in _alertmanager_problems(objects):
        add(f"{values}.{field}", message)
    for field, message in _prometheus_problems(objects):
        add(f"{values}.{field}", message)
    for field, message in _cluster_label_problems(objects, stack):
        add(f"{values}.{field}", message)
    for field, message in _grafana_problems(objects):
        add(f"{values}.{field}", message)
    return problems


def _of(objects: list[RenderedObject], kind: str) -> list[dict[str, Any]]:
    return [o.manifest for o in objects if o.manifest.get("kind") == kind]


def _named(objects: list[RenderedObject], kind: str, suffix: str) -> list[dict[str, Any]]:
    return [m for m in _of(objects, kind) if str(m["metadata"].get("name", "")).endswith(suffix)]


def _enabled(values: dict[str, Any], key: str) -> bool:
    section = values.get(key)
    return not (isinstance(section, dict) and section.get("enabled") is False)


def _static_pod_problems(
    target: ControlPlaneTarget, source: charts.HelmSource, objects: list[RenderedObject]
) -> list[tuple[str, str]]:
    """The controller manager or the scheduler: a Service that selects exactly that Talos
    static pod (its endpoints are then the control planes' addresses, host network), on its
    port, scraped over its scheme; no Endpoints list."""
    if not _enabled(source.values, target.values_key):
        return []  # not scraped at all: nothing to agree with
    key = target.values_key
    wanted = f"{{k8s-app: {target.suffix}}}"
    found: list[tuple[str, str]] = []
    if _named(objects, "Endpoints", f"-{target.suffix}"):
        found.append(
            (
                f"{key}.endpoints",
                "lists addresses: the chart then renders an Endpoints object, which Argo CD "
                "excludes (argocd-cm resource.exclusions) and never applies, beside a Service "
                f"without a selector, so the {target.component} is never scraped; remove it, "
                f"the Service selects Talos' static pod ({key}.service.selector {wanted})",
            )
        )
    services = _named(objects, "Service", f"-{target.suffix}")
    if not services:
        found.append(
            (
                f"{key}.service.enabled",
                f"no Service for the {target.component}: its ServiceMonitor finds nothing",
            )
        )
    for service in services:
        spec = service.get("spec") or {}
        selector = {str(k): str(v) for k, v in (spec.get("selector") or {}).items()}
        labels = static_pod_labels(target.suffix)
        others = [
            pod
            for pod in STATIC_PODS
            if pod != target.suffix and selector.items() <= static_pod_labels(pod).items()
        ]
        if not selector:
            message = (
                f"none: the Service has no endpoints but the Endpoints object Argo CD never "
                f"applies; select Talos' static pod, {wanted}"
            )
        elif not selector.items() <= labels.items():
            message = (
                f"{selector} matches no Talos static pod: Talos labels the {target.component}'s "
                f"{labels} (siderolabs/talos v1.13.9 control_plane_static_pod.go); use {wanted}"
            )
        elif others:
            message = f"{selector} also selects {', '.join(others)}; use {wanted}"
        else:
            message = ""
        if message:
            found.append((f"{key}.service.selector", message))
        ports = {int(p.get("targetPort") or p.get("port")) for p in spec.get("ports") or []}
        if ports != {target.port}:
            shown = ", ".join(str(p) for p in sorted(ports)) or "none"
            found.append(
                (
                    f"{key}.service.targetPort",
                    f"port {shown}: must be {target.port}, {target.why}",
                )
            )
    for monitor in _named(objects, "ServiceMonitor", f"-{target.suffix}"):
        for endpoint in (monitor.get("spec") or {}).get("endpoints") or []:
            scheme = str(endpoint.get("scheme") or "http")
            if scheme != target.scheme:
                found.append(
                    (
                        f"{key}.serviceMonitor.https",
                        f"scrapes over {scheme}: must be {target.scheme}, {target.why}",
                    )
                )
    return found


def _etcd_chart_problems(
    source: charts.HelmSource,
    objects: list[RenderedObject],
    rendered: dict[str, list[RenderedObject]],
) -> list[tuple[str, str]]:
    """etcd's rules stay on, its Service, Endpoints and ServiceMonitor do not (nothing they
    could select), and Prometheus may list the nodes its ScrapeConfig discovers."""
    if not _enabled(source.values, ETCD.values_key):
        return []
    found = []
    why = (
        "Talos runs etcd as a host service, not a pod, so no Service selector finds it (and "
        "Argo CD never applies the Endpoints an address list renders); the ScrapeConfig "
        f"{ETCD_JOB} ({ETCD_SCRAPE_CONFIG}) scrapes it"
    )
    for kind, field, what, setting in (
        ("Endpoints", "endpoints", "an Endpoints object", "remove it"),
        ("Service", "service.enabled", "a Service", "set it to false"),
        ("ServiceMonitor", "serviceMonitor.enabled", "a ServiceMonitor", "set it to false"),
    ):
        if _named(objects, kind, f"-{ETCD.suffix}"):
            found.append((f"{ETCD.values_key}.{field}", f"renders {what}: {why}; {setting}"))
    roles = [
        role
        for role in _of(objects, "ClusterRole")
        if str(role["metadata"].get("name", "")).endswith("-prometheus")
    ]
    if roles and not any(_lists_nodes(role) for role in roles):
        found.append(
            (
                "prometheus.additionalRulesForClusterRole",
                "Prometheus' ClusterRole does not list and watch nodes: the ScrapeConfig "
                f"{ETCD_JOB} finds the control planes among them",
            )
        )
    return found


def _lists_nodes(role: dict[str, Any]) -> bool:
    for rule in role.get("rules") or []:
        if "" not in (rule.get("apiGroups") or []) and "*" not in (rule.get("apiGroups") or []):
            continue
        resources = set(rule.get("resources") or [])
        verbs = set(rule.get("verbs") or [])
        if resources & {"nodes", "*"} and ({"list", "watch"} <= verbs or "*" in verbs):
            return True
    return False


# --- etcd's ScrapeConfig -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    """A node as Prometheus' Kubernetes node role discovers it."""

    name: str
    ip: str
    control_plane: bool

    @property
    def labels(self) -> dict[str, str]:
        found = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux"}
        if self.control_plane:
            found[CONTROL_PLANE_LABEL] = ""
        return found

    def target(self) -> dict[str, str]:
        """Its target's labels before relabelling (discovery/kubernetes/node.go, buildNode)."""
        target = {
            "__address__": f"{self.ip}:{KUBELET_PORT}",
            "instance": self.name,
            "__meta_kubernetes_node_name": self.name,
            "__meta_kubernetes_node_address_InternalIP": self.ip,
            "__meta_kubernetes_node_address_Hostname": self.name,
        }
        for key, value in self.labels.items():
            sanitized = re.sub(r"[^a-zA-Z0-9_]", "_", key)
            target[f"__meta_kubernetes_node_label_{sanitized}"] = value
            target[f"__meta_kubernetes_node_labelpresent_{sanitized}"] = "true"
        return target


#: A node that is no control plane, whatever the stack (staging has no workers yet).
_WORKER = _Node("a-worker", "192.0.2.254", False)


def etcd_scrape_problems(
    rendered: dict[str, list[RenderedObject]], stack: StackPlatform
) -> list[Problem]:
    """The ScrapeConfig of job `kube-etcd` in the tree: one, discovering nodes, keeping the
    stack's control planes and no other node, each scraped on its InternalIP at etcd's metrics
    port over plain HTTP (what Prometheus' node role and relabelling make of it, simulated on
    the stack's nodes)."""
    configs = [
        obj
        for items in rendered.values()
        for obj in items
        if obj.manifest.get("kind") == "ScrapeConfig"
        and (obj.manifest.get("spec") or {}).get("jobName") == ETCD_JOB
    ]
    if not configs:
        return [
            Problem(
                ETCD_SCRAPE_CONFIG,
                f"ScrapeConfig {MONITORING_NAMESPACE}/{ETCD_JOB}",
                "spec.jobName",
                f"missing: nothing scrapes etcd as job {ETCD_JOB}, so the chart's etcd rules "
                "(kubeEtcd.enabled) never fire and its dashboard stays empty; Talos runs etcd "
                "as a host service that only a ScrapeConfig of the control-plane nodes reaches",
            )
        ]
    problems = []
    if len(configs) > 1:
        for obj in configs[1:]:
            problems.append(
                Problem(
                    obj.origin,
                    describe(obj.manifest),
                    "spec.jobName",
                    f"a second ScrapeConfig of job {ETCD_JOB}: each control plane is scraped "
                    "twice, and the etcd rules count every member twice",
                )
            )
    for obj in configs[:1]:
        for field, message in _scrape_config_problems(obj.manifest, stack):
            problems.append(Problem(obj.origin, describe(obj.manifest), field, message))
    return problems


def _scrape_config_problems(
    manifest: dict[str, Any], stack: StackPlatform
) -> list[tuple[str, str]]:
    spec = manifest.get("spec") or {}
    found: list[tuple[str, str]] = []
    others = [
        key
        for key, value in spec.items()
        if value
        and (key.endswith("SDConfigs") or key == "staticConfigs")
        and key != "kubernetesSDConfigs"
    ]
    sd = spec.get("kubernetesSDConfigs") or []
    if others or len(sd) != 1 or str(sd[0].get("role", "")).lower() != "node":
        found.append(
            (
                "spec.kubernetesSDConfigs",
                "must be one Kubernetes service discovery of role Node and nothing else: the "
                "control planes are the nodes labelled "
                f"{CONTROL_PLANE_LABEL}, whatever their addresses",
            )
        )
        return found
    scheme = str(spec.get("scheme") or "http").lower()
    if scheme != ETCD.scheme:
        found.append(("spec.scheme", f"{scheme}: must be {ETCD.scheme}, {ETCD.why}"))
    if spec.get("metricsPath") not in (None, "/metrics"):
        found.append(("spec.metricsPath", f"{spec['metricsPath']!r}: etcd serves /metrics"))
    nodes = [_Node(n.name, str(n.ip), n.controlplane) for n in stack.nodes]
    if not any(not n.control_plane for n in nodes):
        nodes.append(_WORKER)
    try:
        selected = [n for n in nodes if _selected(n, sd[0])]
        kept = {n.name: _relabel(n, spec) for n in selected}
    except ValueError as exc:
        return [*found, ("spec", f"the offline check cannot follow it: {exc}")]
    for node in nodes:
        target = kept.get(node.name)
        if node.control_plane:
            address = f"{node.ip}:{ETCD.port}"
            if target is None:
                found.append(
                    (
                        "spec.relabelings",
                        f"drops control plane {node.name!r} of {stack.file}: its etcd would go "
                        "unwatched",
                    )
                )
            elif target.get("__address__") != address:
                found.append(
                    (
                        "spec.relabelings",
                        f"scrapes control plane {node.name!r} at "
                        f"{target.get('__address__')!r}: must be {address!r} (its InternalIP "
                        f"and {ETCD.why})",
                    )
                )
            elif target.get("job") != ETCD_JOB:
                found.append(
                    (
                        "spec.relabelings",
                        f"job {target.get('job')!r}: must be {ETCD_JOB!r}, which the chart's "
                        "etcd rules and dashboard select",
                    )
                )
        elif target is not None:
            shown = "a node" if node is _WORKER else f"node {node.name!r} of {stack.file}"
            found.append(
                (
                    "spec.kubernetesSDConfigs[0].selectors",
                    f"scrapes {shown} that is no control plane (etcd runs on the control planes "
                    f"only: a target always down); select label {CONTROL_PLANE_LABEL}",
                )
            )
    return found


_SELECTOR_TERM = re.compile(
    r"\s*(?P<not>!)?\s*(?P<key>[A-Za-z0-9._/-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9._-]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*(?:,|$)"
)


def _selected(node: _Node, config: dict[str, Any]) -> bool:
    """Whether the discovery's Node selectors (label selectors sent to the API server) list
    the node."""
    for selector in config.get("selectors") or []:
        if str(selector.get("role", "")).lower() != "node":
            continue
        if selector.get("field"):
            raise ValueError(f"a field selector ({selector['field']!r})")
        text = str(selector.get("label") or "")
        position = 0
        while position < len(text):
            match = _SELECTOR_TERM.match(text, position)
            if match is None or match.end() == position:
                raise ValueError(f"the label selector {text!r}")
            position = match.end()
            key, labels = match["key"], node.labels
            if match["not"]:
                ok = key not in labels
            elif match["op"] in ("=", "=="):
                ok = labels.get(key) == match["value"]
            elif match["op"] == "!=":
                ok = labels.get(key) != match["value"]
            elif match["set"]:
                values = {v.strip() for v in match["values"].split(",")}
                ok = (key in labels and labels[key] in values) == (match["set"] == "in")
            else:
                ok = key in labels
            if not ok:
                return False
    return True


def _relabel(node: _Node, spec: dict[str, Any]) -> dict[str, str] | None:
    """The node's target after the operator's job label and the ScrapeConfig's relabelings
    (Prometheus model/relabel: replace, keep, drop), or None when it is dropped."""
    target = {**node.target(), "job": str(spec.get("jobName"))}
    for rule in spec.get("relabelings") or []:
        action = str(rule.get("action") or "replace").lower()
        separator = str(rule.get("separator", ";"))
        value = separator.join(target.get(label, "") for label in rule.get("sourceLabels") or [])
        regex = re.compile(f"^(?:{rule.get('regex', '(.*)')})$")
        match = regex.match(value)
        if action == "keep":
            if match is None:
                return None
        elif action == "drop":
            if match is not None:
                return None
        elif action == "replace":
            if match is None or not rule.get("targetLabel"):
                continue
            result = _expand(match, str(rule.get("replacement", "$1")))
            if result:
                target[str(rule["targetLabel"])] = result
            else:
                target.pop(str(rule["targetLabel"]), None)
        else:
            raise ValueError(f"the relabel action {action!r}")
    return target


def _expand(match: re.Match[str], template: str) -> str:
    """Go's `Regexp.Expand`: `$1`, `${1}`, `$name` (the longest run of letters, digits and
    underscores), `$$` for `$`; a group that does not exist expands to nothing."""

    def group(found: re.Match[str]) -> str:
        if found[1] == "$":
            return "$"
        name = found[2] or found[3]
        if name.isdigit():
            index = int(name)
            return (match.group(index) or "") if index <= (match.re.groups or 0) else ""
        return (match.groupdict().get(name) or "") if name in match.re.groupindex else ""

    return re.sub(r"\$(\$|\{(\w+)\}|(\w+))", group, template)


def _kube_proxy_problems(objects: list[RenderedObject]) -> list[tuple[str, str]]:
    proxy = [*_named(objects, "ServiceMonitor", "-kube-proxy")]
    proxy += _named(objects, "PrometheusRule", "-kubernetes-system-kube-proxy")
    if not proxy:
        return []
    return [
        (
            "kubeProxy.enabled",
            "Talos runs no kube-proxy (cluster.proxy.disabled: Cilium replaces it): its target "
            "would always be down and KubeProxyDown fire forever; set it to false",
        )
    ]


def _kubelet_problems(objects: list[RenderedObject], approver: bool) -> list[tuple[str, str]]:
    found = []
    for monitor in _named(objects, "ServiceMonitor", "-kubelet"):
        endpoints = (monitor.get("spec") or {}).get("endpoints") or []
        insecure = [
            e
            for e in endpoints
            if e.get("scheme") == "https" and (e.get("tlsConfig") or {}).get("insecureSkipVerify")
        ]
        if insecure:
            found.append(
                (
                    "kubelet.serviceMonitor.insecureSkipVerify",
                    "Prometheus must verify the kubelets' serving certificates: they are signed "
                    "by the cluster CA (kubelet-csr-approver approves them) and name the node's "
                    "InternalIP, the address it scrapes",
                )
            )
        if endpoints and not approver:
            found.append(
                (
                    "spec.source.chart",
                    "needs kubelet-csr-approver beside it: the kubelets ask for serving "
                    "certificates (rotate-server-certificates) that nothing else approves, so "
                    "Prometheus could verify none",
                )
            )
    return found


def _alertmanager_problems(objects: list[RenderedObject]) -> list[tuple[str, str]]:
    found = []
    for alertmanager in _of(objects, "Alertmanager"):
        spec = alertmanager.get("spec") or {}
        name = alertmanager["metadata"]["name"]
        if spec.get("configSecret") != ALERTMANAGER_SECRET or spec.get("alertmanagerConfiguration"):
            found.append(
                (
                    "alertmanager.alertmanagerSpec.configSecret",
                    f"must be {ALERTMANAGER_SECRET!r} (and no alertmanagerConfiguration): the "
                    f"program writes Alertmanager's configuration, receivers' URLs included, to "
                    f"that Secret (key {ALERTMANAGER_SECRET_KEY})",
                )
            )
        own = [
            s for s in _of(objects, "Secret") if s["metadata"].get("name") == f"alertmanager-{name}"
        ]
        if own:
            found.append(
                (
                    "alertmanager.alertmanagerSpec.useExistingSecret",
                    f"the chart renders its own Alertmanager configuration (Secret "
                    f"alertmanager-{name}): set it to true, the configuration is the program's "
                    f"Secret {ALERTMANAGER_SECRET}",
                )
            )
    return found


def _prometheus_problems(objects: list[RenderedObject]) -> list[tuple[str, str]]:
    found = []
    for prometheus in _of(objects, "Prometheus"):
        spec = prometheus.get("spec") or {}
        for selector, setting in PROMETHEUS_SELECTORS.items():
            namespaces = selector.replace("Selector", "NamespaceSelector")
            if spec.get(selector) != {}:
                found.append(
                    (
                        f"prometheus.prometheusSpec.{setting}",
                        f"the Prometheus selects {selector.removesuffix('Selector')}s by "
                        f"{spec.get(selector)!r}, not all of them: the monitoring configuration "
                        "of gitops/platform carries no Helm release label; set it to false",
                    )
                )
            if spec.get(namespaces) != {}:
                found.append(
                    (
                        f"prometheus.prometheusSpec.{namespaces}",
                        f"{spec.get(namespaces)!r}: must be {{}} (every namespace); unset, "
                        "Prometheus reads its own namespace only",
                    )
                )
    return found


#: The external label that names the cluster a Prometheus runs in (its stack's `cluster_name`).
CLUSTER_LABEL = "cluster"


def _cluster_label_problems(
    objects: list[RenderedObject], stack: StackPlatform
) -> list[tuple[str, str]]:
    """Each Prometheus labels what leaves it with its stack's cluster (`externalLabels`,
    prometheus-operator v0.93.0 pkg/apis/monitoring/v1/prometheus_types.go: added to every
    series and alert sent out, by federation, remote write or to Alertmanager)."""
    if stack.cluster is None:
        return []
    found = []
    for prometheus in _of(objects, "Prometheus"):
        labels = (prometheus.get("spec") or {}).get("externalLabels") or {}
        if labels.get(CLUSTER_LABEL) != stack.cluster:
            found.append(
                (
                    f"prometheus.prometheusSpec.externalLabels.{CLUSTER_LABEL}",
                    f"{labels.get(CLUSTER_LABEL)!r}, but {NAMESPACE}:cluster_name of "
                    f"{stack.file} is {stack.cluster!r}: the series and alerts this Prometheus "
                    "sends would not say, or would mistake, which cluster they come from (a "
                    "shared hostname's SLO sums its clusters' series over this label)",
                )
            )
    return found


def _grafana_problems(objects: list[RenderedObject]) -> list[tuple[str, str]]:
    made_up = [
        o
        for o in objects
        if o.manifest.get("kind") == "Secret"
        and o.origin.endswith("charts/grafana/templates/secret.yaml")
        and "admin-password" in (o.manifest.get("data") or {})
    ]
    if not made_up:
        return []
    return [
        (
            "grafana.admin.existingSecret",
            "not set: the grafana chart then makes up an admin password on every render (it "
            "keeps one only through a `lookup` that Argo CD's `helm template` never answers), so "
            "each sync would change it; name a Secret of the namespace instead",
        )
    ]
