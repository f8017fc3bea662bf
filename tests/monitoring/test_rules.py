"""The PrometheusRules of gitops/platform/monitoring/rules and everything Prometheus loads beside
them (offline/validators/monitoring/rules.py), and that the checks catch what they are for."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.validators.gitops.rendering import render_environment
from offline.validators.monitoring import coverage_problems, dashboard_problems, rule_problems
from offline.validators.monitoring.docs import anchors_of, runbook_anchor, slug
from offline.validators.monitoring.rules import alerts, is_prometheus_rule
from tests.conftest import STACKS
from tools import slo

RULES = slo.RULES_DIR


def _load(path: Path) -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(path.read_text(encoding="utf-8")) if o]


def own_rules(env: str) -> list[dict[str, Any]]:
    """The PrometheusRules this repository gives an environment: rules/common and its SLOs,
    as its kustomization lists them."""
    objects = []
    for folder in (RULES / "common", RULES / "slos" / env):
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        assert kustomization["namespace"] == "monitoring"
        for resource in kustomization["resources"]:
            objects += _load(folder / resource)
    return objects


@cache
def _rendered(env: str) -> tuple[dict[str, Any], ...]:
    return tuple(o for objects in render_environment(env).values() for o in objects)


def everything(env: str) -> list[dict[str, Any]]:
    """All an environment's GitOps tree renders: its monitoring folder, the charts (with
    kube-prometheus-stack's default rules and dashboards), the apps."""
    return copy.deepcopy(list(_rendered(env)))


def _rule(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for obj in objects:
        for group in obj["spec"]["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == name or rule.get("record") == name:
                    return rule
    raise AssertionError(name)


@pytest.mark.parametrize("env", STACKS)
def test_own_rules_have_no_problem(env: str) -> None:
    objects = own_rules(env)
    assert objects and all(is_prometheus_rule(o) for o in objects)
    assert rule_problems(objects) == []


def test_everything_prometheus_and_grafana_load_is_valid() -> None:
    """This repository's rules with kube-prometheus-stack's, the dashboards (the chart's and
    gitops/platform/monitoring's) and docs/alerts.md: every expression parses, every recording
    rule read is recorded, every alert documented there exists. Over dev's render only (1.5 s
    each): the chart's values for its rules and dashboards are shared by the environments, and
    each environment's own rules are checked above."""
    objects = everything("dev")
    names = {o["metadata"]["name"] for o in objects if is_prometheus_rule(o)}
    assert {"argocd", "cloudflared", "slo-burn-rate"} <= names
    assert any(o.get("kind") == "ConfigMap" and "grafana_dashboard" in str(o) for o in objects)
    assert rule_problems(objects) == []
    assert dashboard_problems(objects) == []
    assert coverage_problems(objects) == []


def test_an_alert_on_a_recording_rule_nobody_records_fails() -> None:
    objects = own_rules("dev")
    rule = _rule(objects, "ArgoCDRollbackSlow")
    rule["expr"] = "argocd_app:rollback_estimat:seconds > 60"
    assert rule_problems(objects) == [
        "PrometheusRule argocd: group argocd-rollout: alert ArgoCDRollbackSlow: reads "
        "argocd_app:rollback_estimat:seconds, which no recording rule records"
    ]


def test_a_recording_rule_read_by_another_must_exist_too() -> None:
    objects = own_rules("dev")
    for obj in objects:
        for group in obj["spec"]["groups"]:
            group["rules"] = [r for r in group["rules"] if r.get("record") != "slo:objective:ratio"]
    problems = rule_problems(objects)
    assert problems
    assert all("reads slo:objective:ratio, which no recording rule records" in p for p in problems)
    assert any("record slo:error_budget_remaining:ratio" in p for p in problems)
    assert any("alert SLOErrorBudgetBurnFast" in p for p in problems)


def _one_alert(**changes: Any) -> list[dict[str, Any]]:
    rule = {
        "alert": "CloudflaredTunnelDown",
        "expr": "up == 0",
        "for": "2m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "s",
            "runbook_url": slo.runbook_url("CloudflaredTunnelDown"),
        },
    }
    for key, value in changes.items():
        if value is None:
            rule.pop(key, None)
        else:
            rule[key] = value
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "t", "namespace": "monitoring"},
            "spec": {"groups": [{"name": "g", "rules": [rule]}]},
        }
    ]


