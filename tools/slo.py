"""SLOs as code: an availability SLO for each public hostname of a stack, as PrometheusRules.

    python -m tools.slo --stack dev            # write gitops/platform/monitoring/rules/slos/dev/
    python -m tools.slo --stack dev --check    # exit 1 when the files there are stale

Every hostname of `cloudflare.hostnames[]` in `Pulumi.<stack>.yaml` gets the SLO "99.9 % of its
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

Recording rules (labels `slo_hostname`, `slo_service`): `slo:sli_error:ratio_rate<window>` for
5m, 30m, 1h, 2h, 6h, 1d, 3d and 30d, `slo:objective:ratio`, `slo:error_budget_remaining:ratio`.
Alerts: multi-window, multi-burn-rate, as the SRE workbook recommends for a 99.9 % SLO over 30
days (Google, "The Site Reliability Workbook", ch. 5 "Alerting on SLOs", table 5-8): page when
2 % of the budget burns in an hour (14.4x over 1h and 5m) or 5 % in 6 hours (6x over 6h and
30m), ticket when 10 % burns in 3 days (1x over 3d and 6h). Per hostname also: its backend has
no available pod (the service's metrics then vanish and the ratio sees nothing), and its SLI's
metric is missing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from config.models import CloudflareConfig, PublicHostname
from config.repository import tree_repository
from offline.paths import REPO_ROOT
from offline.stackfile import StackFileError, read_stack_config

NAMESPACE = "talos-platform"
RULES_DIR = REPO_ROOT / "gitops" / "platform" / "monitoring" / "rules"
SLO_FILE = "slos.yaml"
KUSTOMIZATION = "kustomization.yaml"
MONITORING_NAMESPACE = "monitoring"

OBJECTIVE = 0.999
"""The availability objective of every hostname: 99.9 % of requests succeed."""
PERIOD = "30d"
PERIOD_HOURS = 30 * 24
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
"""The windows of `slo:sli_error:ratio_rate<window>`: those the alerts read (5m, 30m, 1h, 6h,
3d), 2h and 1d for the dashboards, and the SLO's period."""
LONG_WINDOWS = ("1d", "3d", "30d")
LONG_WINDOW_INTERVAL = "2m"
"""Evaluation interval of the long windows' group: a rate over days changes slowly, and reading
30 days of samples every 30 s costs more than the rest together. Under Prometheus' 5 minute
lookback, so an alert reading them always finds a value."""


@dataclass(frozen=True)
class BurnRate:
    long: str
    short: str
    factor: float

    def budget_spent(self) -> float:
        """Fraction of the period's error budget spent over the long window at this burn rate."""
        return self.factor * _hours(self.long) / PERIOD_HOURS


@dataclass(frozen=True)
class BurnRateAlert:
    alert: str
    severity: str
    rates: tuple[BurnRate, ...]
    summary: str
    meaning: str


BURN_RATE_ALERTS = (
    BurnRateAlert(
        "SLOErrorBudgetBurnFast",
        "critical",
        (BurnRate("1h", "5m", 14.4), BurnRate("6h", "30m", 6)),
        "{{ $labels.slo_hostname }} is burning its error budget fast",
        "2 % of the 30-day error budget in an hour, or 5 % in 6 hours",
    ),
    BurnRateAlert(
        "SLOErrorBudgetBurnSlow",
        "warning",
        (BurnRate("3d", "6h", 1),),
        "{{ $labels.slo_hostname }} is spending its error budget faster than it lasts",
        "10 % of the 30-day error budget in 3 days",
    ),
)


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


class SloError(Exception):
    """The stack cannot be given its SLOs (the message says why)."""


def _hours(window: str) -> float:
    number, unit = int(window[:-1]), window[-1]
    return {"m": number / 60, "h": number, "d": number * 24}[unit]


