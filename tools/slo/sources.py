"""Where the requests of each service behind a public hostname are counted (`SOURCES`), and the
workload serving them (`Workload`). docs/alerts.md ("Which metric counts the requests of a
hostname") has the reasoning for each entry; the package's docstring has the summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

DEPLOYMENT: Literal["Deployment"] = "Deployment"
STATEFULSET: Literal["StatefulSet"] = "StatefulSet"


@dataclass(frozen=True)
class Workload:
    """The Deployment or StatefulSet whose pods serve a hostname's requests."""

    namespace: str
    name: str
    kind: Literal["Deployment", "StatefulSet"] = DEPLOYMENT

    def __post_init__(self) -> None:
        if self.kind not in (DEPLOYMENT, STATEFULSET):
            raise ValueError(f"{self.namespace}/{self.name}: kind {self.kind!r} is not supported")

    def pods(self) -> str:
        """Matcher of the workload's pods: `<name>-<pod-template-hash>-<suffix>` for a
        Deployment (its ReplicaSet's pods), `<name>-<ordinal>` for a StatefulSet."""
        if self.kind == STATEFULSET:
            return f'pod=~"{self.name}-[0-9]+"'
        return f'pod=~"{self.name}-[a-z0-9]+-[a-z0-9]+"'

    def none_serving(self) -> str:
        """PromQL with a value while the workload has no pod to serve (kube-state-metrics
        v2.20.0 `internal/store/deployment.go`, `statefulset.go`)."""
        if self.kind == STATEFULSET:
            metric, label = "kube_statefulset_status_replicas_ready", "statefulset"
        else:
            metric, label = "kube_deployment_status_replicas_available", "deployment"
        return f'sum({metric}{{namespace="{self.namespace}", {label}="{self.name}"}}) == 0'

    def replica(self) -> str:
        """What the alert says is missing: a Deployment's available replica (ready for
        minReadySeconds), a StatefulSet's ready one."""
        return "ready replica" if self.kind == STATEFULSET else "available replica"


@dataclass(frozen=True)
class RequestMetric:
    """Where the requests of a service are counted, and which of them failed."""

    metric: str
    workload: Workload
    """The workload serving the requests: its namespace and pods scope the series."""
    requests: tuple[str, ...]
    """Further matchers: the requests that count (probes and scrapes left out)."""
    errors: tuple[str, ...]
    """Further matchers: the failed ones."""
    source: str
    """Where the metric comes from upstream (docs/alerts.md has the reasoning)."""

    @property
    def scope(self) -> tuple[str, ...]:
        """Matchers of the service's own series: the namespace and pods of the workload."""
        return (f'namespace="{self.workload.namespace}"', self.workload.pods())

    def selector(self, *, errors: bool = False, requests: bool = True) -> str:
        matchers = [*self.scope]
        if requests:
            matchers += self.requests
        if errors:
            matchers += self.errors
        return f"{self.metric}{{{', '.join(matchers)}}}"


PROBES_AND_SCRAPES = 'handler!~"/-/healthy|/-/ready|/-/reload|/metrics"'
"""The requests of Prometheus and Alertmanager that are not a user's: the kubelet's probes
(`/-/healthy`, `/-/ready`), the config-reloader sidecar's `/-/reload`, Prometheus' scrapes.
Both label a request of their main router with its route (prometheus/common route/route.go,
`handle`)."""

SOURCES: dict[tuple[str, str], RequestMetric] = {
    ("podinfo", "frontend"): RequestMetric(
        metric="http_request_duration_seconds_count",
        workload=Workload("podinfo", "frontend"),
        requests=('path!~"healthz|readyz|metrics"',),
        errors=('status=~"5.."',),
        source="stefanprodan/podinfo 6.9.2 pkg/api/http/metrics.go",
    ),
    ("argocd", "argocd-server"): RequestMetric(
        metric="grpc_server_handled_total",
        workload=Workload("argocd", "argocd-server"),
        requests=('grpc_service!~"grpc[.]health[.]v1[.]Health|grpc[.]reflection[.].+"',),
        errors=('grpc_code=~"Unknown|DeadlineExceeded|Internal|Unavailable|DataLoss"',),
        source="argoproj/argo-cd v3.4.4 server/server.go (go-grpc-middleware server metrics)",
    ),
    # kube-prometheus-stack 88.5.3: Grafana 13.2.0 (its grafana subchart's appVersion), the
    # Deployment monitoring/grafana (`grafana.fullnameOverride`).
    ("monitoring", "grafana"): RequestMetric(
        metric="grafana_http_request_duration_seconds_count",
        workload=Workload("monitoring", "grafana"),
        requests=('handler!~"/api/health|/healthz|/metrics"',),
        errors=('status_code=~"5.."',),
        source=(
            "grafana/grafana 13.2.0 pkg/middleware/request_metrics.go (RequestMetrics), "
            "request_tracing.go (handler names)"
        ),
    ),
    # Prometheus v3.14.0 (the chart's prometheusSpec.image.tag), run by the operator as the
    # StatefulSet prometheus-<name> of the Prometheus `kube-prometheus-stack-prometheus`.
    ("monitoring", "kube-prometheus-stack-prometheus"): RequestMetric(
        metric="prometheus_http_requests_total",
        workload=Workload("monitoring", "prometheus-kube-prometheus-stack-prometheus", STATEFULSET),
        requests=(PROBES_AND_SCRAPES,),
        errors=('code=~"5.."',),
        source="prometheus/prometheus v3.14.0 web/web.go (newMetrics, instrumentHandler)",
    ),
    # Alertmanager v0.34.0 (alertmanagerSpec.image.tag), the StatefulSet alertmanager-<name>.
    ("monitoring", "kube-prometheus-stack-alertmanager"): RequestMetric(
        metric="alertmanager_http_request_duration_seconds_count",
        workload=Workload(
            "monitoring", "alertmanager-kube-prometheus-stack-alertmanager", STATEFULSET
        ),
        requests=(PROBES_AND_SCRAPES,),
        errors=('code=~"5.."',),
        source="prometheus/alertmanager v0.34.0 app/metrics.go, api/api.go (instrumentHandler)",
    ),
}


def service_of(url: str) -> tuple[str, str] | None:
    """(namespace, Service) of an in-cluster service URL such as
    `http://frontend.podinfo.svc.cluster.local:9898`, else None."""
    host = urlsplit(url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 2 and (len(parts) == 2 or parts[2] == "svc"):
        return parts[1], parts[0]
    return None


def source_of(url: str) -> RequestMetric | None:
    """The request metric of the service an in-cluster URL points at, if `SOURCES` has one."""
    key = service_of(url)
    return SOURCES.get(key) if key else None
