"""PrometheusRule objects, checked as Prometheus loads rule files and as the alerts are used here.

prometheus-operator writes each PrometheusRule's `spec.groups` into a rule file of Prometheus
(pkg/prometheus/operator/rules.go), which Prometheus validates as `model/rulefmt/rulefmt.go`
does (`RuleGroups.Validate`, `Rule.Validate`): a group name, not repeated; a rule is exactly one of
`record` and `alert`, with an `expr` that parses; a recording rule has a valid metric name and no
`for`, `keep_firing_for` or annotations; label names are valid and not `__name__`; templates in
labels and annotations parse. Durations (`for`, `keep_firing_for`, a group's `interval`) follow
`model.ParseDuration` (the CRD's pattern; an invalid one makes the operator drop the object).

What this repository adds:

- every alert has a `severity` label and a `runbook_url` annotation; this repository's alerts use
  `critical`, `warning` or `info`, what Alertmanager routes and inhibits on
  (components/monitoring/alerting.py; kube-prometheus-stack's Watchdog says `none`);
- the runbook of an alert of this repository is a section of docs/alerts.md: the URL ends in
  `docs/alerts.md#<anchor>` and the anchor is a heading of that file. Rules rendered from a Helm
  chart (kube-prometheus-stack's defaults, labelled `heritage: Helm` or
  `app.kubernetes.io/managed-by: Helm`) keep their upstream runbooks, which must still be https
  URLs;
- every recording-rule name (`level:metric:operations`) an expression reads is recorded by some
  rule among the objects: an alert on a series nobody records never fires;
- group names are unique across all PrometheusRules, so a group named in Prometheus' UI or an
  alert's `rule_group` is one group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .docs import ALERTS_DOC, DOC_PATH, anchors_of, doc_anchors, runbook_anchor
from .promql import RECORDING_RULE_NAME, PromQLError, is_duration, metric_names, parse

API_GROUP = "monitoring.coreos.com"
SEVERITIES = ("critical", "warning", "info")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_HELM_LABELS = (("heritage", "Helm"), ("app.kubernetes.io/managed-by", "Helm"))


def is_prometheus_rule(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("kind") == "PrometheusRule"
        and str(obj.get("apiVersion", "")).startswith(f"{API_GROUP}/")
    )


def from_chart(obj: dict[str, Any]) -> bool:
    """Rendered from a Helm chart (not written in this repository)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return any(labels.get(k) == v for k, v in _HELM_LABELS)


def object_name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "?")
    return f"PrometheusRule {namespace}/{name}" if namespace else f"PrometheusRule {name}"


def groups_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    groups = (obj.get("spec") or {}).get("groups")
    return [g for g in groups if isinstance(g, dict)] if isinstance(groups, list) else []


def rules_of(group: dict[str, Any]) -> list[dict[str, Any]]:
    rules = group.get("rules")
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def recorded_names(objects: Iterable[Any]) -> set[str]:
    """Every metric name some recording rule among the objects records."""
    return {
        str(rule["record"])
        for obj in objects
        if is_prometheus_rule(obj)
        for group in groups_of(obj)
        for rule in rules_of(group)
        if rule.get("record")
    }


