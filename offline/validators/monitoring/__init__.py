"""Checks of the monitoring objects: PrometheusRules (`rule_problems`), Grafana dashboards
(`dashboard_problems`) and the alert runbook docs/alerts.md (`coverage_problems`).

Each takes rendered objects (dicts, any kinds: the others are ignored) and returns problems as
strings naming the object, the group or panel and the rule. PromQL is parsed by a real PromQL
parser (`promql.py`).

`central.py` finds the rules shipped for a Prometheus outside the clusters (an edge stack's
shared SLOs) and checks them against the clusters' (`edge_rule_problems`).

Beside them, for the pods of the monitoring namespaces: `pod_security.py` (the Pod Security
Standards a pod template breaks, as the namespaces' `pod-security.kubernetes.io/*` labels apply
them) and `network_policy.py` (whether the NetworkPolicies let one pod reach another's port).
"""

from __future__ import annotations

from .central import central_alert_names, edge_rule_problems
from .dashboards import dashboard_problems
from .promql import PromQLError, parse, recording_rule_references
from .rules import coverage_problems, rule_problems

__all__ = [
    "PromQLError",
    "central_alert_names",
    "coverage_problems",
    "dashboard_problems",
    "edge_rule_problems",
    "parse",
    "recording_rule_references",
    "rule_problems",
]
