"""dashboard_problems: the PromQL of Grafana dashboards shipped as ConfigMaps parses once
Grafana's variables are replaced, and the recording rules they read exist."""

from __future__ import annotations

import json
from typing import Any

from offline.validators.monitoring import dashboard_problems
from offline.validators.monitoring.dashboards import substitute

RULES = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "r", "namespace": "monitoring"},
    "spec": {"groups": [{"name": "g", "rules": [{"record": "slo:objective:ratio", "expr": "1"}]}]},
}
VARIABLES = [
    {"name": "datasource", "type": "datasource", "query": "prometheus"},
    {"name": "logs", "type": "datasource", "query": "loki"},
    {"name": "namespace", "type": "query", "query": "label_values(kube_pod_info, namespace)"},
    {"name": "window", "type": "interval", "query": "5m,1h"},
    {"name": "top", "type": "custom", "query": "5", "current": {"value": "5"}},
    {"name": "pods", "type": "query", "query": {"query": "query_result(count by (pod) (up))"}},
]


def _configmap(panels: list[dict[str, Any]], variables: list[dict[str, Any]] = VARIABLES) -> dict:
    dashboard = {"uid": "u", "title": "t", "panels": panels, "templating": {"list": variables}}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "grafana-dashboard-t",
            "namespace": "monitoring",
            "labels": {"grafana_dashboard": "1"},
        },
        "data": {"t.json": json.dumps(dashboard)},
    }


def _panel(*exprs: str, title: str = "p", datasource: Any = None) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "title": title,
        "targets": [{"refId": chr(65 + i), "expr": e} for i, e in enumerate(exprs)],
    }
    if datasource is not None:
        panel["datasource"] = datasource
    return panel


def test_valid_queries_with_grafana_variables_pass() -> None:
    panels = [
        _panel(
            'sum(rate(http_requests_total{namespace="$namespace"}[$__rate_interval]))',
            "topk($top, rate(x[${__interval}]))",
            "rate(x[$window]) * $__range_s",
            "slo:objective:ratio",
            "",
        ),
        {"type": "row", "collapsed": True, "panels": [_panel("up", title="nested")]},
        _panel("{job=~", datasource={"type": "loki", "uid": "l"}),  # not PromQL: skipped
        _panel("{job=~", datasource="${logs}"),
    ]
    assert dashboard_problems([RULES, _configmap(panels)]) == []


def test_problems_name_the_dashboard_panel_and_target() -> None:
    panels = [
        {"type": "row", "panels": [_panel("sum(rate(x[5m])", title="broken")]},
        _panel("up", "slo:objectiv:ratio", title="typo"),
        _panel("rate(x[5m]) by ($groupby)", title="unknown variable"),
    ]
    variables = [*VARIABLES, {"name": "broken", "type": "query", "query": "label_values(up{, job)"}]
    where = "ConfigMap monitoring/grafana-dashboard-t t.json"
    problems = dashboard_problems([RULES, _configmap(panels, variables)])
    assert problems[0].startswith(f"{where}: panel 'broken' target A: not valid PromQL:")
    assert problems[1:3] == [
        f"{where}: panel 'typo' target B: reads slo:objectiv:ratio, which no recording rule "
        "records",
        f"{where}: panel 'unknown variable' target A: variable $groupby outside a string has no "
        "value the check can use",
    ]
    assert problems[3].startswith(f"{where}: variable $broken: not valid PromQL:")
    assert len(problems) == 4


def test_other_configmaps_are_ignored_and_bad_json_reported() -> None:
    plain = _configmap([_panel("sum(")])
    plain["metadata"]["labels"] = {}
    broken = _configmap([])
    broken["data"] = {"x.json": "{"}
    assert dashboard_problems([plain]) == []
    assert dashboard_problems([broken])[0].startswith(
        "ConfigMap monitoring/grafana-dashboard-t x.json: not JSON:"
    )


def test_substitution_leaves_strings_alone() -> None:
    expr, unknown = substitute("x{a=\"$v\", b=`$w`, c='it\\'s $z'}[$__rate_interval] offset $q", {})
    assert expr == "x{a=\"$v\", b=`$w`, c='it\\'s $z'}[5m] offset $q"
    assert unknown == ["q"]


def test_the_slo_dashboard_says_the_30_day_window_is_bounded_by_retention() -> None:
    """No environment keeps 30 days (2, 7, 15 days: gitops/platform/envs/<env>/
    kube-prometheus-stack.yaml): every panel reading the 30-day ratio or the budget says so in
    its title, or its legend, and the dashboard's description names the retentions."""
    from pathlib import Path

    import yaml

    from offline.paths import REPO_ROOT

    board = json.loads(
        (REPO_ROOT / "gitops/platform/monitoring/base/dashboards/slo.json").read_text()
    )
    reading = []
    for panel in board["panels"]:
        for target in panel.get("targets") or []:
            if "ratio_rate30d" in target["expr"] or "error_budget_remaining" in target["expr"]:
                reading.append((panel, target))
    assert reading
    for panel, target in reading:
        said = panel["title"] + " " + target.get("legendFormat", "")
        if "30d" in target["expr"] or "30 d" in panel["title"]:
            assert "retention" in said, panel["title"]
    for env in ("dev", "staging", "prod"):
        values = yaml.safe_load(
            Path(REPO_ROOT / f"gitops/platform/envs/{env}/kube-prometheus-stack.yaml").read_text()
        )
        retention = values["spec"]["source"]["helm"]["valuesObject"]["prometheus"][
            "prometheusSpec"
        ]["retention"]
        assert retention.endswith("d") and int(retention[:-1]) < 30
        assert f"{retention[:-1]} d in {env}" in board["description"], env
