"""Can each node be drained for `talosctl upgrade`? The node is cordoned (unschedulable, with
the `node.kubernetes.io/unschedulable:NoSchedule` taint) and its Deployment and StatefulSet pods
are evicted (DaemonSet and static pods stay). Each evicted pod's replacement is placed on the
other nodes with every constraint (a spread with nodeTaintsPolicy Ignore counts the cordoned
node as an empty domain).

A PodDisruptionBudget lets an eviction through while it allows a disruption; a replacement that
becomes ready gives the disruption back, one that stays Pending never does. So the drain blocks
forever (until --drain-timeout fails the upgrade) when more of a budget's pods on the node find
no other node than the budget allows disruptions with every pod healthy. Pods with no budget
that find no other node only wait, Pending, for the node to come back (a note).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..disruption.objects import Placed, _name, _setting, selector_matches
from ..disruption.rule import WHY, NotUnderstoodError, allowed_disruptions
from . import shape
from .cluster import Cluster, Reason
from .scheduler import explain, place
from .workloads import Pod


@dataclass(frozen=True)
class Budget:
    where: str
    namespace: str
    name: str
    selector: dict
    key: str
    amount: int | str
    setting: str

    def selects(self, pod: Pod) -> bool:
        return pod.namespace == self.namespace and selector_matches(self.selector, pod.labels)


def budgets_of(objects: list[Placed]) -> list[Budget]:
    """The PodDisruptionBudgets among `objects` (those the disruption check cannot read are
    left to it)."""
    budgets = []
    for item in objects:
        if item.manifest.get("kind") != "PodDisruptionBudget":
            continue
        spec = item.manifest.get("spec") or {}
        try:
            if not isinstance(spec, dict) or not isinstance(spec.get("selector"), dict):
                continue
            key, amount, setting = _setting(spec)
            shape.label_selector(spec["selector"], "spec.selector")
        except (NotUnderstoodError, shape.ShapeError):
            continue
        name = _name(item.manifest)
        budgets.append(
            Budget(item.where, item.namespace, name, spec["selector"], key, amount, setting)
        )
    return budgets


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def drain_findings(cluster: Cluster, budgets: list[Budget]) -> tuple[list[str], list[str]]:
    problems, notes = [], []
    for name in sorted(cluster.nodes):
        trial = cluster.copy()
        trial.cordon(name)
        evicted = [p for p in trial.pods[name] if p.workload.evictable]
        for pod in evicted:
            trial.unbind(pod)
        evicted.sort(key=lambda p: (-p.workload.memory, -p.workload.cpu, p.workload.title))
        stranded: dict[Pod, dict[str, Reason]] = {}
        for pod in evicted:
            node, reasons = place(trial, pod)
            if node is None:
                stranded[pod] = {n: r for n, r in reasons.items() if n != name}
        blocked: set[Pod] = set()
        for budget in budgets:
            there = [p for p in evicted if budget.selects(p)]
            stuck = [p for p in there if p in stranded]
            total = sum(1 for p in cluster.all_pods() if budget.selects(p))
            allowed = allowed_disruptions(budget.key, budget.amount, total)
            if len(stuck) <= allowed:
                continue
            blocked.update(stuck)
            owners = ", ".join(dict.fromkeys(p.workload.title for p in stuck))
            constraint, details, advice = explain(stranded[stuck[0]])
            problems.append(
                f"{owners}: draining {name}, {len(stuck)} of {len(there)} pods cannot be placed "
                f"elsewhere: {constraint} ({details}); PodDisruptionBudget "
                f"{budget.namespace}/{budget.name} ({budget.where}, {budget.setting}) allows "
                f"{_plural(allowed, 'disruption')} of its {_plural(total, 'pod')}, so the drain "
                f"never completes: {WHY}; fix: {advice}; or let the budget allow "
                f"{len(stuck)} (maxUnavailable: {len(stuck)})"
            )
        waiting = [p for p in stranded if p not in blocked]
        if waiting:
            owners = ", ".join(sorted({f"{p.workload.ref}" for p in waiting}))
            notes.append(
                f"draining {name}: {_plural(len(waiting), 'pod')} wait Pending until it is back, "
                f"no other node takes them ({owners})"
            )
    return problems, notes
