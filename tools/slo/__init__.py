"""SLOs as code: an availability SLO for each public hostname of a stack, as PrometheusRules.

    python -m tools.slo --stack dev            # write gitops/platform/monitoring/rules/slos/dev/
    python -m tools.slo --stack dev --check    # exit 1 when the files there are stale
    python -m tools.slo --stack prod-edge      # an edge stack: the shared hostnames' SLO

Each stack has its folder, `rules/slos/<stack>/`: the clusters of one environment (prod, prod-b)
each load their own. Every hostname of `cloudflare.hostnames[]` in a cluster stack's
`Pulumi.<stack>.yaml` gets the SLO "99.9 % of its
requests succeed, over 30 days". A request fails when the service behind the hostname answers it
with a server error. Which metric counts that depends on the service (`SOURCES`, keyed by the
namespace and name of the Service of the hostname's `service` URL); a hostname whose Service has
no entry there is an error, so no hostname goes without an SLO. docs/alerts.md ("SLOs") explains
the choice of each metric and its limits; in short:

- cloudflared cannot tell the hostnames apart: its request metrics have no hostname or rule label
  (cloudflare/cloudflared 2026.8.2, the newest release the mirror holds (the pinned 2026.10.0 is
  not in it; these files are unchanged since 2024): `proxy/metrics.go`, `total_requests`,
  `request_errors` without labels, `response_by_code{status_code}`; `connection/metrics.go`,
  `user_hostnames_counts{userHostname}` counts quick-tunnel URLs, not requests). So each
  service's own request counter is used.
- podinfo (the app hostnames): `http_request_duration_seconds_count{method, path, status}`
  (stefanprodan/podinfo 6.9.2 `pkg/api/http/metrics.go`, the histogram of its router middleware),
  5xx as errors, without the kubelet's probes (`path` `healthz`, `readyz`) and scrapes (`metrics`).
- Argo CD (the argocd hostnames): `grpc_server_handled_total{grpc_service, grpc_method,
  grpc_code}` of argocd-server (argoproj/argo-cd v3.4.4 `server/server.go`, `newGRPCServer`:
  go-grpc-middleware's server metrics, `InitializeMetrics`); the UI's REST calls go through the
  gRPC gateway to the same server over loopback (`grpc.NewClient("localhost:<port>")`), so they
  are counted. Errors: the codes of server faults (Unknown, DeadlineExceeded, Internal,
  Unavailable, DataLoss), not the client's (NotFound, PermissionDenied, Unauthenticated...).
- Grafana (admin hostnames): `grafana_http_request_duration_seconds_count{handler,
  status_code, method}` (grafana/grafana 13.2.0 `pkg/middleware/request_metrics.go`), 5xx,
  without `handler` `/api/health` (the kubelet's probes), `/healthz`, `/metrics`
  (`request_tracing.go`, `unnamedHandlers`). Read in the source index's stored versions of
  these files, not at the 13.2.0 tag (the repository is too large for the local mirror); they
  agree on the name, these labels and the handler names.
- Prometheus (admin hostnames): `prometheus_http_requests_total{handler, code}` (prometheus/
  prometheus v3.14.0 `web/web.go`, `newMetrics`; `handler` is the route, `/api/v1/...` for the
  API), 5xx, without `/-/healthy`, `/-/ready`, `/-/reload`, `/metrics`.
- Alertmanager (admin hostnames): `alertmanager_http_request_duration_seconds_count{handler,
  method, code}` (prometheus/alertmanager v0.34.0 `app/metrics.go`; the API's in
  `api/api.go`, `instrumentHandler`), 5xx, without the same four handlers.

The workload behind a service (`Workload`) is a Deployment (pods `<name>-<hash>-<suffix>`,
`kube_deployment_status_replicas_available`) or a StatefulSet (pods `<name>-<ordinal>`,
`kube_statefulset_status_replicas_ready`): Prometheus and Alertmanager are StatefulSets of the
Prometheus Operator.

Recording rules (labels `slo_hostname`, `slo_service`): `slo:sli_requests:rate5m` and
`slo:sli_errors:rate5m` (requests and failed requests per second),
`slo:sli_error:ratio_rate<window>` for 5m, 30m, 1h, 2h, 6h (from the raw counters) and 1d, 3d,
30d (from the recorded 5-minute rates: cheap over days), `slo:objective:ratio`,
`slo:error_budget_remaining:ratio`. A window without traffic records no sample (not NaN). The
30-day window covers at most what Prometheus keeps (2, 7, 15 days: dev, staging, prod).
Alerts: multi-window, multi-burn-rate, as the SRE workbook recommends for a 99.9 % SLO over 30
days (Google, "The Site Reliability Workbook", ch. 5 "Alerting on SLOs", table 5-8): page when
2 % of the budget burns in an hour (14.4x over 1h and 5m) or 5 % in 6 hours (6x over 6h and
30m), ticket when 10 % burns in 3 days (1x over 3d and 6h). Per hostname also: its backend has
no available pod (the service's metrics then vanish and the ratio sees nothing), and its SLI's
metric is missing.

An edge stack (`talos-platform:edge`, docs/multi-cluster.md) gets the SLO of each hostname of
`edge.hostnames` over its clusters (`edge`): their `slo:sli_requests:rate5m` and
`slo:sli_errors:rate5m` summed, one value per cluster, recorded as `slo_edge:*`, with the same
burn-rate alerts and an alert for a cluster that stops reporting. Those rules need every
cluster's series with its `cluster` label: they are for a central Prometheus, and no cluster
loads them.

Modules: `sources` (SOURCES, RequestMetric, Workload), `rules` (the PrometheusRules), `edge` (an
edge stack's), `files` (the stack's files, staleness), `__main__` (the command line).
"""

