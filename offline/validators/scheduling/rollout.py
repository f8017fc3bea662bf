"""Can each Deployment roll? A RollingUpdate first creates up to `maxSurge` pods of the new
revision (default 25% of the replicas, rounded up) and removes up to `maxUnavailable` old ones
(default 25%, rounded down) before the new ones are ready.

- maxSurge > 0 and maxUnavailable 0: the rollout needs one extra pod to fit beside all running
  ones; when none does, the new pod stays Pending and the rollout stalls until its
  progressDeadlineSeconds (a problem);
- maxSurge > 0 and maxUnavailable > 0: a surge pod that does not fit is not a stall, the
  controller removes an old pod first (a note: the rollout runs below its replica count);
- maxSurge 0: maxUnavailable must be more than 0 (the API server rejects 0 and 0 written as
  numbers; percentages that both round to 0 make Kubernetes use maxUnavailable 1).

The surge pod carries another `pod-template-hash`, so `matchLabelKeys` on it count only the
new revision's pods, as they do in a cluster.
"""

from __future__ import annotations

import re
from typing import Any

from . import shape
from .cluster import Cluster
from .scheduler import explain, place
from .workloads import Workload, new_pod

_PERCENT = re.compile(r"^(\d+)%$")


def resolve(
    value: Any, replicas: int, round_up: bool, at: str = "spec.strategy.rollingUpdate"
) -> int:
    """A maxSurge or maxUnavailable (`3` or `"25%"`) against `replicas`; raises ShapeError
    (a ValueError) for anything else."""
    match = _PERCENT.match(str(value).strip())
    if match is None:
        return shape.whole(value, at)
    scaled = int(match.group(1)) * replicas
    return -(-scaled // 100) if round_up else scaled // 100


def rollout_findings(
    cluster: Cluster, workloads: list[Workload], failed: set[int]
) -> tuple[list[str], list[str]]:
    """(problems, notes) of the Deployments whose pods were all placed."""
    problems, notes = [], []
    for workload in workloads:
        if workload.kind != "Deployment" or id(workload) in failed or workload.replicas == 0:
            continue
        strategy = (workload.manifest.get("spec") or {}).get("strategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            continue
        rolling = strategy.get("rollingUpdate") or {}
        surge_value = rolling.get("maxSurge", "25%")
        unavailable_value = rolling.get("maxUnavailable", "25%")
        at = "spec.strategy.rollingUpdate"
        surge = resolve(surge_value, workload.replicas, round_up=True, at=f"{at}.maxSurge")
        unavailable = resolve(
            unavailable_value, workload.replicas, round_up=False, at=f"{at}.maxUnavailable"
        )
        setting = f"maxSurge {surge_value}, maxUnavailable {unavailable_value}"
        if surge == 0:
            if unavailable == 0 and str(unavailable_value).rstrip("%") == "0":
                problems.append(
                    f"{workload.title}: cannot roll ({setting}): no pod may be added nor removed; "
                    "fix: set maxUnavailable: 1"
                )
            continue
        node, reasons = place(cluster.copy(), new_pod(workload, revision="next"))
        if node is not None:
            continue
        constraint, details, advice = explain(reasons)
        text = (
            f"{workload.title}: the surge pod of a rolling update ({setting}) cannot be placed: "
            f"{constraint} ({details})"
        )
        if unavailable == 0:
            problems.append(
                f"{text}; the rollout stalls; fix: {advice}; or set maxSurge: 0 and "
                "maxUnavailable: 1"
            )
        else:
            notes.append(f"{text}; it rolls by removing an old pod first")
    return problems, notes
