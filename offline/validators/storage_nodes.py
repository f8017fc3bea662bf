"""Can a claim's pod run on a node where its volume can be made and mounted?

For a claim of a CSI driver's class (storage.py: its class exists, the stack installs the
driver), some node that the claim's pod can be scheduled on must

- match the class's `allowedTopologies`: the scheduler's VolumeBinding filter provisions a
  WaitForFirstConsumer claim only on such a node (kubernetes
  pkg/scheduler/framework/plugins/volumebinding/binder.go, checkVolumeProvisions:
  `MatchTopologySelectorTerms(class.AllowedTopologies, node.Labels)`, else "node(s) didn't find
  available persistent volumes to bind"). Terms are ORed, the expressions of a term ANDed, each
  `key In values`; a term without expressions matches nothing, no term every node
  (pkg/apis/core/v1/helper/helpers.go, MatchTopologySelectorTerms). An Immediate claim is made
  in one of those topologies and its pod follows the volume, so the same holds;
- run a pod of the driver's node plugin: the kubelet stages and mounts a CSI volume only through
  a driver registered on its own node (pkg/volume/csi/csi_client.go, newCsiDriverClient:
  "driver name ... not found in the list of registered CSI drivers").

Where a pod can run: the scheduling check's filters of the node alone (scheduling/filters.py,
node_reason: nodeSelector, required node affinity, taints, with the tolerations the DaemonSet
controller adds to a DaemonSet's pods), as the scheduling check decides where a DaemonSet runs
(scheduling/scheduler.py). Resources, pod (anti-)affinity and spreads are left to that check.

The node plugin of a driver is found by its registrar: a DaemonSet one of whose containers has
`--kubelet-registration-path` (the node-driver-registrar: the socket it registers with the
kubelet) with a path in a directory named after the driver, the convention of CSI charts
(proxmox-csi-plugin chart 0.5.9 templates/node-deployment.yaml:
`{{ .Values.node.kubeletDir }}/plugins/{{ .Values.provisionerName }}/csi.sock`). Failing that, a
DaemonSet with a registrar from the same source (Helm release, or chart) as the driver's
CSIDriver object, whose path names no other driver of the stack.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from .cluster_objects import as_list, as_map, find, name_of, of_kind, pod_template, title
from .disruption.objects import Placed
from .scheduling.filters import node_reason
from .scheduling.nodes import Node
from .scheduling.workloads import MALFORMED, Pod, Workload, new_pod

if TYPE_CHECKING:
    from .storage import Claim

REGISTRATION_FLAG = "--kubelet-registration-path"


def pod_of(placed: Placed) -> Pod | None:
    """A pod of a workload (any kind with a pod template, a Pod included), for the filters."""
    template = pod_template(placed.manifest)
    if template is None:
        return None
    labels, spec = template
    workload = Workload(
        source=placed.where,
        kind=str(placed.manifest.get("kind")),
        namespace=placed.namespace,
        name=name_of(placed.manifest),
        replicas=1,
        replicas_from="",
        spec=spec,
        labels={str(k): str(v) for k, v in labels.items()},
        cpu=0,
        memory=0,
        has_requests=False,
        manifest=placed.manifest,
    )
    return new_pod(workload)


def why_not(pod: Pod, node: Node) -> str | None:
    """Why `pod` cannot run on `node` (the node's own filters), or None when it can."""
    bound = pod.spec.get("nodeName")
    if bound and bound != node.name:
        return f"spec.nodeName {bound}"
    reason = node_reason(pod, node)
    return None if reason is None else reason.constraint


def registration_paths(manifest: dict[str, Any]) -> list[str]:
    """The `--kubelet-registration-path` values of the pod template's containers."""
    template = pod_template(manifest)
    if template is None:
        return []
    paths = []
    for container in as_list(template[1].get("containers")):
        args = [str(a) for a in as_list(as_map(container).get("args"))]
        for index, arg in enumerate(args):
            if arg.startswith(REGISTRATION_FLAG + "="):
                paths.append(arg.split("=", 1)[1])
            elif arg == REGISTRATION_FLAG and index + 1 < len(args):
                paths.append(args[index + 1])
    return paths


def _source(where: str) -> str:
    """The chart of a rendered template (`upstream/charts/<chart>`), else the `where` itself
    (`release <name>`, a file)."""
    return where.split("/templates/", 1)[0]


def node_plugins(objects: list[Placed], driver: str) -> list[Placed]:
    """The DaemonSets that run `driver`'s node plugin (see the module's docstring)."""
    registrars = [(d, registration_paths(d.manifest)) for d in of_kind(objects, "DaemonSet")]
    named = [d for d, paths in registrars if any(_names(path, driver) for path in paths)]
    if named:
        return named
    driver_object = find(objects, "CSIDriver", driver)
    if driver_object is None:
        return []
    source = _source(driver_object.where)
    drivers = {name_of(o.manifest) for o in of_kind(objects, "CSIDriver")}
    return [
        d
        for d, paths in registrars
        if paths
        and _source(d.where) == source
        and not any(_names(path, other) for path in paths for other in drivers)
    ]


def _names(path: str, driver: str) -> bool:
    return driver in PurePosixPath(path).parent.parts


def topology_matches(terms: list[Any], labels: dict[str, str]) -> bool:
    """MatchTopologySelectorTerms: no term matches every node; else any term whose every
    expression has the node's label value among its values (an empty term matches none)."""
    if not terms:
        return True
    for term in terms:
        expressions = as_list(as_map(term).get("matchLabelExpressions"))
        if expressions and all(_requirement(as_map(e), labels) for e in expressions):
            return True
    return False


def _requirement(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    """`key In values` (TopologySelectorRequirementsAsSelector)."""
    values = {str(v) for v in as_list(expression.get("values"))}
    return labels.get(str(expression.get("key"))) in values


def _show_terms(terms: list[Any]) -> str:
    shown = []
    for term in terms:
        expressions = as_list(as_map(term).get("matchLabelExpressions"))
        parts = []
        for expression in expressions:
            values = ", ".join(str(v) for v in as_list(as_map(expression).get("values")))
            parts.append(f"{as_map(expression).get('key')} in [{values}]")
        shown.append(" and ".join(parts) or "(empty term)")
    return " or ".join(shown)


def _topology_keys(terms: list[Any]) -> list[str]:
    keys: dict[str, None] = {}
    for term in terms:
        for expression in as_list(as_map(term).get("matchLabelExpressions")):
            keys[str(as_map(expression).get("key"))] = None
    return list(keys)


def _grouped(reasons: dict[str, str]) -> str:
    groups: dict[str, list[str]] = {}
    for node, reason in sorted(reasons.items()):
        groups.setdefault(reason, []).append(node)
    return "; ".join(f"{reason} ({', '.join(nodes)})" for reason, nodes in groups.items())


class Placement:
    """Where the stack's pods can run on its nodes, for the claims' checks."""

    def __init__(self, objects: list[Placed], nodes: list[Node]) -> None:
        self.objects = objects
        self.nodes = nodes

    def runs_on(self, placed: Placed) -> tuple[list[Node], dict[str, str]] | None:
        """(the nodes its pods can run on, why not on each other node); None when its pod spec
        cannot be read (the schema and scheduling checks report it)."""
        pod = pod_of(placed)
        if pod is None:
            return None
        able, reasons = [], {}
        try:
            for node in self.nodes:
                why = why_not(pod, node)
                if why is None:
                    able.append(node)
                else:
                    reasons[node.name] = why
        except MALFORMED:
            return None
        return able, reasons

    def claim_problems(self, claim: Claim, storage_class: Placed) -> list[str]:
        """Why the pods of `claim` (of `storage_class`, a CSI driver's) find no node where its
        volume can be made and mounted."""
        problems = []
        for user in claim.users:
            problem = self._user_problem(claim, storage_class, user)
            if problem is not None:
                problems.append(problem)
        return problems

    def _user_problem(self, claim: Claim, storage_class: Placed, user: Placed) -> str | None:
        manifest = storage_class.manifest
        driver = str(manifest.get("provisioner"))
        via = f"StorageClass {name_of(manifest)} (provisioner {driver})"
        placed = self.runs_on(user)
        if placed is None or not placed[0]:
            return None  # no node takes the pod at all: the scheduling check says why
        able = placed[0]
        terms = as_list(manifest.get("allowedTopologies"))
        admitted = [n for n in able if topology_matches(terms, n.labels)]
        pod = f"its pod ({title(user)})"
        if not admitted:
            keys = _topology_keys(terms)
            shown = ", ".join(
                f"{n.name}: " + ", ".join(f"{k}={n.labels.get(k, '<unset>')}" for k in keys)
                for n in able
            )
            return (
                f"{claim.title}: {via}: allowedTopologies ({_show_terms(terms)}) admit none of "
                f"the nodes {pod} can run on ({shown}): the scheduler finds no node to make the "
                'volume on ("node(s) didn\'t find available persistent volumes to bind") and '
                "the pod stays Pending; fix: list those nodes' topology in allowedTopologies, or "
                "let the pod run on nodes it lists"
            )
        plugins = node_plugins(self.objects, driver)
        if not plugins:
            return (
                f"{claim.title}: {via}: no DaemonSet among the stack's objects runs the node "
                f"plugin of {driver} (a container with {REGISTRATION_FLAG}=.../{driver}/csi.sock, "
                "the node-driver-registrar), so no kubelet can mount the volume and "
                f"{pod} never starts; fix: deploy the driver's node plugin"
            )
        admitted_names = {n.name for n in admitted}
        reasons: dict[str, str] = {}
        for plugin in plugins:
            runs = self.runs_on(plugin)
            if runs is None or admitted_names & {n.name for n in runs[0]}:
                return None
            for node, why in runs[1].items():
                if node in admitted_names:
                    reasons.setdefault(node, why)
        names = ", ".join(f"{title(p)} ({p.where})" for p in plugins)
        return (
            f"{claim.title}: {via}: the driver's node plugin, {names}, runs on none of the "
            f"nodes {pod} can run on and the class admits ({', '.join(sorted(admitted_names))}): "
            f'{_grouped(reasons)}; the kubelet there has no {driver} registered ("driver name '
            f'{driver} not found in the list of registered CSI drivers"), so the volume is '
            "never mounted and the pod never starts; fix: let the node plugin run on those "
            "nodes (its nodeSelector, affinity, tolerations)"
        )
