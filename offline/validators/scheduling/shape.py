"""The shape of the fields the scheduler reads, checked before it reads them: a workload whose
fields are malformed (a string where a list goes, a word where a number goes) is reported and
left out, instead of failing the whole check (the schema checks say what the API server makes
of it)."""

from __future__ import annotations

import re
from typing import Any

from .quantities import QuantityError, cpu_millis, memory_bytes

_WHOLE = re.compile(r"[+-]?\d+")
_PERCENT = re.compile(r"\d+%")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class ShapeError(ValueError):
    """A field this check cannot read: `<path>: <value> is not <what>`."""


def mapping(value: Any, at: str) -> dict[str, Any]:
    """A map, or {} for an unset (or empty) field, as the check reads `x or {}`."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ShapeError(f"{at}: {value!r} is not a map")
    return value


def items(value: Any, at: str) -> list[Any]:
    if not value:
        return []
    if not isinstance(value, list):
        raise ShapeError(f"{at}: {value!r} is not a list")
    return value


def maps(value: Any, at: str) -> list[dict[str, Any]]:
    """A list of maps."""
    result = []
    for index, item in enumerate(items(value, at)):
        if not isinstance(item, dict):
            raise ShapeError(f"{at}[{index}]: {item!r} is not a map")
        result.append(item)
    return result


def strings(value: Any, at: str) -> list[str]:
    result = items(value, at)
    for index, item in enumerate(result):
        if not isinstance(item, str):
            raise ShapeError(f"{at}[{index}]: {item!r} is not a string")
    return result


def whole(value: Any, at: str) -> int:
    """A whole number (Helm may write one as a string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value)
    raise ShapeError(f"{at}: {value!r} is not a whole number")


def whole_or_percent(value: Any, at: str) -> None:
    if isinstance(value, str) and _PERCENT.fullmatch(value.strip()):
        return
    try:
        whole(value, at)
    except ShapeError:
        raise ShapeError(f"{at}: {value!r} is not a whole number or a percentage") from None


