"""The SLO of the hostnames an edge stack shares between clusters (docs/multi-cluster.md,
"Monitoring and the shared hostnames' SLO"): the PrometheusRules of a Prometheus that holds the
`slo:*` series of every cluster of the edge, each with its `cluster` label.

Each cluster records, per hostname, `slo:sli_requests:rate5m` and `slo:sli_errors:rate5m` (the
requests it served and those that failed, per second) and `slo:objective:ratio` (rules.py). Its
Prometheus adds the external labels `cluster: <cluster_name>` (gitops/platform/envs/<env>/
kube-prometheus-stack.yaml), `prometheus` and `prometheus_replica` (the pod: prometheus-operator
v0.93.0 `pkg/prometheus/promcfg.go`, `buildExternalLabels`; the chart sets neither name, so both
keep their defaults) to every series that leaves it: federation (prometheus/prometheus v3.14.0
`web/federate.go`: "Attach global labels if they do not exist yet"), remote write, a Thanos
sidecar. Where those series meet, the hostname's requests over all its clusters are

    sum by (slo_hostname, slo_service) (
      max by (cluster, slo_hostname, slo_service) (slo:sli_requests:rate5m{cluster=~"a|b", ...}))

`max by (cluster, ...)` keeps one value per cluster: the replicas of one cluster's Prometheus
record the same rates and differ only in labels (`prometheus_replica`; `instance` when each
replica is federated as its own target; Thanos receive's replica label), so any of those labels
is dropped, not only `prometheus_replica`. Summing the replicas instead would count a cluster
once per replica that reports: while one of prod-b's replicas restarts, prod would weigh double.
A series without a `cluster` label matches nothing: the edge then sees that cluster missing
(`SLOEdgeClusterMissing`) rather than a sum of unknown origin.

Recorded, per hostname of `edge.hostnames` (labels `slo_hostname`, `slo_service`), under the
level `slo_edge` so that no name is one a cluster records: `slo_edge:sli_requests:rate5m`,
`slo_edge:sli_errors:rate5m` (0 where requests are counted and none failed),
`slo_edge:sli_error:ratio_rate<w>` for every window of `WINDOWS` (5m from the summed rates, the
others from their sums over the window, as the clusters' long windows), `slo_edge:objective:ratio`,
`slo_edge:error_budget_remaining:ratio`. Alerts: `SLOEdgeErrorBudgetBurnFast` (page),
`SLOEdgeErrorBudgetBurnSlow` (ticket), the clusters' burn rates (`BURN_RATE_ALERTS`) over the
summed ratios, and `SLOEdgeClusterMissing`: a cluster of the edge has reported no
`slo:objective:ratio` of the hostname for 15 minutes. That series is the heartbeat because
every cluster records it at every evaluation, serving or not: the requests and errors of a
passive cluster (failover steering) are absent, by design (no traffic records no sample).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from config.edge import EdgeStack
from config.models import CloudflareConfig

from .rules import (
    BURN_RATE_ALERTS,
    ERRORS_RATE,
    LONG_WINDOW_INTERVAL,
    LONG_WINDOWS,
    OBJECTIVE,
    PERIOD,
    REQUESTS_RATE,
    WINDOWS,
    BurnRateAlert,
    SloError,
    burn_rate_expr,
    long_ratio,
    matchers,
    rule_meta,
    runbook_url,
    slug,
)
from .sources import service_of, source_of

NAMESPACE = "talos-platform"
LEVEL = "slo_edge"
"""The level (first part) of the edge's record names; the clusters' is `slo`."""
EDGE_REQUESTS_RATE = f"{LEVEL}:sli_requests:rate5m"
EDGE_ERRORS_RATE = f"{LEVEL}:sli_errors:rate5m"
EDGE_OBJECTIVE = f"{LEVEL}:objective:ratio"
HEARTBEAT = "slo:objective:ratio"
"""What each cluster records for a hostname at every evaluation, with or without traffic."""
CLUSTER_LABEL = "cluster"
COMPONENT = "slo-edge"
"""`app.kubernetes.io/component` of the edge's PrometheusRules: the rules no cluster loads
(offline/validators/monitoring/central.py finds them by it)."""
MISSING_FOR = "15m"
CLUSTER_MISSING = "SLOEdgeClusterMissing"
PROMETHEUS_SERVICE = ("monitoring", "kube-prometheus-stack-prometheus")


@dataclass(frozen=True)
class EdgeMember:
    """A cluster of the edge, as its series are labelled and its Prometheus reached."""

    stack: str
    cluster: str
    """`cluster_name` of its stack: the `cluster` external label of its Prometheus."""
    prometheus: str | None
    """Its Prometheus' admin hostname (behind Access), if its stack publishes one."""