def alerts(objects: Iterable[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(PrometheusRule, alerting rule) of every alert among the objects."""
    return [
        (obj, rule)
        for obj in objects
        if is_prometheus_rule(obj)
        for group in groups_of(obj)
        for rule in rules_of(group)
        if rule.get("alert")
    ]


def _templates_balanced(text: str) -> bool:
    depth = 0
    for token in re.findall(r"\{\{|\}\}", text):
        depth += 1 if token == "{{" else -1
        if depth < 0 or depth > 1:
            return False
    return depth == 0


def _map_problems(where: str, field: str, value: Any, *, severities: bool) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{where}: `{field}` must be a map of strings"]
    out: list[str] = []
    for key, text in value.items():
        if not isinstance(key, str) or not LABEL_NAME.match(key) or key == "__name__":
            out.append(f"{where}: invalid {field[:-1]} name {key!r}")
        if not isinstance(text, str):
            out.append(f"{where}: {field}.{key} must be a string, got {type(text).__name__}")
        elif not _templates_balanced(text):
            out.append(f"{where}: {field}.{key} has unbalanced {{{{ }}}} template delimiters")
        elif severities and key == "severity" and text not in SEVERITIES:
            out.append(f"{where}: severity {text!r} is not one of {', '.join(SEVERITIES)}")
    return out


def _expr_problems(where: str, rule: dict[str, Any], recorded: set[str]) -> list[str]:
    expr = rule.get("expr")
    if isinstance(expr, int | float) and not isinstance(expr, bool):
        expr = str(expr)  # the CRD's expr is an int-or-string
    if not isinstance(expr, str) or not expr.strip():
        return [f"{where}: `expr` must be set"]
    try:
        tree = parse(expr)
    except PromQLError as exc:
        return [f"{where}: expr is not valid PromQL: {exc}"]
    missing = sorted(
        n for n in metric_names(tree) if RECORDING_RULE_NAME.match(n) and n not in recorded
    )
    return [f"{where}: reads {name}, which no recording rule records" for name in missing]


def _alert_problems(
    where: str, rule: dict[str, Any], own: bool, anchors: frozenset[str]
) -> list[str]:
    out: list[str] = []
    labels = rule.get("labels") if isinstance(rule.get("labels"), dict) else {}
    annotations = rule.get("annotations") if isinstance(rule.get("annotations"), dict) else {}
    if "severity" not in labels:
        out.append(f"{where}: no `severity` label (one of {', '.join(SEVERITIES)})")
    runbook = annotations.get("runbook_url")
    if not isinstance(runbook, str) or not runbook:
        out.append(f"{where}: no `runbook_url` annotation")
    elif own:
        anchor = runbook_anchor(runbook)
        if anchor is None:
            out.append(f"{where}: runbook_url {runbook!r} does not point into {DOC_PATH}#<anchor>")
        elif anchor not in anchors:
            out.append(
                f"{where}: runbook_url anchor #{anchor} is no heading of {DOC_PATH} "
                f"(add a section headed `{rule.get('alert')}` in backticks)"
            )
        if not annotations.get("summary"):
            out.append(f"{where}: no `summary` annotation")
    elif not runbook.startswith("https://"):
        out.append(f"{where}: runbook_url {runbook!r} is not an https URL")
    for field in ("for", "keep_firing_for"):
        if field in rule and not is_duration(rule[field]):
            out.append(f"{where}: `{field}: {rule[field]!r}` is not a Prometheus duration")
    return out


def _record_problems(where: str, rule: dict[str, Any]) -> list[str]:
    out: list[str] = []
    name = rule["record"]
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        out.append(f"{where}: {name!r} is not a valid metric name")
    for field in ("for", "keep_firing_for", "annotations"):
        if rule.get(field):
            out.append(f"{where}: a recording rule takes no `{field}`")
    return out


def rule_problems(
    objects: Iterable[Any], docs: Path = ALERTS_DOC, *, recorded_elsewhere: Iterable[str] = ()
) -> list[str]:
    """Every problem of the PrometheusRule objects among `objects` (other kinds are ignored).

    Pass every rule the Prometheus will load (this repository's and the charts' rendered ones)
    so that a recording rule read by an alert is found wherever it is recorded; or name in
    `recorded_elsewhere` what reaches that Prometheus recorded by another (the clusters' `slo:*`
    series, for an edge's rules: central.py)."""
    objects = list(objects)
    recorded = recorded_names(objects) | set(recorded_elsewhere)
    anchors = doc_anchors(docs)
    out: list[str] = []
    group_owner: dict[str, str] = {}
    for obj in objects:
        if not is_prometheus_rule(obj):
            continue
        name = object_name(obj)
        own = not from_chart(obj)
        groups = (obj.get("spec") or {}).get("groups")
        if not isinstance(groups, list) or not groups:
            out.append(f"{name}: `spec.groups` must be a non-empty list")
            continue
        for index, group in enumerate(groups):
            if not isinstance(group, dict) or not group.get("name"):
                out.append(f"{name}: group #{index + 1} has no name")
                continue
            gname = str(group["name"])
            where = f"{name}: group {gname}"
            if gname in group_owner:
                out.append(f"{where}: group name already used by {group_owner[gname]}")
            group_owner.setdefault(gname, name)
            if "interval" in group and not is_duration(group["interval"]):
                out.append(f"{where}: `interval: {group['interval']!r}` is not a duration")
            rules = group.get("rules")
            if not isinstance(rules, list) or not rules:
                out.append(f"{where}: `rules` must be a non-empty list")
                continue
            for position, rule in enumerate(rules, start=1):
                if not isinstance(rule, dict):
                    out.append(f"{where}: rule #{position} is not a map")
                    continue
                record, alert = rule.get("record"), rule.get("alert")
                if bool(record) == bool(alert):
                    out.append(f"{where}: rule #{position}: exactly one of record and alert")
                    continue
                rwhere = f"{where}: {'alert' if alert else 'record'} {alert or record}"
                out += _expr_problems(rwhere, rule, recorded)
                out += _map_problems(rwhere, "labels", rule.get("labels"), severities=own)
                out += _map_problems(
                    rwhere, "annotations", rule.get("annotations"), severities=False
                )
                if alert:
                    out += _alert_problems(rwhere, rule, own, anchors)
                else:
                    out += _record_problems(rwhere, rule)
    return out


ALERT_HEADING = re.compile(r"^`([A-Za-z][A-Za-z0-9_]*)`$")
"""A section of docs/alerts.md about one alert: a heading that is the alert's name in backticks
(its anchor is the name lower-cased)."""


def coverage_problems(
    objects: Iterable[Any], docs: Path = ALERTS_DOC, also_defined: Iterable[str] | None = None
) -> list[str]:
    """Each alert docs/alerts.md has a section for (`ALERT_HEADING`) exists among the rules, under
    that exact name: a section whose alert is gone (its rule renamed, or a chart's default rule
    group turned off) is reported. Meaningful only over everything Prometheus loads (this
    repository's rules and the rendered charts'). The alerts of `also_defined` count as defined
    too; by default those of the rules this repository ships for a central Prometheus (an edge
    stack's shared SLOs: central.py), which no cluster's render holds."""
    if also_defined is None:
        from .central import central_alert_names  # here: central.py imports this module

        also_defined = central_alert_names()
    names = {str(rule["alert"]) for _, rule in alerts(objects)} | set(also_defined)
    try:
        headings = anchors_of(docs.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{DOC_PATH}: missing"]
    out: list[str] = []
    for _, text, _ in headings:
        match = ALERT_HEADING.match(text.strip())
        if match and match.group(1) not in names:
            out.append(f"{DOC_PATH}: section {match.group(1)} documents an alert no rule defines")
    return out