def label_selector(value: Any, at: str) -> None:
    """A label selector (None selects nothing) as disruption.objects.selector_matches reads it."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ShapeError(f"{at}: {value!r} is not a label selector")
    mapping(value.get("matchLabels"), f"{at}.matchLabels")
    expressions = maps(value.get("matchExpressions"), f"{at}.matchExpressions")
    for index, expression in enumerate(expressions):
        where = f"{at}.matchExpressions[{index}]"
        if not isinstance(expression.get("key"), str):
            raise ShapeError(f"{where}.key: {expression.get('key')!r} is not a string")
        if expression.get("operator") not in SELECTOR_OPERATORS:
            raise ShapeError(f"{where}.operator: {expression.get('operator')!r} is not understood")
        items(expression.get("values"), f"{where}.values")


def _node_selector_term(term: dict[str, Any], at: str) -> None:
    for part in ("matchExpressions", "matchFields"):
        for index, expression in enumerate(maps(term.get(part), f"{at}.{part}")):
            where = f"{at}.{part}[{index}]"
            key = expression.get("key")
            if key is not None and not isinstance(key, str):
                raise ShapeError(f"{where}.key: {key!r} is not a string")
            values = items(expression.get("values"), f"{where}.values")
            if expression.get("operator") in ("Gt", "Lt"):
                if len(values) != 1:
                    raise ShapeError(f"{where}.values: {values!r} is not one whole number")
                whole(values[0], f"{where}.values[0]")


def _affinity(value: Any, at: str) -> None:
    affinity = mapping(value, at)
    node = mapping(affinity.get("nodeAffinity"), f"{at}.nodeAffinity")
    required_at = f"{at}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        if not isinstance(required, dict):
            raise ShapeError(f"{required_at}: {required!r} is not a map")
        terms_at = f"{required_at}.nodeSelectorTerms"
        for index, term in enumerate(maps(required.get("nodeSelectorTerms"), terms_at)):
            _node_selector_term(term, f"{terms_at}[{index}]")
    for kind in ("podAffinity", "podAntiAffinity"):
        pod = mapping(affinity.get(kind), f"{at}.{kind}")
        terms_at = f"{at}.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
        terms = pod.get("requiredDuringSchedulingIgnoredDuringExecution")
        for index, term in enumerate(maps(terms, terms_at)):
            where = f"{terms_at}[{index}]"
            label_selector(term.get("labelSelector"), f"{where}.labelSelector")
            label_selector(term.get("namespaceSelector"), f"{where}.namespaceSelector")
            strings(term.get("namespaces"), f"{where}.namespaces")
            strings(term.get("matchLabelKeys"), f"{where}.matchLabelKeys")
            strings(term.get("mismatchLabelKeys"), f"{where}.mismatchLabelKeys")


def _quantities(value: Any, at: str) -> None:
    for resource, parse in (("cpu", cpu_millis), ("memory", memory_bytes)):
        if value.get(resource) is None:
            continue
        try:
            parse(value[resource])
        except QuantityError as exc:
            raise ShapeError(f"{at}.{resource}: {exc}") from None


def pod_spec(spec: Any, at: str) -> None:
    """Every field of a pod spec the scheduler reads (`at`: the spec's path in its manifest)."""
    spec = mapping(spec, at)
    for part in ("initContainers", "containers"):
        for index, container in enumerate(maps(spec.get(part), f"{at}.{part}")):
            where = f"{at}.{part}[{index}].resources"
            resources = mapping(container.get("resources"), where)
            for key in ("limits", "requests"):
                _quantities(mapping(resources.get(key), f"{where}.{key}"), f"{where}.{key}")
    _quantities(mapping(spec.get("overhead"), f"{at}.overhead"), f"{at}.overhead")
    maps(spec.get("tolerations"), f"{at}.tolerations")
    mapping(spec.get("nodeSelector"), f"{at}.nodeSelector")
    node_name = spec.get("nodeName")
    if node_name is not None and not isinstance(node_name, str):
        raise ShapeError(f"{at}.nodeName: {node_name!r} is not a string")
    _affinity(spec.get("affinity"), f"{at}.affinity")
    constraints_at = f"{at}.topologySpreadConstraints"
    for index, constraint in enumerate(maps(spec.get("topologySpreadConstraints"), constraints_at)):
        where = f"{constraints_at}[{index}]"
        whole(constraint.get("maxSkew", 1), f"{where}.maxSkew")
        if constraint.get("minDomains"):
            whole(constraint["minDomains"], f"{where}.minDomains")
        label_selector(constraint.get("labelSelector"), f"{where}.labelSelector")
        strings(constraint.get("matchLabelKeys"), f"{where}.matchLabelKeys")


def manifest(item: dict[str, Any], kind: str) -> None:
    """A workload manifest: its pod template (or its spec, for a Pod; a CronJob's is in its
    `jobTemplate`), labels and strategy."""
    mapping(item.get("metadata"), "metadata")
    spec = mapping(item.get("spec"), "spec")
    if kind == "Pod":
        mapping((item.get("metadata") or {}).get("labels"), "metadata.labels")
        pod_spec(spec, "spec")
        return
    at = "spec"
    if kind == "CronJob":
        job_template = mapping(spec.get("jobTemplate"), "spec.jobTemplate")
        at = "spec.jobTemplate.spec"
        spec = mapping(job_template.get("spec"), at)
    template = mapping(spec.get("template"), f"{at}.template")
    metadata = mapping(template.get("metadata"), f"{at}.template.metadata")
    mapping(metadata.get("labels"), f"{at}.template.metadata.labels")
    pod_spec(template.get("spec"), f"{at}.template.spec")
    if kind == "Deployment":
        strategy = mapping(spec.get("strategy"), "spec.strategy")
        at = "spec.strategy.rollingUpdate"
        rolling = mapping(strategy.get("rollingUpdate"), at)
        for key in ("maxSurge", "maxUnavailable"):
            if key in rolling:
                whole_or_percent(rolling[key], f"{at}.{key}")
