"""The PrometheusRules this repository ships for a Prometheus outside the clusters: the shared
SLOs of an edge stack, `gitops/platform/monitoring/rules/slos/<edge stack>/` (tools/slo/edge.py,
labelled `app.kubernetes.io/component: slo-edge`). An operator's central Prometheus or Thanos
ruler loads them over every cluster's `slo:*` series (docs/multi-cluster.md); no kustomization
of a cluster lists them, so no cluster's render holds them.

- `central_alert_names()`: their alerts, which docs/alerts.md documents beside the clusters'
  (`coverage_problems` counts them as defined);
- `edge_rule_problems(stack, clusters)`: the edge's rules load like every PrometheusRule here
  (`rule_problems`: PromQL parses, runbooks, group names), every `slo:*` series they read is
  recorded by the SLO rules of each of its clusters (`rules/slos/<cluster stack>/`), and every
  object is labelled as a central one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ...paths import REPO_ROOT
from .rules import alerts, is_prometheus_rule, recorded_names, rule_problems

SLO_DIR = REPO_ROOT / "gitops" / "platform" / "monitoring" / "rules" / "slos"
COMPONENT_LABEL = "app.kubernetes.io/component"
CENTRAL_COMPONENT = "slo-edge"
"""The component of the edge's PrometheusRules (tools/slo/edge.py `COMPONENT`)."""


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def folder_objects(folder: Path) -> list[dict[str, Any]]:
    """The objects of the files the folder's kustomization.yaml lists (empty without one)."""
    try:
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text("utf-8"))
    except FileNotFoundError:
        return []
    objects: list[dict[str, Any]] = []
    for resource in (kustomization or {}).get("resources") or []:
        text = (folder / str(resource)).read_text(encoding="utf-8")
        objects += [o for o in yaml.safe_load_all(text) if isinstance(o, dict)]
    return objects


def is_central(obj: Any) -> bool:
    labels = ((obj.get("metadata") or {}).get("labels") or {}) if isinstance(obj, dict) else {}
    return is_prometheus_rule(obj) and labels.get(COMPONENT_LABEL) == CENTRAL_COMPONENT


def central_rules(slo_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every central PrometheusRule under `rules/slos/*/`."""
    slo_dir = SLO_DIR if slo_dir is None else slo_dir
    if not slo_dir.is_dir():
        return []
    return [
        obj
        for folder in sorted(p for p in slo_dir.iterdir() if p.is_dir())
        for obj in folder_objects(folder)
        if is_central(obj)
    ]


def central_alert_names(slo_dir: Path | None = None) -> set[str]:
    return {str(rule["alert"]) for _, rule in alerts(central_rules(slo_dir))}


def edge_rule_problems(
    stack: str, clusters: Sequence[str], slo_dir: Path | None = None
) -> list[str]:
    """Every problem of the SLO rules of the edge stack `stack` over its cluster stacks."""
    slo_dir = SLO_DIR if slo_dir is None else slo_dir
    folder = slo_dir / stack
    where = _shown(folder)
    objects = folder_objects(folder)
    if not objects:
        return [
            f"{where}: no SLO rules of the edge stack {stack} (run python -m tools.slo "
            f"--stack {stack})"
        ]
    problems = [
        f"{where}: {o.get('kind')} {(o.get('metadata') or {}).get('name')} is not a "
        f"PrometheusRule labelled {COMPONENT_LABEL}: {CENTRAL_COMPONENT}"
        for o in objects
        if not is_central(o)
    ]
    if not clusters:
        return [*problems, *rule_problems(objects)]
    for cluster in clusters:
        recorded = recorded_names(folder_objects(slo_dir / cluster))
        for problem in rule_problems(objects, recorded_elsewhere=recorded):
            if "which no recording rule records" in problem:
                problem = f"{problem} (neither the edge's rules nor those of its cluster {cluster})"
            problems.append(problem)
    return list(dict.fromkeys(problems))
