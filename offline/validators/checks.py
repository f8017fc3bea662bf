"""What the offline plan checks besides the config: the objects the program would create, against
the real upstream schemas, before anything reaches a cluster.

- every Proxmox download and VM disk against what Proxmox VE and the provider accept;
- every Talos document of every node (merged into the generated base) against the Talos schema;
- every Kubernetes object the program registers, strict, for the pinned Kubernetes version,
  and the Argo CD ones against the Argo CD CRDs;
- every key of the Helm values passed to the argo-cd chart exists in the chart's defaults;
- the GitOps tree this stack's root Application points at renders and validates;
- the stack points at the repository and path the tree is written for.

The schemas, CRDs and chart defaults come from `../shared` (see README, "Tests"); where it is
absent those checks are skipped with a note saying so, never passed silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..recorder import SECRET
from . import disruption, gitops, helm_values, proxmox, talos_schema

CONFIG_INVOKE = "talos:machine/getConfiguration:getConfiguration"


@dataclass
class CheckResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def manifest_of(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The Kubernetes object a recorded `kubernetes:<group>/<version>:<Kind>` resource is."""
    token = resource["type"]
    if not token.startswith("kubernetes:") or token.startswith("kubernetes:helm.sh"):
        return None
    _, api, kind = token.split(":")
    api_version = api.removeprefix("core/")
    manifest = {"apiVersion": api_version, "kind": kind, **resource["inputs"]}
    for name in ("data", "stringData"):
        # A map that is secret as a whole is recorded as one "[secret]": keep its shape.
        if manifest.get(name) == SECRET:
            manifest[name] = {"redacted": SECRET}
    return manifest


def talos_documents(doc: dict[str, Any], result: CheckResult) -> None:
    directory = talos_schema.schema_dir()
    if directory is None:
        result.notes.append("Talos documents not checked: ../shared/talos/v1.13 not found")
        return
    for call in doc["invokes"]:
        if call["token"] != CONFIG_INVOKE:
            continue
        patches = [yaml.safe_load(p) for p in call["args"].get("configPatches", [])]
        node = next(
            (p["hostname"] for p in patches if p.get("kind") == "HostnameConfig"), "(unnamed)"
        )
        full = talos_schema.full_configuration(directory, call["args"]["machineType"], patches)
        result.problems += [str(p) for p in talos_schema.validate_documents(directory, node, full)]


def kubernetes_objects(doc: dict[str, Any], kubernetes_version: str, result: CheckResult) -> None:
    have_crds = gitops.shared_dir() is not None
    for resource in doc["resources"]:
        manifest = manifest_of(resource)
        if manifest is None:
            continue
        if manifest["apiVersion"].startswith("argoproj.io/") and not have_crds:
            result.notes.append(f"{resource['name']}: not checked, Argo CD CRDs not found")
            continue
        source = f"resource {resource['name']}"
        result.problems += [
            str(p) for p in gitops.validate_manifest(manifest, kubernetes_version, source)
        ]


def helm_values_keys(doc: dict[str, Any], result: CheckResult) -> None:
    shared = gitops.shared_dir()
    if shared is None:
        result.notes.append(
            "Helm value keys not checked: ../shared/argocd chart defaults not found"
        )
        return
    defaults = helm_values.load_chart_defaults(shared)
    for resource in doc["resources"]:
        if resource["type"] != "kubernetes:helm.sh/v3:Release":
            continue
        values = resource["inputs"].get("values") or {}
        if isinstance(values, str):
            values = json.loads(values)
        for key in helm_values.unknown_keys(values, defaults):
            result.problems.append(
                f"resource {resource['name']}: Helm value `{key}` (components/argocd/values.py) "
                f"is not a key of the {resource['inputs'].get('chart')} chart "
                f"{resource['inputs'].get('version')}; Helm would ignore it"
            )


def gitops_tree(doc: dict[str, Any], kubernetes_version: str, result: CheckResult) -> None:
    root = next(
        (
            r
            for r in doc["resources"]
            if r["type"] == "kubernetes:argoproj.io/v1alpha1:Application"
            and r["name"].endswith("-root")
        ),
        None,
    )
    if root is None:
        result.problems.append("no root Application: the stack would deliver nothing from Git")
        return
    source = root["inputs"]["spec"]["source"]
    if source["repoURL"] != gitops.GITOPS_REPO_URL:
        result.problems.append(
            f"talos-platform:gitops.repo_url: got {source['repoURL']!r}; expected the repository "
            f"the GitOps tree names ({gitops.GITOPS_REPO_URL}, gitops/repository/repository.yaml)"
        )
    path = source["path"]
    env = path.rsplit("/", 1)[-1]
    if not path.startswith("gitops/envs/") or env not in gitops.ENVIRONMENTS:
        result.problems.append(
            f"talos-platform:gitops.path: got {path!r}; expected gitops/envs/<environment>"
        )
        return
    if gitops.shared_dir() is None:
        result.notes.append("GitOps tree not validated: ../shared Argo CD CRDs not found")
        return
    try:
        # The ref this plan's root Application follows (its stack file's gitops.revision, which
        # may be a --stack-file), against the targetRevision the tree gives its Applications.
        stack = gitops.StackRevision(source["targetRevision"], "the stack file")
        result.problems += [
            str(p) for p in gitops.validate_environment(env, kubernetes_version, stack)
        ]
    except gitops.GitOpsError as exc:
        result.problems.append(str(exc))


def run_checks(doc: dict[str, Any], kubernetes_version: str) -> CheckResult:
    result = CheckResult()
    result.problems += proxmox.plan_problems(doc["resources"])
    talos_documents(doc, result)
    kubernetes_objects(doc, kubernetes_version, result)
    helm_values_keys(doc, result)
    gitops_tree(doc, kubernetes_version, result)
    result.problems += disruption.disruption_problems(doc)
    return result