@dataclass(frozen=True)
class SharedHostname:
    hostname: str
    service: str
    """`<namespace>/<Service>` behind the hostname: the same in every cluster."""

    def labels(self) -> dict[str, str]:
        return {"slo_hostname": self.hostname, "slo_service": self.service}


@dataclass(frozen=True)
class EdgeSlo:
    stack: str
    environment: str
    clusters: tuple[EdgeMember, ...]
    hostnames: tuple[SharedHostname, ...]

    def cluster_names(self) -> str:
        return ", ".join(c.cluster for c in self.clusters)


def _cloudflare(stack: str, values: Mapping[str, str]) -> CloudflareConfig:
    raw = values.get(f"{NAMESPACE}:cloudflare")
    if raw is None:
        raise SloError(f"Pulumi.{stack}.yaml: needs {NAMESPACE}:cloudflare")
    try:
        return CloudflareConfig.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise SloError(f"Pulumi.{stack}.yaml: {NAMESPACE}:cloudflare is not valid: {exc}") from None


def edge_slo(stack: str, edge: EdgeStack, clusters: Mapping[str, Mapping[str, str]]) -> EdgeSlo:
    """The shared SLOs of the edge stack `stack`, from the config values of its cluster stacks
    (`clusters`, by stack name). SloError names every hostname a cluster does not route, or
    routes to another service than the others, or to one without a request metric: each cluster
    must record the hostname's SLO under the same labels for the sums to add up."""
    members = []
    routes: dict[str, dict[str, str]] = {h.hostname: {} for h in edge.edge.hostnames}
    problems = []
    # In stack-name order, not the edge's failover order: the SLO does not depend on which
    # cluster serves first, and reordering `edge.clusters` (docs/multi-cluster.md, "When a site
    # is down") leaves these files as they are.
    for entry in sorted(edge.edge.clusters, key=lambda c: c.stack):
        values = clusters[entry.stack]
        name = values.get(f"{NAMESPACE}:cluster_name")
        if not name:
            raise SloError(f"Pulumi.{entry.stack}.yaml: needs {NAMESPACE}:cluster_name")
        published = {h.hostname: h for h in _cloudflare(entry.stack, values).hostnames}
        prometheus = next(
            (h for h, e in published.items() if service_of(e.service) == PROMETHEUS_SERVICE), None
        )
        members.append(EdgeMember(entry.stack, name, prometheus))
        for hostname, by_cluster in routes.items():
            route = published.get(hostname)
            if route is None:
                problems.append(
                    f"{hostname}: the cluster stack {entry.stack} does not route it "
                    "(cloudflare.hostnames[] with edge: true), so records no SLO of it"
                )
            elif source_of(route.service) is None:
                problems.append(
                    f"{hostname}: its service {route.service} in {entry.stack} has no request "
                    "metric in tools/slo/sources.py SOURCES"
                )
            else:
                namespace, service = service_of(route.service) or ("", "")
                by_cluster[entry.stack] = f"{namespace}/{service}"
    hostnames = []
    for hostname, by_cluster in routes.items():
        services = set(by_cluster.values())
        if len(services) > 1:
            found = ", ".join(f"{s} in {c}" for c, s in by_cluster.items())
            problems.append(
                f"{hostname}: its clusters route it to different services ({found}); the "
                "shared SLO sums one service's requests (slo_service) over the clusters"
            )
        elif services:
            hostnames.append(SharedHostname(hostname, services.pop()))
    if problems:
        raise SloError(f"edge stack {stack}: " + "; ".join(problems))
    return EdgeSlo(stack, edge.environment, tuple(members), tuple(hostnames))