from __future__ import annotations

from .edge import EdgeSlo, edge_objects, edge_slo
from .files import (
    KUSTOMIZATION,
    README,
    RULE_FILE,
    RULES_DIR,
    SLO_FILE,
    edge_of,
    render,
    slo_dir,
    stack_hostnames,
    stale,
)
from .rules import (
    BURN_RATE_ALERTS,
    ERRORS_RATE,
    LONG_WINDOW_INTERVAL,
    LONG_WINDOWS,
    OBJECTIVE,
    PERIOD,
    RATE_RECORDS,
    REQUESTS_RATE,
    WINDOWS,
    BurnRate,
    BurnRateAlert,
    SloError,
    burn_rate_expr,
    burn_rate_rule,
    hostname_rule,
    runbook_url,
    slo_objects,
)
from .sources import (
    DEPLOYMENT,
    PROBES_AND_SCRAPES,
    SOURCES,
    STATEFULSET,
    RequestMetric,
    Workload,
    service_of,
    source_of,
)

__all__ = [
    "BURN_RATE_ALERTS",
    "DEPLOYMENT",
    "ERRORS_RATE",
    "KUSTOMIZATION",
    "LONG_WINDOWS",
    "LONG_WINDOW_INTERVAL",
    "OBJECTIVE",
    "PERIOD",
    "PROBES_AND_SCRAPES",
    "RATE_RECORDS",
    "README",
    "REQUESTS_RATE",
    "RULES_DIR",
    "RULE_FILE",
    "SLO_FILE",
    "SOURCES",
    "STATEFULSET",
    "WINDOWS",
    "BurnRate",
    "BurnRateAlert",
    "EdgeSlo",
    "RequestMetric",
    "SloError",
    "Workload",
    "burn_rate_expr",
    "burn_rate_rule",
    "edge_objects",
    "edge_of",
    "edge_slo",
    "hostname_rule",
    "render",
    "runbook_url",
    "service_of",
    "slo_dir",
    "slo_objects",
    "source_of",
    "stack_hostnames",
    "stale",
]
