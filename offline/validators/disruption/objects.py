"""Kubernetes manifests: label selectors, workloads and their replicas (HorizontalPodAutoscalers
included), and the PodDisruptionBudgets among a set of objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .rule import Budget, NotUnderstoodError, _not_understood, judge, parse_amount, whole_number

WORKLOAD_KINDS = ("Deployment", "StatefulSet")


# --- Kubernetes objects (plan resources and the GitOps tree) -----------------------------------


@dataclass(frozen=True)
class Placed:
    """A manifest, the namespace it lands in, and where it comes from (for messages)."""

    manifest: dict[str, Any]
    namespace: str
    where: str


def selector_matches(selector: Any, labels: dict[str, Any]) -> bool:
    """Whether a policy/v1 label selector selects pods with `labels`.

    No selector selects nothing; an empty one selects every pod. matchExpressions with In,
    NotIn, Exists and DoesNotExist are understood; anything else raises NotUnderstoodError.
    """
    if selector is None:
        return False
    if not isinstance(selector, dict):
        raise NotUnderstoodError(f"spec.selector: {selector!r} is not a label selector")
    for key, value in _map(selector.get("matchLabels"), "spec.selector.matchLabels").items():
        if labels.get(key) != value:
            return False
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise NotUnderstoodError(f"spec.selector.matchExpressions: {expressions!r} is not a list")
    for index, expression in enumerate(expressions):
        at = f"spec.selector.matchExpressions[{index}]"
        if not isinstance(expression, dict):
            raise NotUnderstoodError(f"{at}: {expression!r} is not understood")
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if not isinstance(values, list):
            raise NotUnderstoodError(f"{at}.values: {values!r} is not a list")
        if not isinstance(key, str):
            raise NotUnderstoodError(f"{at}.key: {key!r} is not a string")
        if operator == "In":
            matched = key in labels and labels[key] in values
        elif operator == "NotIn":
            matched = key not in labels or labels[key] not in values
        elif operator == "Exists":
            matched = key in labels
        elif operator == "DoesNotExist":
            matched = key not in labels
        else:
            raise NotUnderstoodError(f"{at}.operator: {operator!r} is not understood")
        if not matched:
            return False
    return True


def _map(value: Any, at: str) -> dict[str, Any]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise NotUnderstoodError(f"{at}: {value!r} is not a map")
    return value


def _pod_labels(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = _map(manifest.get("spec"), "spec")
    template = _map(spec.get("template"), "spec.template")
    metadata = _map(template.get("metadata"), "spec.template.metadata")
    return dict(_map(metadata.get("labels"), "spec.template.metadata.labels"))


def _name(manifest: dict[str, Any]) -> str:
    metadata = manifest.get("metadata")
    return str(metadata.get("name", "<unnamed>")) if isinstance(metadata, dict) else "<unnamed>"


def _replicas(workload: Placed, hpas: list[Placed]) -> tuple[int, str]:
    """The pods a workload runs at least, and where that number comes from."""
    kind, name = workload.manifest.get("kind"), _name(workload.manifest)
    for hpa in hpas:
        hpa_name = f"HorizontalPodAutoscaler {hpa.namespace}/{_name(hpa.manifest)}"
        spec = hpa.manifest.get("spec") or {}
        target = spec.get("scaleTargetRef") if isinstance(spec, dict) else None
        if (
            isinstance(target, dict)
            and hpa.namespace == workload.namespace
            and target.get("kind") == kind
            and target.get("name") == name
        ):
            minimum = whole_number(spec.get("minReplicas", 1), f"{hpa_name}: spec.minReplicas")
            return minimum, f"minReplicas of {hpa_name}"
    replicas = _map(workload.manifest.get("spec"), "spec").get("replicas")
    if replicas is None:
        return 1, "spec.replicas unset"
    return whole_number(replicas, "spec.replicas"), "spec.replicas"


def _workload_title(workload: Placed) -> str:
    return f"{workload.manifest.get('kind')} {workload.namespace}/{_name(workload.manifest)}"


def _labels_of(workload: Placed) -> dict[str, Any]:
    try:
        return _pod_labels(workload.manifest)
    except NotUnderstoodError as exc:
        raise NotUnderstoodError(f"{_workload_title(workload)}: {exc}") from None


def _replicas_of(workload: Placed, hpas: list[Placed]) -> tuple[int, str]:
    try:
        return _replicas(workload, hpas)
    except (NotUnderstoodError, TypeError, AttributeError, KeyError) as exc:
        raise NotUnderstoodError(f"{_workload_title(workload)}: {exc}") from None


def _setting(spec: dict[str, Any]) -> tuple[str, int | str, str]:
    """(key, amount, text) of a policy/v1 PodDisruptionBudget spec."""
    has_min = spec.get("minAvailable") is not None
    has_max = spec.get("maxUnavailable") is not None
    if has_min and has_max:
        raise NotUnderstoodError(
            "sets both minAvailable and maxUnavailable, which the API server rejects"
        )
    if has_max:
        amount = parse_amount(spec["maxUnavailable"], "spec.maxUnavailable")
        return "maxUnavailable", amount, f"maxUnavailable: {amount}"
    if has_min:
        amount = parse_amount(spec["minAvailable"], "spec.minAvailable")
        return "minAvailable", amount, f"minAvailable: {amount}"
    # policy/v1 defaulting: a budget with neither keeps one pod available.
    return "minAvailable", 1, "minAvailable: 1 (the default when neither is set)"


def kubernetes_budgets(objects: list[Placed]) -> list[Budget]:
    """Evaluate each PodDisruptionBudget among `objects` against the Deployments and
    StatefulSets among them in its namespace whose pod template its selector selects."""
    pdbs = [o for o in objects if o.manifest.get("kind") == "PodDisruptionBudget"]
    workloads = [o for o in objects if o.manifest.get("kind") in WORKLOAD_KINDS]
    hpas = [o for o in objects if o.manifest.get("kind") == "HorizontalPodAutoscaler"]
    budgets = []
    for pdb in pdbs:
        name = f"PodDisruptionBudget {pdb.namespace}/{_name(pdb.manifest)}"
        try:
            spec = _map(pdb.manifest.get("spec"), "spec")
            key, amount, setting = _setting(spec)
            selector = spec.get("selector")
            selected = [
                w
                for w in workloads
                if w.namespace == pdb.namespace and selector_matches(selector, _labels_of(w))
            ]
        except (NotUnderstoodError, TypeError, AttributeError, KeyError) as exc:
            budgets.append(_not_understood(pdb.where, name, str(exc)))
            continue
        if not selected:
            shown = json.dumps(selector, sort_keys=True) if selector is not None else "none"
            problem = (
                f"{pdb.where}: {name} ({setting}) selects no Deployment or StatefulSet in "
                f"namespace {pdb.namespace} (selector {shown}): it protects nothing, probably a "
                "typo in its selector or namespace; make spec.selector match the workload's "
                "spec.template.metadata.labels, or remove it"
            )
            budgets.append(Budget(pdb.where, name, setting, 0, (), None, problem))
            continue
        total, described = 0, []
        try:
            counts = [_replicas_of(w, hpas) for w in selected]
        except NotUnderstoodError as exc:
            budgets.append(_not_understood(pdb.where, name, str(exc)))
            continue
        for workload, (count, source) in zip(selected, counts, strict=True):
            total += count
            described.append(
                f"{workload.manifest['kind']} {workload.namespace}/{_name(workload.manifest)} "
                f"({count}, {source})"
            )
        budgets.append(judge(pdb.where, name, key, amount, total, tuple(described), setting))
    return budgets