def _indent(text: str, by: int = 2) -> str:
    return "\n".join(" " * by + line for line in text.splitlines())


def summed(edge: EdgeSlo, host: SharedHostname, record: str) -> str:
    """The hostname's `record` (a rate each cluster records) summed over the edge's clusters,
    one value per cluster (its replicas deduplicated)."""
    clusters = "|".join(c.cluster for c in edge.clusters)
    selector = f'{record}{{{CLUSTER_LABEL}=~"{clusters}", {matchers(host.labels())}}}'
    return (
        "sum by (slo_hostname, slo_service) (\n"
        f"  max by ({CLUSTER_LABEL}, slo_hostname, slo_service) (\n"
        f"{_indent(selector, 4)}\n"
        "  )\n"
        ")"
    )


def _missing(edge: EdgeSlo, host: SharedHostname) -> str:
    """A value per cluster of the edge that reports no heartbeat of the hostname: `absent()`
    takes the labels of its equality matchers, so each names its cluster."""
    return "\nor\n".join(
        f'absent({HEARTBEAT}{{{CLUSTER_LABEL}="{c.cluster}", {matchers(host.labels())}}})'
        for c in edge.clusters
    )


def _ratio(labels: dict[str, str], window: str) -> str:
    if window == "5m":
        m = matchers(labels)
        return f"{EDGE_ERRORS_RATE}{{{m}}}\n/\n({EDGE_REQUESTS_RATE}{{{m}}} > 0)"
    return long_ratio(labels, window, (EDGE_REQUESTS_RATE, EDGE_ERRORS_RATE))


def hostname_rule(edge: EdgeSlo, host: SharedHostname) -> dict[str, Any]:
    """The PrometheusRule of one shared hostname: its summed rates, error ratios, objective,
    and the alert on a cluster that stopped reporting."""
    labels = host.labels()
    name = f"slo-{edge.stack}-{slug(host.hostname)}"
    requests = summed(edge, host, REQUESTS_RATE)
    short: list[dict[str, Any]] = [
        {"record": EDGE_OBJECTIVE, "expr": f"vector({OBJECTIVE})", "labels": labels},
        {"record": EDGE_REQUESTS_RATE, "expr": requests, "labels": labels},
        {
            "record": EDGE_ERRORS_RATE,
            "expr": f"{summed(edge, host, ERRORS_RATE)}\nor\n0 * {requests}",
            "labels": labels,
        },
    ]
    long = []
    for window in WINDOWS:
        rule = {
            "record": f"{LEVEL}:sli_error:ratio_rate{window}",
            "expr": _ratio(labels, window),
            "labels": labels,
        }
        (long if window in LONG_WINDOWS else short).append(rule)
    missing = {
        "alert": CLUSTER_MISSING,
        "expr": _missing(edge, host),
        "for": MISSING_FOR,
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": (
                "The cluster {{ $labels.cluster }} reports no SLO of {{ $labels.slo_hostname }}"
            ),
            "description": (
                f"For {MISSING_FOR} this Prometheus has had no {HEARTBEAT} of "
                f"{host.hostname} from the cluster {{{{ $labels.cluster }}}} of the edge "
                f"{edge.stack} ({edge.cluster_names()}): that cluster's Prometheus is down or "
                "no longer reaches this one, or its rules no longer record the hostname. "
                f"Meanwhile the shared SLO of {host.hostname} counts only the other "
                "clusters' requests."
            ),
            "runbook_url": runbook_url(CLUSTER_MISSING),
        },
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": rule_meta(name, COMPONENT),
        "spec": {
            "groups": [
                {"name": name, "rules": short},
                {"name": f"{name}-long", "interval": LONG_WINDOW_INTERVAL, "rules": long},
                {"name": f"{name}-clusters", "rules": [missing]},
            ]
        },
    }


