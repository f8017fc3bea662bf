"""SLOs as code (tools/slo/): every public hostname of every stack has its SLO, the generated
files are up to date, the burn-rate alerts are the SRE workbook's, a window without traffic
records nothing (not NaN), and the long windows are built from the recorded 5-minute rates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.argocd.values import RECONCILIATION_JITTER, RECONCILIATION_TIMEOUT
from config.models import PublicHostname
from offline.validators.disruption.objects import selector_matches
from offline.validators.monitoring import rule_problems
from tests.conftest import NS, STACKS, stack_values
from tests.monitoring.test_promtool import PROMTOOL, _promtool, _rule_file
from tests.monitoring.test_rules import everything
from tools import slo
from tools.slo import files
from tools.slo.__main__ import main

#: The cluster stacks, each with its folder of SLOs (rules/slos/<stack>): the environments' and
#: prod's second cluster.
CLUSTER_STACKS = (*STACKS, "prod-b")
#: Every stack with generated SLO files: the clusters' and the edge's (test_slo_edge.py).
SLO_STACKS = (*CLUSTER_STACKS, "prod-edge")

#: The services behind the stacks' hostnames and the request metric of each (docs/alerts.md,
#: "Which metric counts the requests of a hostname").
EXPECTED_SOURCES = {
    ("podinfo", "frontend"): "http_request_duration_seconds_count",
    ("argocd", "argocd-server"): "grpc_server_handled_total",
    # grafana/grafana 13.2.0 pkg/middleware/request_metrics.go
    ("monitoring", "grafana"): "grafana_http_request_duration_seconds_count",
    # prometheus/prometheus v3.14.0 web/web.go
    ("monitoring", "kube-prometheus-stack-prometheus"): "prometheus_http_requests_total",
    # prometheus/alertmanager v0.34.0 app/metrics.go
    ("monitoring", "kube-prometheus-stack-alertmanager"): (
        "alertmanager_http_request_duration_seconds_count"
    ),
}


def _generated(stack: str) -> list[dict[str, Any]]:
    text = (slo.RULES_DIR / "slos" / stack / slo.SLO_FILE).read_text(encoding="utf-8")
    return [o for o in yaml.safe_load_all(text) if o]


def _records(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        rule
        for obj in objects
        for group in obj["spec"]["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]


def _hostname(rule: dict[str, Any]) -> str | None:
    return (rule.get("labels") or {}).get("slo_hostname")


@pytest.mark.parametrize("stack", SLO_STACKS)
def test_generated_files_are_up_to_date(stack: str) -> None:
    assert slo.stale(stack) == [], f"run: python -m tools.slo --stack {stack}"


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_every_public_hostname_has_its_slo(stack: str) -> None:
    values, _ = stack_values(stack)
    hostnames = [h["hostname"] for h in json.loads(values[f"{NS}:cloudflare"])["hostnames"]]
    assert hostnames
    records = _records(_generated(stack))
    for hostname in hostnames:
        names = {r["record"] for r in records if _hostname(r) == hostname}
        expected = {f"slo:sli_error:ratio_rate{w}" for w in slo.WINDOWS} | {
            "slo:objective:ratio",
            *slo.RATE_RECORDS,
        }
        assert names == expected, hostname
    objective = [r for r in records if r["record"] == "slo:objective:ratio"]
    assert {_hostname(r) for r in objective} == set(hostnames)
    assert all(r["expr"] == "vector(0.999)" for r in objective)


def test_windows_and_labels() -> None:
    assert slo.WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    records = _records(_generated("dev"))
    app = [r for r in records if _hostname(r) == "app-dev.example.com"]
    assert all(
        r["labels"] == {"slo_hostname": "app-dev.example.com", "slo_service": "podinfo/frontend"}
        for r in app
    )
    ratio = next(r for r in app if r["record"] == "slo:sli_error:ratio_rate1h")
    assert 'status=~"5.."' in ratio["expr"] and "[1h]" in ratio["expr"]
    assert 'path!~"healthz|readyz|metrics"' in ratio["expr"]


def _hostnames(stack: str) -> list[dict[str, Any]]:
    values, _ = stack_values(stack)
    return json.loads(values[f"{NS}:cloudflare"])["hostnames"]


def test_sources_are_the_stacks_services() -> None:
    """Every service a stack routes a hostname to has its entry, and no entry is left over."""
    services = {slo.service_of(h["service"]) for stack in STACKS for h in _hostnames(stack)}
    assert services == set(slo.SOURCES)
    assert {key: source.metric for key, source in slo.SOURCES.items()} == EXPECTED_SOURCES


def _pod_pattern(source: slo.RequestMetric) -> re.Pattern[str]:
    (matcher,) = [m for m in source.scope if m.startswith("pod=~")]
    return re.compile(matcher.removeprefix('pod=~"').removesuffix('"'))


@pytest.mark.parametrize(
    ("service", "kind", "pods", "not_pods"),
    [
        (
            ("monitoring", "grafana"),
            "Deployment",
            ["grafana-7d9c8b5f4-x2x9z"],
            ["grafana-0", "grafana-image-renderer-5f4d7c9b8-abcde"],
        ),
        (
            ("monitoring", "kube-prometheus-stack-prometheus"),
            "StatefulSet",
            [
                "prometheus-kube-prometheus-stack-prometheus-0",
                "prometheus-kube-prometheus-stack-prometheus-1",
            ],
            [
                "prometheus-kube-prometheus-stack-prometheus-7d9c8b5f4-x2x9z",
                "kube-prometheus-stack-prometheus-0",
            ],
        ),
        (
            ("monitoring", "kube-prometheus-stack-alertmanager"),
            "StatefulSet",
            ["alertmanager-kube-prometheus-stack-alertmanager-0"],
            ["alertmanager-kube-prometheus-stack-alertmanager-web-0"],
        ),
    ],
)
def test_monitoring_sources_scope_their_workloads_pods(
    service: tuple[str, str], kind: str, pods: list[str], not_pods: list[str]
) -> None:
    source = slo.SOURCES[service]
    assert source.workload.kind == kind
    assert source.workload.namespace == "monitoring"
    assert 'namespace="monitoring"' in source.scope
    pattern = _pod_pattern(source)  # Prometheus anchors its regular expressions
    assert all(pattern.fullmatch(pod) for pod in pods)
    assert not any(pattern.fullmatch(pod) for pod in not_pods)


@pytest.mark.parametrize(
    ("service", "errors", "left_out"),
    [
        (("monitoring", "grafana"), 'status_code=~"5.."', ("/api/health", "/healthz", "/metrics")),
        (
            ("monitoring", "kube-prometheus-stack-prometheus"),
            'code=~"5.."',
            ("/-/healthy", "/-/ready", "/-/reload", "/metrics"),
        ),
        (
            ("monitoring", "kube-prometheus-stack-alertmanager"),
            'code=~"5.."',
            ("/-/healthy", "/-/ready", "/-/reload", "/metrics"),
        ),
    ],
)
def test_monitoring_sources_count_5xx_without_probes_and_scrapes(
    service: tuple[str, str], errors: str, left_out: tuple[str, ...]
) -> None:
    source = slo.SOURCES[service]
    assert source.errors == (errors,)
    (requests,) = source.requests
    assert requests.startswith('handler!~"')
    excluded = re.compile(requests.removeprefix('handler!~"').removesuffix('"'))
    assert all(excluded.fullmatch(handler) for handler in left_out)
    # the users' requests stay in: the API and the UI's routes
    for handler in ("/api/v1/query_range", "/api/v2/alerts", "/api/ds/query", "/", "/query"):
        assert not excluded.fullmatch(handler), handler


def test_a_statefulset_workload() -> None:
    workload = slo.Workload("monitoring", "alertmanager-main", slo.STATEFULSET)
    assert workload.pods() == 'pod=~"alertmanager-main-[0-9]+"'
    assert workload.none_serving() == (
        'sum(kube_statefulset_status_replicas_ready{namespace="monitoring", '
        'statefulset="alertmanager-main"}) == 0'
    )
    deployment = slo.Workload("monitoring", "grafana")
    assert deployment.kind == slo.DEPLOYMENT
    assert deployment.none_serving() == (
        'sum(kube_deployment_status_replicas_available{namespace="monitoring", '
        'deployment="grafana"}) == 0'
    )
    with pytest.raises(ValueError, match="DaemonSet"):
        slo.Workload("monitoring", "node-exporter", "DaemonSet")  # type: ignore[arg-type]


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_origin_alerts_read_the_workloads_kind(stack: str) -> None:
    origin = {
        rule["labels"]["slo_service"]: rule
        for obj in _generated(stack)
        for group in obj["spec"]["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "SLOOriginUnavailable"
    }
    prometheus = origin["monitoring/kube-prometheus-stack-prometheus"]
    assert prometheus["expr"] == (
        'sum(kube_statefulset_status_replicas_ready{namespace="monitoring", '
        'statefulset="prometheus-kube-prometheus-stack-prometheus"}) == 0'
    )
    assert prometheus["annotations"]["description"].startswith(
        "StatefulSet monitoring/prometheus-kube-prometheus-stack-prometheus, behind "
    )
    assert "has had no ready replica" in prometheus["annotations"]["description"]
    assert (
        'statefulset="alertmanager-kube-prometheus-stack-alertmanager"'
        in origin["monitoring/kube-prometheus-stack-alertmanager"]["expr"]
    )
    for service in ("monitoring/grafana", "podinfo/frontend", "argocd/argocd-server"):
        assert origin[service]["expr"].startswith("sum(kube_deployment_status_replicas_available{")
        assert origin[service]["annotations"]["description"].startswith("Deployment ")


@pytest.mark.parametrize("env", STACKS)
def test_monitoring_slis_are_scraped(env: str) -> None:
    """kube-prometheus-stack's own ServiceMonitors (grafana.serviceMonitor.enabled,
    prometheus/alertmanager.serviceMonitor.selfMonitor) select the Services of the monitoring
    hostnames, in `monitoring`, as the environment renders the chart."""
    objects = everything(env)
    monitors = [
        o
        for o in objects
        if o.get("kind") == "ServiceMonitor" and o["metadata"].get("namespace") == "monitoring"
    ]
    services = {
        (o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for o in objects
        if o.get("kind") == "Service"
    }
    for namespace, name in (k for k in slo.SOURCES if k[0] == "monitoring"):
        service = services[(namespace, name)]
        labels = service["metadata"].get("labels") or {}
        ports = {p.get("name") for p in service["spec"]["ports"]}
        scraping = [
            m
            for m in monitors
            if namespace in ((m["spec"].get("namespaceSelector") or {}).get("matchNames") or [])
            and selector_matches(m["spec"]["selector"], labels)
            and any(
                e.get("port") in ports and e.get("path") == "/metrics"
                for e in m["spec"]["endpoints"]
            )
        ]
        assert scraping, f"{env}: no ServiceMonitor scrapes {namespace}/{name}"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_prometheus_slo_and_statefulset_origin(tmp_path: Path) -> None:
    """Prometheus' SLI on made-up series: probes (503 while not ready) and scrapes left out, 10 %
    of the API's queries timing out (503) is a ratio of 0.1; the StatefulSet with no ready
    replica fires SLOOriginUnavailable after 2 minutes."""
    _rule_file("dev", tmp_path)
    pod = 'namespace="monitoring", pod="prometheus-kube-prometheus-stack-prometheus-0"'
    statefulset = "prometheus-kube-prometheus-stack-prometheus"
    labels = {
        "slo_hostname": "prometheus-dev.example.com",
        "slo_service": "monitoring/kube-prometheus-stack-prometheus",
    }

    def requests(handler: str, code: str, per_minute: int) -> dict[str, str]:
        return {
            "series": "prometheus_http_requests_total"
            f'{{{pod}, handler="{handler}", code="{code}"}}',
            "values": f"0+{per_minute}x60",
        }

    description = (
        f"StatefulSet monitoring/{statefulset}, behind prometheus-dev.example.com, has had no "
        "ready replica for 2 minutes: every request through the tunnel fails, and the "
        "service's own request metrics, which the SLO reads, count none of those failures."
    )
    ratio = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    unit = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    requests("/api/v1/query_range", "200", 90),
                    requests("/api/v1/query_range", "503", 10),  # queries timing out
                    requests("/-/ready", "503", 100),  # the probes while not ready
                    requests("/metrics", "500", 100),
                    {
                        "series": "kube_statefulset_status_replicas_ready{"
                        f'namespace="monitoring", statefulset="{statefulset}"}}',
                        "values": "1x30 0x30",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": f"slo:sli_error:ratio_rate5m{{{ratio}}}",
                        "eval_time": "20m",
                        "exp_samples": [
                            {"labels": f"slo:sli_error:ratio_rate5m{{{ratio}}}", "value": 0.1}
                        ],
                    }
                ],
                "alert_rule_test": [
                    {"alertname": "SLOOriginUnavailable", "eval_time": "32m", "exp_alerts": []},
                    {
                        "alertname": "SLOOriginUnavailable",
                        "eval_time": "34m",
                        "exp_alerts": [
                            {
                                "exp_labels": {**labels, "severity": "critical"},
                                "exp_annotations": {
                                    "summary": "prometheus-dev.example.com has no backend pod "
                                    "available",
                                    "description": description,
                                    "runbook_url": slo.runbook_url("SLOOriginUnavailable"),
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "unit.yaml").write_text(yaml.safe_dump(unit, sort_keys=False))
    result = _promtool("test", "rules", "unit.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_burn_rates_are_the_workbooks() -> None:
    """The SRE workbook, ch. 5, table 5-8 (99.9 % over 30 days): page at 2 % of the budget in
    1 h (14.4x, short window 5 m) or 5 % in 6 h (6x, 30 m); ticket at 10 % in 3 d (1x, 6 h)."""
    page, ticket = slo.BURN_RATE_ALERTS
    assert (page.severity, ticket.severity) == ("critical", "warning")
    table = [
        (r.long, r.short, r.factor, round(r.budget_spent(), 4))
        for alert in slo.BURN_RATE_ALERTS
        for r in alert.rates
    ]
    assert table == [("1h", "5m", 14.4, 0.02), ("6h", "30m", 6, 0.05), ("3d", "6h", 1, 0.1)]
    assert slo.OBJECTIVE == 0.999
    assert slo.PERIOD == "30d"


def test_burn_rate_alert_expressions() -> None:
    rules = {
        r["alert"]: r
        for obj in _generated("prod")
        for group in obj["spec"]["groups"]
        for r in group["rules"]
        if "alert" in r
    }
    fast = rules["SLOErrorBudgetBurnFast"]["expr"]
    for window, factor in (("1h", "14.4"), ("5m", "14.4"), ("6h", "6"), ("30m", "6")):
        assert (
            f"slo:sli_error:ratio_rate{window}\n"
            f"    > on (slo_hostname, slo_service) ({factor} * (1 - slo:objective:ratio))"
        ) in fast
    slow = rules["SLOErrorBudgetBurnSlow"]["expr"]
    assert "ratio_rate3d" in slow and "ratio_rate6h" in slow and "(1 * (1 -" in slow
    assert rules["SLOOriginUnavailable"]["labels"]["severity"] == "critical"


def test_a_hostname_without_a_request_metric_fails() -> None:
    hostnames = [
        PublicHostname(hostname="app.example.com", service="http://frontend.podinfo.svc:9898"),
        PublicHostname(hostname="db.example.com", service="tcp://postgres.data.svc:5432"),
    ]
    with pytest.raises(slo.SloError, match=r"db\.example\.com: its service .* no request metric"):
        slo.slo_objects(hostnames)


def test_generated_rules_are_valid_on_their_own() -> None:
    objects = slo.slo_objects(
        [PublicHostname(hostname="*.example.com", service="http://argocd-server.argocd:80")]
    )
    assert [o["metadata"]["name"] for o in objects] == ["slo-wildcard-example-com", "slo-burn-rate"]
    assert rule_problems(objects) == []


@pytest.mark.parametrize(
    ("url", "service"),
    [
        ("http://frontend.podinfo.svc.cluster.local:9898", ("podinfo", "frontend")),
        ("http://argocd-server.argocd.svc:80", ("argocd", "argocd-server")),
        ("https://frontend.podinfo", ("podinfo", "frontend")),
        ("http://www.example.com", None),
        ("http://frontend", None),
    ],
)
def test_service_of(url: str, service: tuple[str, str] | None) -> None:
    assert slo.service_of(url) == service


def test_check_exits_1_when_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "RULES_DIR", tmp_path)
    assert main(["--stack", "dev", "--check"]) == 1
    assert main(["--stack", "dev"]) == 0
    assert main(["--stack", "dev", "--check"]) == 0
    path = tmp_path / "slos" / "dev" / slo.SLO_FILE
    path.write_text(path.read_text().replace("0.999", "0.99"))
    assert main(["--stack", "dev", "--check"]) == 1
    assert main(["--stack", "nosuch"]) == 2


def test_python_m_tools_slo_runs_the_package() -> None:
    """`python -m tools.slo` is the package's __main__ (tools/slo.py became tools/slo/)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tools.slo", "--stack", "dev", "--check"],
        cwd=files.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_no_window_divides_by_zero(stack: str) -> None:
    """Every error ratio divides by a total filtered with `> 0`: a window without traffic
    records no sample, where 0/0 would record NaN (which compares false with every threshold
    and shows as a gap, but is a value a query or the budget would carry on with)."""
    ratios = [r for r in _records(_generated(stack)) if r["record"].startswith("slo:sli_error:")]
    assert ratios
    for rule in ratios:
        denominator = rule["expr"].split("\n/\n", 1)[1]
        assert denominator.startswith("(sum") and denominator.endswith(") > 0)"), rule


