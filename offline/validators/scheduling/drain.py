"""Can each node be drained for `talosctl upgrade`? The node is cordoned (unschedulable, with
the `node.kubernetes.io/unschedulable:NoSchedule` taint) and its Deployment and StatefulSet pods
are evicted (DaemonSet and static pods stay). Each evicted pod's replacement is placed on the
other nodes with every constraint (a spread with nodeTaintsPolicy Ignore counts the cordoned
node as an empty domain).

A Job's or CronJob's pod on the node is evicted too (it has a controller), but nothing replaces
it as a Deployment's is: the Job controller counts the eviction as a failed attempt and retries
within its `backoffLimit` (or the CronJob's next run starts a new Job), and no budget keeps it.
So it leaves the node, the drain does not wait for it, and it is not placed again: its pod is
one run's, which the capacity check already placed beside everything with every node up.

A PodDisruptionBudget lets an eviction through while it allows a disruption; a replacement that
becomes ready gives the disruption back, one that stays Pending never does. So the drain blocks
forever (until --drain-timeout fails the upgrade) when more of a budget's pods on the node find
no other node than the budget allows disruptions with every pod healthy. Pods with no budget
that find no other node only wait, Pending, for the node to come back (a note).

A pod whose claim is a zone-local volume (`storage.zone_pinned`: a WaitForFirstConsumer class of
the Proxmox CSI plugin, a disk on one Proxmox host) is pinned to the zone of the node it runs
on: its PersistentVolume's node affinity names that zone, and the scheduler takes no node of
another ("node(s) had volume node affinity conflict", kubernetes
pkg/scheduler/framework/plugins/volumebinding). Its replacement is placed in that zone only; if
no other schedulable node is there, it waits Pending for the node (a warning naming the volume).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..disruption.objects import Placed, _name, _setting, selector_matches
from ..disruption.rule import WHY, NotUnderstoodError, allowed_disruptions
from . import shape
from .cluster import Cluster, Reason
from .nodes import ZONE_LABEL, Node
from .scheduler import explain, place, reason
from .workloads import Pod

#: (kind, namespace, name) of a workload -> its zone-local claims (storage.zone_pinned).
Pinned = Mapping[tuple[str, str, str], Sequence[str]]


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


def _pinned_key(pod: Pod) -> tuple[str, str, str]:
    return pod.workload.kind, pod.workload.namespace, pod.workload.name


def place_in_zone(cluster: Cluster, pod: Pod, zone: str) -> tuple[str | None, dict[str, Reason]]:
    """`scheduler.place` among the nodes of `zone` only: a node of another zone refuses the pod
    for its volume's node affinity."""

    def other_zone(node: Node) -> Reason | None:
        other = node.labels.get(ZONE_LABEL)
        if other == zone:
            return None
        advice = (
            f"run another schedulable node in zone {zone} (on that Proxmox host), or move "
            "the volume to another host (pvecsictl migrate)"
        )
        return Reason("volume node affinity conflict", f"zone {other or '<unset>'}", advice, True)

    return place(cluster, pod, other_zone)


def _elsewhere(cluster: Cluster, pod: Pod, zone: str) -> bool:
    """Whether a node of another zone would take `pod`, but for its volume."""
    return any(
        node.labels.get(ZONE_LABEL) != zone and reason(cluster, pod, node) is None
        for node in cluster.nodes.values()
    )


def drain_findings(
    cluster: Cluster, budgets: list[Budget], pinned: Pinned | None = None
) -> tuple[list[str], list[str]]:
    """(problems, warnings) of draining each node in turn; `pinned` (storage.zone_pinned): the
    workloads whose pods a zone-local volume keeps in their node's zone."""
    pinned = pinned or {}
    problems, notes = [], []
    for name in sorted(cluster.nodes):
        trial = cluster.copy()
        trial.cordon(name)
        zone = trial.nodes[name].labels.get(ZONE_LABEL)
        evicted = [p for p in trial.pods[name] if p.workload.evictable]
        for pod in evicted:
            trial.unbind(pod)
        for pod in [p for p in trial.pods[name] if p.workload.runs_to_completion]:
            trial.unbind(pod)  # evicted, retried by its Job later: not placed here
        evicted.sort(key=lambda p: (-p.workload.memory, -p.workload.cpu, p.workload.title))
        stranded: dict[Pod, dict[str, Reason]] = {}
        held: list[Pod] = []
        for pod in evicted:
            volumes = pinned.get(_pinned_key(pod))
            if volumes and zone is not None:
                node, reasons = place_in_zone(trial, pod, zone)
                if node is None and _elsewhere(trial, pod, zone):
                    held.append(pod)
            else:
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
        for pod in held:
            if pod in blocked:
                continue
            volumes = ", ".join(dict.fromkeys(pinned[_pinned_key(pod)]))
            notes.append(
                f"draining {name}: {pod.workload.ref} waits Pending until it is back: its "
                f"volume {volumes} is a disk in zone {zone} (its Proxmox host), and no other "
                f'schedulable node in zone {zone} takes the pod ("node(s) had volume node '
                'affinity conflict" on the others); another node on that host would'
            )
        waiting = [p for p in stranded if p not in blocked and p not in held]
        if waiting:
            owners = ", ".join(sorted({f"{p.workload.ref}" for p in waiting}))
            notes.append(
                f"draining {name}: {_plural(len(waiting), 'pod')} wait Pending until it is back, "
                f"no other node takes them ({owners})"
            )
    return problems, notes
