"""The monitoring add-on (kube-prometheus-stack) against the stack it runs on and what the
program provides, as platform.py checks the other add-ons (docs/monitoring.md):

- it is in `monitoring`, the namespace the program creates (Pod Security `privileged`), and its
  Alertmanager reads the program's Secret `alertmanager-config` (the chart makes no config
  Secret of its own);
- the controller manager, the scheduler and etcd run as Talos static pods that no Service
  selector finds: Prometheus scrapes them on the addresses the chart's Endpoints list, which must
  be exactly the stack's control planes, on the ports and schemes Talos serves them
  (components/talos/documents.py, `METRICS_ARGS`): a control plane missing there goes unwatched,
  an address that is no control plane's is a target that is always down;
- no kube-proxy (Talos runs none, Cilium replaces it: its target would be down and
  `KubeProxyDown` fire forever);
- the kubelets' serving certificates are verified (kubelet-csr-approver approves them, so it
  must be beside it), as metrics-server verifies them;
- Prometheus selects ServiceMonitors, PodMonitors, Probes, ScrapeConfigs and PrometheusRules of
  every namespace whatever their labels (the monitoring configuration of gitops/platform carries
  no Helm release label);
- Grafana's admin password is not made up by the chart on every render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    """A control-plane component Prometheus scrapes on every control plane's address."""

    values_key: str
    """Its section of the chart's values (`kubeControllerManager`)."""
    suffix: str
    """The chart names its Service, Endpoints and ServiceMonitor `<fullname>-<suffix>`."""
    port: int
    scheme: str
    why: str


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
    ControlPlaneTarget(
        "kubeEtcd",
        "kube-etcd",
        2381,
        "http",
        "the plain-HTTP metrics listener Talos gives etcd (listen-metrics-urls "
        "http://0.0.0.0:2381, components/talos/documents.py, METRICS_ARGS)",
    ),
)


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
            "Security privileged, for node-exporter) with Alertmanager's configuration Secret",
        )
    for target in CONTROL_PLANE_TARGETS:
        for field, message in _control_plane_problems(target, source, stack, objects):
            add(f"{values}.{field}", message)
    for field, message in _kube_proxy_problems(objects):
        add(f"{values}.{field}", message)
    for field, message in _kubelet_problems(objects, approver):
        add(field if field.startswith("spec.") else f"{values}.{field}", message)
    for field, message in _alertmanager_problems(objects):
        add(f"{values}.{field}", message)
    for field, message in _prometheus_problems(objects):
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


def _control_plane_problems(
    target: ControlPlaneTarget,
    source: charts.HelmSource,
    stack: StackPlatform,
    objects: list[RenderedObject],
) -> list[tuple[str, str]]:
    if not _enabled(source.values, target.values_key):
        return []  # not scraped at all: nothing to agree with
    key = target.values_key
    control_planes = {str(n.ip): n.name for n in stack.nodes if n.controlplane}
    wanted = ", ".join(control_planes)
    endpoints = _named(objects, "Endpoints", f"-{target.suffix}")
    if not endpoints:
        return [
            (
                f"{key}.endpoints",
                f"empty: Talos runs the {target.suffix.removeprefix('kube-')} as a static pod "
                "that the chart's Service selector does not find; list the control planes of "
                f"{stack.file} ({wanted})",
            )
        ]
    found: list[tuple[str, str]] = []
    addresses: list[str] = []
    ports: set[int] = set()
    for subset in endpoints[0].get("subsets") or []:
        addresses += [str(a.get("ip")) for a in subset.get("addresses") or []]
        ports |= {int(p["port"]) for p in subset.get("ports") or [] if "port" in p}
    for address in sorted(set(addresses) - set(control_planes)):
        found.append(
            (
                f"{key}.endpoints",
                f"{address} is no control plane of {stack.file} ({wanted}): a target that is "
                "always down",
            )
        )
    for address, node in control_planes.items():
        if address not in addresses:
            found.append(
                (
                    f"{key}.endpoints",
                    f"leaves out control plane {node!r} ({address}) of {stack.file}: its "
                    f"{target.suffix} would go unwatched",
                )
            )
    if len(addresses) != len(set(addresses)):
        found.append((f"{key}.endpoints", "lists an address twice: each is scraped twice"))
    if ports != {target.port}:
        shown = ", ".join(str(p) for p in sorted(ports)) or "none"
        found.append(
            (
                f"{key}.service.port",
                f"port {shown}: must be {target.port}, {target.why}",
            )
        )
    for monitor in _named(objects, "ServiceMonitor", f"-{target.suffix}"):
        for endpoint in (monitor.get("spec") or {}).get("endpoints") or []:
            scheme = str(endpoint.get("scheme") or "http")
            if scheme != target.scheme:
                setting = (
                    "serviceMonitor.https" if target.scheme == "https" else "serviceMonitor.scheme"
                )
                found.append(
                    (
                        f"{key}.{setting}",
                        f"scrapes over {scheme}: must be {target.scheme}, {target.why}",
                    )
                )
    return found


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
