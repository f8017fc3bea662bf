"""Reading the objects a stack puts in its cluster (`scheduling.sources.stack_objects`): names,
pod templates, which Service selects which pods; and `Findings`, what a check over them returns.

Plan objects carry no `apiVersion` (disruption.sources.plan_objects keeps only the kind), so
lookups go by kind and name, and compare API groups only when both sides have one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .disruption.objects import Placed

#: Where each workload kind keeps its pod template (metadata and spec).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
#: The cluster-scoped kinds these checks name (no namespace in their titles).
CLUSTER_SCOPED = frozenset(
    {"StorageClass", "CSIDriver", "APIService", "PersistentVolume", "Namespace", "Node"}
)


@dataclass
class Findings:
    """`problems` fail the plan; `notes` say what could not be checked; `checked` counts the
    things the check looked at (for its `ran` line)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0


def as_map(value: Any) -> dict[str, Any]:
    """`value` if it is a map, else an empty one (malformed objects fail the schema checks)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def name_of(manifest: dict[str, Any]) -> str:
    return str(as_map(manifest.get("metadata")).get("name", "<unnamed>"))


def annotations_of(manifest: dict[str, Any]) -> dict[str, Any]:
    return as_map(as_map(manifest.get("metadata")).get("annotations"))


def title(placed: Placed) -> str:
    """`Kind namespace/name`, or `Kind name` for a cluster-scoped kind."""
    kind, name = placed.manifest.get("kind"), name_of(placed.manifest)
    scoped = placed.manifest.get("kind") in CLUSTER_SCOPED
    return f"{kind} {name}" if scoped else f"{kind} {placed.namespace}/{name}"


def api_group(api_version: Any) -> str | None:
    """`apps` of `apps/v1`, `` of `v1`; None when unknown."""
    if not isinstance(api_version, str) or not api_version:
        return None
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def of_kind(objects: list[Placed], kind: str) -> Iterator[Placed]:
    return (o for o in objects if o.manifest.get("kind") == kind)


def find(
    objects: list[Placed],
    kind: str,
    name: str,
    namespace: str | None = None,
    api_version: Any = None,
) -> Placed | None:
    """The object of that kind and name (in `namespace`, unless None); its API group must match
    `api_version`'s when both are known."""
    wanted = api_group(api_version)
    for placed in of_kind(objects, kind):
        if name_of(placed.manifest) != name:
            continue
        if namespace is not None and placed.namespace != namespace:
            continue
        group = api_group(placed.manifest.get("apiVersion"))
        if wanted is not None and group is not None and group != wanted:
            continue
        return placed
    return None


def pod_template(manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(labels, pod spec) of a Pod or a workload's pod template; None for other kinds."""
    kind = manifest.get("kind")
    if kind == "Pod":
        return as_map(as_map(manifest.get("metadata")).get("labels")), as_map(manifest.get("spec"))
    path = POD_TEMPLATE_PATHS.get(str(kind))
    if path is None:
        return None
    template: dict[str, Any] = manifest
    for key in path:
        template = as_map(template.get(key))
    labels = as_map(as_map(template.get("metadata")).get("labels"))
    return labels, as_map(template.get("spec"))


def selects(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """Whether a Service's `spec.selector` (a plain map) selects pods with `labels`."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def selected_workloads(service: Placed, objects: list[Placed]) -> list[Placed]:
    """The workloads in the Service's namespace whose pods its selector selects."""
    selector = as_map(as_map(service.manifest.get("spec")).get("selector"))
    found = []
    for placed in objects:
        template = pod_template(placed.manifest)
        if template is None or placed.namespace != service.namespace:
            continue
        if selects(selector, template[0]):
            found.append(placed)
    return found