def edge_alert_name(alert: BurnRateAlert) -> str:
    """`SLOErrorBudgetBurnFast` -> `SLOEdgeErrorBudgetBurnFast`."""
    return "SLOEdge" + alert.alert.removeprefix("SLO")


def burn_rate_rule(edge: EdgeSlo) -> dict[str, Any]:
    """Budget left and the burn-rate alerts of the edge's hostnames, over the summed ratios."""
    alerts = []
    for alert in BURN_RATE_ALERTS:
        windows = "; ".join(f"{r.factor:g}x over {r.long} and {r.short}" for r in alert.rates)
        name = edge_alert_name(alert)
        alerts.append(
            {
                "alert": name,
                "expr": burn_rate_expr(alert, LEVEL),
                "labels": {"severity": alert.severity},
                "annotations": {
                    "summary": f"{alert.summary}, over all its clusters",
                    "description": (
                        "{{ $value | humanizePercentage }} of the requests to "
                        "{{ $labels.slo_hostname }} ({{ $labels.slo_service }}), summed over "
                        f"the clusters of the edge {edge.stack} ({edge.cluster_names()}), failed "
                        f"over the alert's long window ({windows}): at that rate the hostname "
                        f"spends {alert.meaning} (SLO: {OBJECTIVE * 100:g} % over {PERIOD})."
                    ),
                    "runbook_url": runbook_url(name),
                },
            }
        )
    budget = {
        "record": f"{LEVEL}:error_budget_remaining:ratio",
        "expr": (
            f"1 - (\n  {LEVEL}:sli_error:ratio_rate{PERIOD}\n"
            f"  / on (slo_hostname, slo_service) (1 - {EDGE_OBJECTIVE})\n)"
        ),
    }
    name = f"slo-{edge.stack}"
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": rule_meta(f"{name}-burn-rate", COMPONENT),
        "spec": {
            "groups": [
                {"name": f"{name}-budget", "interval": LONG_WINDOW_INTERVAL, "rules": [budget]},
                {"name": f"{name}-burn-rate", "rules": alerts},
            ]
        },
    }


def edge_objects(edge: EdgeSlo) -> list[dict[str, Any]]:
    """The PrometheusRules of the edge: one per shared hostname, and the burn-rate alerts."""
    if not edge.hostnames:
        return []
    return [*(hostname_rule(edge, h) for h in edge.hostnames), burn_rate_rule(edge)]


def federation_job(edge: EdgeSlo) -> dict[str, Any]:
    """A scrape job of a central Prometheus that federates the clusters' SLO series through
    their Prometheus admin hostnames, with a Cloudflare Access service token (the headers
    `CF-Access-Client-Id`, `CF-Access-Client-Secret`; `http_headers` of prometheus/common
    v0.70.1 `config/headers.go`, Prometheus v3.14.0)."""
    return {
        "job_name": f"federate-{edge.stack}",
        "honor_labels": True,
        "metrics_path": "/federate",
        "params": {"match[]": ['{__name__=~"slo:.*"}']},
        "scheme": "https",
        "scrape_interval": "30s",
        "http_headers": {
            "CF-Access-Client-Id": {"files": ["/etc/prometheus/cf-access/client-id"]},
            "CF-Access-Client-Secret": {"files": ["/etc/prometheus/cf-access/client-secret"]},
        },
        "static_configs": [
            {"targets": [f"{c.prometheus}:443"]} for c in edge.clusters if c.prometheus
        ],
    }


__all__ = [
    "CLUSTER_MISSING",
    "COMPONENT",
    "EDGE_ERRORS_RATE",
    "EDGE_OBJECTIVE",
    "EDGE_REQUESTS_RATE",
    "HEARTBEAT",
    "LEVEL",
    "EdgeMember",
    "EdgeSlo",
    "SharedHostname",
    "burn_rate_rule",
    "edge_alert_name",
    "edge_objects",
    "edge_slo",
    "federation_job",
    "hostname_rule",
    "summed",
]