def test_a_valid_alert_passes() -> None:
    assert rule_problems(_one_alert()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expr": "sum(rate(x[5m])"}, "expr is not valid PromQL"),
        ({"expr": None}, "`expr` must be set"),
        ({"labels": {}}, "no `severity` label"),
        ({"labels": {"severity": "page"}}, "severity 'page' is not one of"),
        ({"labels": {"severity": "warning", "bad-name": "x"}}, "invalid label name 'bad-name'"),
        ({"annotations": {"summary": "s"}}, "no `runbook_url` annotation"),
        (
            {"annotations": {"summary": "s", "runbook_url": "https://runbooks.example/x"}},
            "does not point into docs/alerts.md#<anchor>",
        ),
        (
            {"annotations": {"summary": "s", "runbook_url": "docs/alerts.md#nosuchalert"}},
            "anchor #nosuchalert is no heading of docs/alerts.md",
        ),
        (
            {"annotations": {"runbook_url": "docs/alerts.md#cloudflaredtunneldown"}},
            "no `summary` annotation",
        ),
        (
            {
                "annotations": {
                    "summary": "{{ $labels.x }",
                    "runbook_url": "docs/alerts.md#watchdog",
                }
            },
            "unbalanced",
        ),
        ({"for": "1.5m"}, "`for: '1.5m'` is not a Prometheus duration"),
        ({"keep_firing_for": "soon"}, "`keep_firing_for: 'soon'` is not a Prometheus duration"),
        ({"record": "also:a:record"}, "exactly one of record and alert"),
    ],
)
def test_each_rule_problem_is_caught(changes: dict[str, Any], message: str) -> None:
    problems = rule_problems(_one_alert(**changes))
    assert any(message in p for p in problems), problems


def test_recording_rule_fields_and_group_names() -> None:
    objects = _one_alert()
    objects[0]["spec"]["groups"] += [
        {"name": "g", "rules": [{"record": "a:b", "expr": "up"}]},
        {
            "name": "h",
            "interval": "30 s",
            "rules": [
                {"record": "bad name", "expr": "up"},
                {"record": "c:d", "expr": "up", "for": "1m", "annotations": {"a": "b"}},
            ],
        },
        {"name": "i", "rules": []},
    ]
    problems = rule_problems(objects)
    expected = [
        "group g: group name already used by PrometheusRule monitoring/t",
        "group h: `interval: '30 s'` is not a duration",
        "record bad name: 'bad name' is not a valid metric name",
        "record c:d: a recording rule takes no `for`",
        "record c:d: a recording rule takes no `annotations`",
        "group i: `rules` must be a non-empty list",
    ]
    for message in expected:
        assert any(message in p for p in problems), (message, problems)


def test_chart_rules_keep_their_upstream_runbooks() -> None:
    objects = _one_alert(
        labels={"severity": "none"},
        annotations={"runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/x"},
    )
    assert rule_problems(objects)  # not this repository's: a docs/alerts.md runbook expected
    objects[0]["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "Helm"}
    assert rule_problems(objects) == []
    objects[0]["spec"]["groups"][0]["rules"][0]["annotations"]["runbook_url"] = "http://x"
    assert rule_problems(objects) == [
        "PrometheusRule monitoring/t: group g: alert CloudflaredTunnelDown: "
        "runbook_url 'http://x' is not an https URL"
    ]


def test_every_own_alert_links_its_section_on_the_repository(tmp_path: Path) -> None:
    """runbook_url is the alert's section of docs/alerts.md on the tree's repository (a fork
    changes gitops/repository/repository.yaml; this names each rule to follow it)."""
    for env in STACKS:
        for _, rule in alerts(own_rules(env)):
            url = rule["annotations"]["runbook_url"]
            assert url == slo.runbook_url(rule["alert"]), (env, rule["alert"], url)
            assert runbook_anchor(url) == rule["alert"].lower()


def test_docs_have_a_section_per_alert_and_coverage_catches_a_lost_one(tmp_path: Path) -> None:
    objects = everything("dev")
    documented = {
        text.strip("`")
        for _, text, _ in anchors_of(Path("docs/alerts.md").read_text(encoding="utf-8"))
        if text.startswith("`")
    }
    own = {rule["alert"] for _, rule in alerts(own_rules("dev"))}
    assert own <= documented
    assert {"Watchdog", "KubeNodeNotReady", "etcdNoLeader"} <= documented
    kept = [
        o
        for o in objects
        if not (is_prometheus_rule(o) and o["metadata"]["name"].endswith("-etcd"))
    ]
    assert coverage_problems(kept) == [
        "docs/alerts.md: section etcdNoLeader documents an alert no rule defines"
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("`ArgoCDAppDegraded`", "argocdappdegraded"),
        ("Rollback time: what is measured", "rollback-time-what-is-measured"),
        (
            "What kube-prometheus-stack already alerts on",
            "what-kube-prometheus-stack-already-alerts-on",
        ),
        ("[Link](x) and `code`", "link-and-code"),
    ],
)
def test_anchors_as_github_makes_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
    assert anchors_of(f"# A\n```\n# not a heading\n```\n## {heading}\n## {heading}\n")[1:] == [
        (2, heading, anchor),
        (2, heading, f"{anchor}-1"),
    ]
