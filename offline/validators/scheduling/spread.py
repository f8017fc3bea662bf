"""PodTopologySpread's filter: the `whenUnsatisfiable: DoNotSchedule` constraints of a pod.

For each constraint the domains are the values of `topologyKey` on the nodes that count: nodes
with every topology key of the pod's hard constraints, that pass the pod's nodeSelector and
required node affinity when `nodeAffinityPolicy` is Honor (the default), and whose taints it
tolerates when `nodeTaintsPolicy` is Honor (the default is Ignore: a tainted node, a cordoned one
included, is a domain where no pod can go, which holds the minimum at 0). The pods counted are
those of the pod's namespace its `labelSelector` (plus `matchLabelKeys`) selects; the skew of a
node is the count of its domain, plus one if the pod itself matches, minus the smallest count
(0 when there are fewer domains than `minDomains`); it must not exceed `maxSkew`.
"""

from __future__ import annotations

from typing import Any

from ..disruption.objects import selector_matches
from .cluster import Cluster, Reason
from .filters import matches_node, untolerated
from .nodes import Node
from .workloads import Pod


def hard_constraints(pod: Pod) -> list[tuple[int, dict[str, Any]]]:
    return [
        (index, constraint)
        for index, constraint in enumerate(pod.spec.get("topologySpreadConstraints") or [])
        if constraint.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
    ]


def _selector(constraint: dict[str, Any], pod: Pod) -> dict[str, Any] | None:
    selector = constraint.get("labelSelector")
    if selector is None:
        return None
    selector = dict(selector)
    expressions = list(selector.get("matchExpressions") or [])
    for key in constraint.get("matchLabelKeys") or []:
        if key in pod.labels:
            expressions.append({"key": key, "operator": "In", "values": [pod.labels[key]]})
    selector["matchExpressions"] = expressions
    return selector


def spread(cluster: Cluster, pod: Pod, node: Node) -> Reason | None:
    constraints = hard_constraints(pod)
    keys = [str(c.get("topologyKey")) for _, c in constraints]
    for index, constraint in constraints:
        key, max_skew = str(constraint.get("topologyKey")), int(constraint.get("maxSkew", 1))
        affinity_policy = constraint.get("nodeAffinityPolicy") or "Honor"
        taints_policy = constraint.get("nodeTaintsPolicy") or "Ignore"
        text = (
            f"topologySpreadConstraints[{index}] maxSkew {max_skew} on {key} "
            f"(whenUnsatisfiable DoNotSchedule, nodeTaintsPolicy {taints_policy}, "
            f"nodeAffinityPolicy {affinity_policy})"
        )
        advice = f"add nodes in more {key} domains, run fewer replicas, or set ScheduleAnyway"
        if key not in node.labels:
            return Reason(text, f"no label {key}", advice, True)
        selector = _selector(constraint, pod)
        counts: dict[str, int] = {}
        tainted = []
        for other in cluster.nodes.values():
            if any(k not in other.labels for k in keys):
                continue
            if affinity_policy == "Honor" and matches_node(pod.spec, other) is not None:
                continue
            if untolerated(pod, other):
                if taints_policy == "Honor":
                    continue
                tainted.append(other.name)
            domain = other.labels[key]
            counts[domain] = counts.get(domain, 0) + sum(
                1
                for p in cluster.pods[other.name]
                if p.namespace == pod.namespace
                and selector is not None
                and selector_matches(selector, p.labels)
            )
        minimum = min(counts.values(), default=0)
        if len(counts) < int(constraint.get("minDomains") or 1):
            minimum = 0
        own = 1 if selector is not None and selector_matches(selector, pod.labels) else 0
        domain = node.labels[key]
        skew = counts.get(domain, 0) + own - minimum
        if skew > max_skew:
            least = min(sorted(counts), key=lambda d: counts[d])
            detail = f"skew {skew}: {counts.get(domain, 0)} there, {minimum} on {least}"
            if tainted:
                advice = (
                    f"set nodeTaintsPolicy: Honor (tainted {', '.join(tainted)} count as "
                    f"domains no pod can reach), or {advice}"
                )
            return Reason(text, detail, advice, False)
    return None
