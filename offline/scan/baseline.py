"""The reviewed baseline of checkov findings (`.checkov-baseline.yaml`) and how it reaches
checkov: as `checkov.io/skip<N>` annotations on the written objects.

The file has two maps, each entry a check id and its reason (one line):

    everywhere:            # checks that do not apply to any object, or apply by policy
      CKV_K8S_15: Images are pinned ...
    objects:               # checkov's resource id `Kind.namespace.name` -> its skipped checks
      DaemonSet.kube-system.cilium:
        CKV_K8S_16: the agent loads BPF programs ...

checkov reads a skip from an object's annotation `checkov.io/skip<N>: <check id>=<reason>`
(checkov 3.3.30 `checkov/kubernetes/kubernetes_utils.py`, `get_skipped_checks`: every
annotation whose key contains `checkov.io/skip`, split once on `=`), marks the check SKIPPED
without evaluating it (`checkov/common/checks/base_check.py`, `run`) and carries the reason into
its SARIF output as the result's suppression justification (`checkov/common/output/sarif.py`).
So a reason cannot contain `=`; the check would not split it into two parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..paths import REPO_ROOT

BASELINE = REPO_ROOT / ".checkov-baseline.yaml"
SKIP_ANNOTATION = "checkov.io/skip"
CHECK_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")
MIN_REASON = 10
"""Characters a reason needs at least: more than `n/a`, `legacy` or `TODO`."""


class BaselineError(Exception):
    """The baseline file is not the shape above."""


@dataclass(frozen=True)
class Baseline:
    everywhere: dict[str, str] = field(default_factory=dict)
    objects: dict[str, dict[str, str]] = field(default_factory=dict)

    def skips_for(self, resource: str) -> dict[str, str]:
        """Check id -> reason of every check skipped on `resource`."""
        return {**self.everywhere, **self.objects.get(resource, {})}

    def covers(self, resource: str, check: str) -> bool:
        return check in self.skips_for(resource)


def _checks(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BaselineError(f"{where}: expected a map of check id -> reason")
    return {str(check): "" if reason is None else str(reason) for check, reason in value.items()}


def parse(data: Any, where: str = str(BASELINE)) -> Baseline:
    if not isinstance(data, dict) or set(data) - {"everywhere", "objects"}:
        raise BaselineError(f"{where}: expected the keys `everywhere` and `objects` only")
    objects = data.get("objects") or {}
    if not isinstance(objects, dict):
        raise BaselineError(f"{where}: objects: expected a map of resource id -> checks")
    return Baseline(
        everywhere=_checks(data.get("everywhere"), f"{where}: everywhere"),
        objects={str(r): _checks(c, f"{where}: objects: {r}") for r, c in objects.items()},
    )


def load(path: Path = BASELINE) -> Baseline:
    try:
        return parse(yaml.safe_load(path.read_text()), str(path))
    except (OSError, yaml.YAMLError) as exc:
        raise BaselineError(f"{path}: {exc}") from exc


def entry_problems(baseline: Baseline) -> list[str]:
    """Each entry whose check id is malformed or whose reason is not one line of at least
    MIN_REASON characters without `=`."""
    entries = [("everywhere", c, r) for c, r in baseline.everywhere.items()] + [
        (resource, c, r) for resource, checks in baseline.objects.items() for c, r in checks.items()
    ]
    problems = []
    for where, check, reason in entries:
        if not CHECK_ID.fullmatch(check):
            problems.append(f"{where}: {check}: not a checkov check id")
        text = reason.strip()
        if len(text) < MIN_REASON or "\n" in text or "=" in text:
            problems.append(
                f"{where}: {check}: needs a one-line reason of at least {MIN_REASON} "
                f"characters without `=` (got {reason!r})"
            )
    return problems


def resource_id(manifest: dict[str, Any]) -> str:
    """checkov's id of a Kubernetes object: `Kind.namespace.name`, `default` for no namespace
    (checkov 3.3.30 `checkov/kubernetes/kubernetes_utils.py`, `get_resource_id`)."""
    metadata = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    namespace = metadata.get("namespace") or "default"
    return f"{manifest.get('kind')}.{namespace}.{metadata.get('name')}"


def annotated(manifest: dict[str, Any], baseline: Baseline) -> dict[str, Any]:
    """`manifest` with one `checkov.io/skip<N>` annotation per check the baseline skips on it
    (a copy; unchanged when it skips none)."""
    skips = baseline.skips_for(resource_id(manifest))
    metadata = manifest.get("metadata")
    if not skips or not isinstance(metadata, dict):
        return manifest
    annotations = dict(metadata.get("annotations") or {})
    for number, (check, reason) in enumerate(sorted(skips.items()), 1):
        annotations[f"{SKIP_ANNOTATION}{number}"] = f"{check}={' '.join(reason.split())}"
    return {**manifest, "metadata": {**metadata, "annotations": annotations}}
