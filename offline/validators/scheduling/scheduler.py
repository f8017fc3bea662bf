"""Greedy placement: every pod of every workload on the stack's nodes, and why a pod that finds
no node finds none.

Pods bound to a node (the control-plane static pods) go first, then DaemonSets (one pod on each
node whose taints they tolerate and whose labels their node selection accepts), then the other
workloads, the largest requests first, the pods of Jobs and CronJobs last (a run comes while
everything else runs: if anything does not fit, it is the run). A pod goes on the feasible node
(filters.py, spread.py) that runs the fewest pods of its workload, then the fewest in its zone,
then the least loaded: kube-scheduler's default spreading and LeastAllocated scoring, roughly.
Greedy placement can miss a packing the real scheduler finds, or the reverse, when nodes are
nearly full.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .cluster import Cluster, Reason
from .filters import fits, node_reason, pod_affinity
from .nodes import ZONE_LABEL, Node
from .spread import spread
from .workloads import Pod, Workload, new_pod


def reason(cluster: Cluster, pod: Pod, node: Node) -> Reason | None:
    return (
        node_reason(pod, node)
        or fits(cluster, pod, node)
        or pod_affinity(cluster, pod, node)
        or spread(cluster, pod, node)
    )


def _score(cluster: Cluster, pod: Pod, node: Node) -> tuple[int, int, float, str]:
    mine = [p for p in cluster.all_pods() if p.workload is pod.workload]
    on_node = sum(1 for p in mine if cluster.node_of[p] == node.name)
    zone = node.labels.get(ZONE_LABEL)
    in_zone = sum(
        1 for p in mine if cluster.nodes[cluster.node_of[p]].labels.get(ZONE_LABEL) == zone
    )
    cpu, memory, _ = cluster.requested(node.name)
    load = max(
        (cpu + pod.workload.cpu) / max(node.cpu_allocatable, 1),
        (memory + pod.workload.memory) / max(node.memory_allocatable, 1),
    )
    return on_node, in_zone, load, node.name


def place(
    cluster: Cluster, pod: Pod, refuse: Callable[[Node], Reason | None] | None = None
) -> tuple[str | None, dict[str, Reason]]:
    """Bind `pod` to the best feasible node; or return why each node refuses it. `refuse` is a
    further rule of the caller's, checked first (a volume's zone, drain.py)."""
    reasons: dict[str, Reason] = {}
    feasible = []
    for node in cluster.nodes.values():
        why = (refuse(node) if refuse else None) or reason(cluster, pod, node)
        if why is None:
            feasible.append(node)
        else:
            reasons[node.name] = why
    if not feasible:
        return None, reasons
    best = min(feasible, key=lambda n: _score(cluster, pod, n))
    cluster.bind(pod, best.name)
    return best.name, reasons


def explain(reasons: dict[str, Reason]) -> tuple[str, str, str]:
    """(constraint, details, advice) of a pod no node takes.

    The rules that depend on what already runs (resources, pod (anti-)affinity, spread) are
    named when any node fails only those: the node-only ones (taints, selectors) are then the
    expected reasons the other nodes are out. Nodes stopped by the same rule are grouped.
    """
    if not reasons:
        return "no node", "the stack has none that takes pods", "add nodes"
    dynamic = {n: r for n, r in reasons.items() if not r.static}
    chosen = dynamic or reasons
    groups: dict[str, list[str]] = {}
    advice: list[str] = []
    for name in sorted(chosen):
        why = chosen[name]
        groups.setdefault(why.constraint, []).append(
            f"{name}: {why.detail}" if why.detail else name
        )
        if why.advice and why.advice not in advice:
            advice.append(why.advice)
    details = "; ".join(", ".join(nodes) for nodes in groups.values())
    return " and ".join(groups), details, "; or ".join(advice) or "see the constraint"


@dataclass
class Failure:
    """Pods of a workload no node takes."""

    workload: Workload
    unplaced: int
    total: int
    reasons: dict[str, Reason]

    def message(self) -> str:
        constraint, details, advice = explain(self.reasons)
        return (
            f"{self.workload.title}: {self.unplaced} of {self.total} pods cannot be placed: "
            f"{constraint} ({details}); fix: {advice}"
        )


def _order(workload: Workload) -> tuple[bool, int, int, int, str]:
    return (
        workload.runs_to_completion,
        -workload.memory,
        -workload.cpu,
        -workload.replicas,
        workload.title,
    )


def schedule(nodes: list[Node], workloads: list[Workload]) -> tuple[Cluster, list[Failure]]:
    cluster = Cluster(nodes)
    failures = []
    for workload in workloads:
        if workload.bound_to is None:
            continue
        pod = new_pod(workload)
        node = cluster.nodes.get(workload.bound_to)
        why = fits(cluster, pod, node) if node else Reason("no such node", "", "", True)
        if why is None and node is not None:
            cluster.bind(pod, node.name)
        else:
            failures.append(Failure(workload, 1, 1, {workload.bound_to: why} if why else {}))
    for workload in [w for w in workloads if w.kind == "DaemonSet"]:
        eligible = [n for n in nodes if node_reason(new_pod(workload), n) is None]
        workload.replicas = len(eligible)
        reasons = {}
        for node in eligible:
            pod = new_pod(workload)
            why = fits(cluster, pod, node)
            if why is None:
                cluster.bind(pod, node.name)
            else:
                reasons[node.name] = why
        if reasons:
            failures.append(Failure(workload, len(reasons), len(eligible), reasons))
    others = [w for w in workloads if w.kind != "DaemonSet" and w.bound_to is None]
    for workload in sorted(others, key=_order):
        unplaced, reasons = 0, {}
        for _ in range(workload.replicas):
            node, why = place(cluster, new_pod(workload))
            if node is None:
                unplaced, reasons = unplaced + 1, reasons or why
        if unplaced:
            failures.append(Failure(workload, unplaced, workload.replicas, reasons))
    return cluster, failures