def test_long_windows_read_the_recorded_rates() -> None:
    """1d, 3d and 30d sum the recorded 5-minute rates of the hostname (two series) instead of
    reading days of every raw series; the short windows read the raw counters."""
    records = {(r["record"], _hostname(r)): r["expr"] for r in _records(_generated("prod"))}
    host = "app.example.com"
    matchers = f'slo_hostname="{host}", slo_service="podinfo/frontend"'
    for window in slo.LONG_WINDOWS:
        assert records[(f"slo:sli_error:ratio_rate{window}", host)] == (
            f"sum_over_time(slo:sli_errors:rate5m{{{matchers}}}[{window}])\n/\n"
            f"(sum_over_time(slo:sli_requests:rate5m{{{matchers}}}[{window}]) > 0)"
        )
    for window in set(slo.WINDOWS) - set(slo.LONG_WINDOWS):
        expr = records[(f"slo:sli_error:ratio_rate{window}", host)]
        assert "http_request_duration_seconds_count{" in expr and f"[{window}]" in expr
    assert records[("slo:sli_requests:rate5m", host)].startswith(
        "sum(rate(http_request_duration_seconds_count{"
    )
    errors = records[("slo:sli_errors:rate5m", host)]
    assert 'status=~"5.."' in errors and errors.endswith("[5m]))")
    assert "\nor on ()\n0 * sum(rate(" in errors


def test_rollback_estimate_adds_argocds_detection_bound() -> None:
    """`argocd_app:rollback_estimate:seconds` adds the longest Argo CD takes to see a commit:
    timeout.reconciliation + its jitter (components/argocd/values.py)."""
    bound = sum(int(v.removesuffix("s")) for v in (RECONCILIATION_TIMEOUT, RECONCILIATION_JITTER))
    objects = yaml.safe_load_all((slo.RULES_DIR / "common" / "argocd.yaml").read_text())
    rules = {
        r.get("record") or r.get("alert"): r
        for obj in objects
        for group in obj["spec"]["groups"]
        for r in group["rules"]
    }
    estimate = rules["argocd_app:rollback_estimate:seconds"]["expr"]
    assert estimate == f"argocd_app:rollout_duration_seconds:max1d + {bound}"
    threshold = rules["ArgoCDRollbackSlow"]["expr"].splitlines()[0]
    assert threshold == (
        'argocd_app:rollback_estimate:seconds{project!="platform", dest_namespace!="argocd"} > 60'
    )
    assert rules["ArgoCDRollbackSlow"]["for"] == "15m"
