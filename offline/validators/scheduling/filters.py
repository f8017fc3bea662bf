"""The scheduler's filters, as kube-scheduler applies them to one pod and one node:
NodeUnschedulable, NodeAffinity (nodeSelector and required node affinity), TaintToleration
(NoSchedule and NoExecute), NodeResourcesFit (cpu, memory, pods), InterPodAffinity (required
terms, both ways for anti-affinity) and PodTopologySpread (whenUnsatisfiable: DoNotSchedule,
with minDomains, matchLabelKeys, nodeAffinityPolicy (default Honor) and nodeTaintsPolicy
(default Ignore)). Preferred terms and ScheduleAnyway constraints only score: not modelled."""

from __future__ import annotations

from typing import Any

from ..disruption.objects import selector_matches
from .cluster import Cluster, Reason
from .nodes import UNSCHEDULABLE_TAINT, Node, Taint
from .quantities import show_cpu, show_memory
from .workloads import Pod

#: Tolerations the DaemonSet controller adds to its pods (pkg/controller/daemon/util).
DAEMONSET_TOLERATIONS = [
    {"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
]


def tolerations(pod: Pod) -> list[dict[str, Any]]:
    own = list(pod.spec.get("tolerations") or [])
    return own + DAEMONSET_TOLERATIONS if pod.workload.kind == "DaemonSet" else own


def tolerated(items: list[dict[str, Any]], taint: Taint) -> bool:
    for item in items:
        if item.get("effect") and item["effect"] != taint.effect:
            continue
        key = item.get("key") or ""
        if item.get("operator") == "Exists":
            if not key or key == taint.key:
                return True
        elif key == taint.key and str(item.get("value") or "") == taint.value:
            return True
    return False


def untolerated(pod: Pod, node: Node) -> list[Taint]:
    items = tolerations(pod)
    return [
        t
        for t in node.taints
        if t.effect in ("NoSchedule", "NoExecute") and not tolerated(items, t)
    ]


def _requirement(expression: dict[str, Any], value: str | None) -> bool:
    operator, values = expression.get("operator"), [str(v) for v in expression.get("values") or []]
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and value.lstrip("-").isdigit():
        number, bound = int(value), int(values[0])
        return number > bound if operator == "Gt" else number < bound
    return False


def _term(term: dict[str, Any], node: Node) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    return all(_requirement(e, node.labels.get(e.get("key"))) for e in expressions) and all(
        _requirement(f, node.name if f.get("key") == "metadata.name" else None) for f in fields
    )


def matches_node(spec: dict[str, Any], node: Node) -> Reason | None:
    """nodeSelector and required node affinity."""
    selector = {str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()}
    if any(node.labels.get(k) != v for k, v in selector.items()):
        shown = ", ".join(f"{k}={v}" for k, v in selector.items())
        advice = "label a node so, or change the nodeSelector"
        return Reason(f"nodeSelector {shown}", "", advice, True)
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None and not any(
        _term(t, node) for t in required.get("nodeSelectorTerms") or []
    ):
        advice = "label a node to match, or relax the required node affinity"
        return Reason("required node affinity", "", advice, True)
    return None


def node_reason(pod: Pod, node: Node) -> Reason | None:
    """The filters of the node alone: cordon, node selection, taints."""
    if node.unschedulable and not tolerated(
        tolerations(pod), Taint(UNSCHEDULABLE_TAINT, "", "NoSchedule")
    ):
        return Reason("node cordoned for the drain", "", "", True)
    reason = matches_node(pod.spec, node)
    if reason:
        return reason
    for taint in untolerated(pod, node):
        if taint.key == UNSCHEDULABLE_TAINT:
            continue
        if taint.key == "node-role.kubernetes.io/control-plane":
            advice = (
                "add worker nodes, or let the control planes run workloads "
                "(cluster.allowSchedulingOnControlPlanes, which the program sets when the stack "
                "has no worker)"
            )
        else:
            advice = f"tolerate {taint} in the pod spec, or run nodes without it"
        return Reason(f"taint {taint} not tolerated", "", advice, True)
    return None


def fits(cluster: Cluster, pod: Pod, node: Node) -> Reason | None:
    cpu, memory, count = cluster.requested(node.name)
    advice = "lower the requests, or give the nodes more {} (talos-platform:nodes {}), or add nodes"
    if cpu + pod.workload.cpu > node.cpu_allocatable:
        detail = (
            f"requests {show_cpu(pod.workload.cpu)}, {show_cpu(node.cpu_allocatable - cpu)} free "
            f"of {show_cpu(node.cpu_allocatable)} allocatable"
        )
        return Reason("insufficient cpu", detail, advice.format("cores", "cores"), False)
    if memory + pod.workload.memory > node.memory_allocatable:
        detail = (
            f"requests {show_memory(pod.workload.memory)}, "
            f"{show_memory(max(0, node.memory_allocatable - memory))} free of "
            f"{show_memory(node.memory_allocatable)} allocatable"
        )
        return Reason("insufficient memory", detail, advice.format("memory", "memory_mb"), False)
    if count + 1 > node.pods_allocatable:
        detail = f"{count} of {node.pods_allocatable} pods"
        return Reason("too many pods", detail, "add nodes", False)
    return None


def term_selects(term: dict[str, Any], owner: Pod, other: Pod) -> bool:
    """Whether a pod (anti-)affinity term of `owner` selects `other`."""
    namespaces = term.get("namespaces") or []
    namespace_selector = term.get("namespaceSelector")
    if not namespaces and namespace_selector is None:
        namespaces = [owner.namespace]
    namespace_labels = {"kubernetes.io/metadata.name": other.namespace}
    if other.namespace not in namespaces and not (
        namespace_selector is not None and selector_matches(namespace_selector, namespace_labels)
    ):
        return False
    selector = dict(term.get("labelSelector") or {})
    expressions = list(selector.get("matchExpressions") or [])
    for key in term.get("matchLabelKeys") or []:
        if key in owner.labels:
            expressions.append({"key": key, "operator": "In", "values": [owner.labels[key]]})
    for key in term.get("mismatchLabelKeys") or []:
        if key in owner.labels:
            expressions.append({"key": key, "operator": "NotIn", "values": [owner.labels[key]]})
    selector["matchExpressions"] = expressions
    return term.get("labelSelector") is not None and selector_matches(selector, other.labels)


def _terms(pod: Pod, kind: str) -> list[dict[str, Any]]:
    affinity = (pod.spec.get("affinity") or {}).get(kind) or {}
    return list(affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or [])


def _same_domain(cluster: Cluster, key: str, node: Node, other: str) -> bool:
    value = node.labels.get(key)
    return value is not None and cluster.nodes[other].labels.get(key) == value


def pod_affinity(cluster: Cluster, pod: Pod, node: Node) -> Reason | None:
    for term in _terms(pod, "podAntiAffinity"):
        key = str(term.get("topologyKey"))
        for other in cluster.all_pods():
            where = cluster.node_of[other]
            if _same_domain(cluster, key, node, where) and term_selects(term, pod, other):
                advice = f"add nodes in more {key} domains, or run fewer replicas"
                detail = f"{other.workload.ref} runs on {where}"
                return Reason(f"required pod anti-affinity on {key}", detail, advice, False)
    for other in cluster.all_pods():
        where = cluster.node_of[other]
        for term in _terms(other, "podAntiAffinity"):
            key = str(term.get("topologyKey"))
            if _same_domain(cluster, key, node, where) and term_selects(term, other, pod):
                advice = f"add nodes in more {key} domains"
                detail = f"{other.workload.ref} on {where} repels it"
                return Reason(f"required pod anti-affinity on {key}", detail, advice, False)
    for term in _terms(pod, "podAffinity"):
        key = str(term.get("topologyKey"))
        matching = [o for o in cluster.all_pods() if term_selects(term, pod, o)]
        if any(_same_domain(cluster, key, node, cluster.node_of[o]) for o in matching):
            continue
        if not matching and term_selects(term, pod, pod):
            continue  # the first pod of a group that must run together
        advice = "run the pods it must be near on this node's domain, or relax the affinity"
        return Reason(f"required pod affinity on {key}", "no matching pod there", advice, False)
    return None