def service_of(url: str) -> tuple[str, str] | None:
    """(namespace, Service) of an in-cluster service URL such as
    `http://frontend.podinfo.svc.cluster.local:9898`, else None."""
    host = urlsplit(url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 2 and (len(parts) == 2 or parts[2] == "svc"):
        return parts[1], parts[0]
    return None


def runbook_url(alert: str) -> str:
    """The alert's section of docs/alerts.md, on the web page of the tree's repository (the
    repository of gitops/repository/repository.yaml, `main`)."""
    anchor = f"docs/alerts.md#{alert.lower()}"
    url = tree_repository().url
    if url.startswith("https://"):
        return f"{url.removesuffix('.git').rstrip('/')}/blob/main/{anchor}"
    return anchor


def _slug(hostname: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", hostname.lower().replace("*", "wildcard")).strip("-")


def _labels(entry: PublicHostname) -> dict[str, str]:
    namespace, service = service_of(entry.service) or ("", "")
    return {"slo_hostname": entry.hostname, "slo_service": f"{namespace}/{service}"}


def _ratio(source: RequestMetric, window: str) -> str:
    errors = source.selector(errors=True)
    total = source.selector()
    return (
        f"(\n  sum(rate({errors}[{window}]))\n  or on () vector(0)\n)\n"
        f"/\nsum(rate({total}[{window}]))"
    )


def _meta(name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {
            "app.kubernetes.io/part-of": "talos-platform",
            "app.kubernetes.io/component": component,
        },
    }


def hostname_rule(entry: PublicHostname, source: RequestMetric) -> dict[str, Any]:
    """The PrometheusRule of one hostname: its error ratios, objective and origin alerts."""
    labels = _labels(entry)
    slug = _slug(entry.hostname)
    short = [{"record": "slo:objective:ratio", "expr": f"vector({OBJECTIVE})", "labels": labels}]
    long = []
    for window in WINDOWS:
        rule = {
            "record": f"slo:sli_error:ratio_rate{window}",
            "expr": _ratio(source, window),
            "labels": labels,
        }
        (long if window in LONG_WINDOWS else short).append(rule)
    workload = source.workload
    origin = [
        {
            "alert": "SLOOriginUnavailable",
            "expr": workload.none_serving(),
            "for": "2m",
            "labels": {**labels, "severity": "critical"},
            "annotations": {
                "summary": f"{entry.hostname} has no backend pod available",
                "description": (
                    f"{workload.kind} {workload.namespace}/{workload.name}, behind "
                    f"{entry.hostname}, has had no {workload.replica()} for 2 minutes: "
                    "every request through the tunnel fails, and the service's own request "
                    "metrics, which the SLO reads, count none of those failures."
                ),
                "runbook_url": runbook_url("SLOOriginUnavailable"),
            },
        },
        {
            "alert": "SLOMetricsMissing",
            "expr": f"absent({source.selector(requests=False)})",
            "for": "15m",
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": f"The SLO of {entry.hostname} has no data",
                "description": (
                    f"Prometheus has had no {source.metric} of {workload.namespace}/"
                    f"{workload.name} for 15 minutes: the SLO of {entry.hostname} and its "
                    "burn-rate alerts see nothing."
                ),
                "runbook_url": runbook_url("SLOMetricsMissing"),
            },
        },
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _meta(f"slo-{slug}", "slo"),
        "spec": {
            "groups": [
                {"name": f"slo-{slug}", "rules": short},
                {"name": f"slo-{slug}-long", "interval": LONG_WINDOW_INTERVAL, "rules": long},
                {"name": f"slo-{slug}-origin", "rules": origin},
            ]
        },
    }


def _over(window: str, factor: float) -> str:
    return (
        f"slo:sli_error:ratio_rate{window}\n"
        f"  > on (slo_hostname, slo_service) ({factor:g} * (1 - slo:objective:ratio))"
    )


def burn_rate_expr(alert: BurnRateAlert) -> str:
    pairs = [
        f"(\n{_indent(_over(r.long, r.factor))}\n  and on (slo_hostname, slo_service)\n"
        f"{_indent(_over(r.short, r.factor))}\n)"
        for r in alert.rates
    ]
    return "\nor on (slo_hostname, slo_service)\n".join(pairs)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def burn_rate_rule() -> dict[str, Any]:
    """The PrometheusRule shared by all hostnames: budget left and the burn-rate alerts."""
    alerts = []
    for alert in BURN_RATE_ALERTS:
        windows = "; ".join(f"{r.factor:g}x over {r.long} and {r.short}" for r in alert.rates)
        alerts.append(
            {
                "alert": alert.alert,
                "expr": burn_rate_expr(alert),
                "labels": {"severity": alert.severity},
                "annotations": {
                    "summary": alert.summary,
                    "description": (
                        "{{ $value | humanizePercentage }} of the requests to "
                        "{{ $labels.slo_hostname }} ({{ $labels.slo_service }}) failed over the "
                        f"alert's long window ({windows}): at that rate the hostname spends "
                        f"{alert.meaning} (SLO: {OBJECTIVE * 100:g} % over {PERIOD})."
                    ),
                    "runbook_url": runbook_url(alert.alert),
                },
            }
        )
    budget = {
        "record": "slo:error_budget_remaining:ratio",
        "expr": (
            "1 - (\n  slo:sli_error:ratio_rate30d\n"
            "  / on (slo_hostname, slo_service) (1 - slo:objective:ratio)\n)"
        ),
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _meta("slo-burn-rate", "slo"),
        "spec": {
            "groups": [
                {"name": "slo-budget", "interval": LONG_WINDOW_INTERVAL, "rules": [budget]},
                {"name": "slo-burn-rate", "rules": alerts},
            ]
        },
    }


def slo_objects(hostnames: Sequence[PublicHostname]) -> list[dict[str, Any]]:
    """The PrometheusRules of these hostnames; SloError naming each hostname whose service has
    no request metric in `SOURCES`."""
    missing = []
    objects = []
    for entry in hostnames:
        key = service_of(entry.service)
        source = SOURCES.get(key) if key else None
        if source is None:
            missing.append(
                f"{entry.hostname}: its service {entry.service} has no request metric in "
                "tools/slo.py SOURCES (add one: which metric counts its requests and errors)"
            )
            continue
        objects.append(hostname_rule(entry, source))
    if missing:
        raise SloError("; ".join(missing))
    if objects:
        objects.append(burn_rate_rule())
    return objects


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(objects: Sequence[dict[str, Any]]) -> str:
    return "---\n".join(
        yaml.dump(obj, Dumper=_Dumper, sort_keys=False, width=4096, allow_unicode=True)
        for obj in objects
    )


def stack_hostnames(stack: str) -> tuple[str, list[PublicHostname]]:
    """(environment, public hostnames) of `Pulumi.<stack>.yaml`."""
    try:
        values = read_stack_config(stack).values
    except StackFileError as exc:
        raise SloError(str(exc)) from None
    env = values.get(f"{NAMESPACE}:environment")
    raw = values.get(f"{NAMESPACE}:cloudflare")
    if not env or raw is None:
        raise SloError(f"Pulumi.{stack}.yaml: needs {NAMESPACE}:environment and :cloudflare")
    try:
        cloudflare = CloudflareConfig.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise SloError(f"Pulumi.{stack}.yaml: {NAMESPACE}:cloudflare is not valid: {exc}") from None
    return env, list(cloudflare.hostnames)


def render(stack: str) -> dict[Path, str]:
    """The files of the stack's environment: path -> content."""
    env, hostnames = stack_hostnames(stack)
    lines = [
        f"# Generated by `python -m tools.slo --stack {stack}` from Pulumi.{stack}.yaml",
        "# (cloudflare.hostnames[]); do not edit. One availability SLO per public hostname:",
        f'# {OBJECTIVE * 100:g} % of requests succeed over {PERIOD} (docs/alerts.md, "SLOs").',
    ]
    for entry in hostnames:
        key = service_of(entry.service)
        source = SOURCES.get(key) if key else None
        if source is not None:
            lines.append(f"#   {entry.hostname}: {source.metric} ({source.source})")
    body = _dump(slo_objects(hostnames)) if hostnames else ""
    directory = RULES_DIR / "slos" / env
    resources = [SLO_FILE] if hostnames else []
    kustomization = yaml.dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": MONITORING_NAMESPACE,
            "resources": resources,
        },
        sort_keys=False,
    )
    return {
        directory / KUSTOMIZATION: (
            f"# Generated by `python -m tools.slo --stack {stack}`; do not edit.\n{kustomization}"
        ),
        directory / SLO_FILE: "\n".join(lines) + "\n" + body,
    }


def _shown(path: Path) -> Path:
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def stale(stack: str) -> list[Path]:
    """The generated files of the stack that differ from what the generator writes."""
    out = []
    for path, text in render(stack).items():
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            out.append(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.slo", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--stack", required=True, help="dev, staging, prod")
    parser.add_argument(
        "--check", action="store_true", help="only check; exit 1 when a file is stale"
    )
    args = parser.parse_args(argv)
    if not (REPO_ROOT / f"Pulumi.{args.stack}.yaml").is_file():
        print(f"error: no stack file Pulumi.{args.stack}.yaml", file=sys.stderr)
        return 2
    try:
        if args.check:
            paths = stale(args.stack)
            for path in paths:
                print(
                    f"stale: {_shown(path)} (run python -m tools.slo --stack {args.stack})",
                    file=sys.stderr,
                )
            return 1 if paths else 0
        for path, text in render(args.stack).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(_shown(path))
    except SloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
