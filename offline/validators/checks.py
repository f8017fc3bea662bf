"""What the offline plan checks besides the config: the objects the program would create, against
the real upstream schemas, before anything reaches a cluster.

- every Proxmox download and VM disk against what Proxmox VE and the provider accept;
- every Talos document of every node (merged into the generated base) against the Talos schema;
- every Kubernetes object the program registers, strict, for the pinned Kubernetes version,
  and the Argo CD ones against the Argo CD CRDs;
- every Helm release rendered by the pinned Helm from the vendored chart: no value the chart
  ignores, no template failure, every rendered object valid (as above);
- the GitOps tree this stack's root Application points at renders and validates, and Argo CD
  (the argocd-cm of the stack's argo-cd release) would apply every object of it;
- the stack points at the repository and path the tree is written for.
- every PersistentVolumeClaim binds (`storage`) and every HorizontalPodAutoscaler reads a metrics
  API and a target that exist (`metrics_api`), over everything the stack runs.

The schemas, CRDs and chart defaults are the pinned upstream copies in `upstream/` (see
upstream/README.md), so every check always runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..recorder import SECRET
from . import (
    backups,
    disruption,
    gitops,
    helm_render,
    metrics_api,
    monitoring,
    proxmox,
    scheduling,
    storage,
    talos_schema,
)
from .scheduling.sources import stack_objects

CONFIG_INVOKE = "talos:machine/getConfiguration:getConfiguration"


@dataclass
class CheckResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    node_table: str = ""
    """Requested against allocatable per node, as the scheduling check placed the pods."""
    backup_table: str = ""
    """Where the stack's backups go and how often they run (backups.py)."""
    """Each check that ran, with what it covered (`Kubernetes objects 14`), for the report."""


def is_patch(resource: dict[str, Any]) -> bool:
    """A `kubernetes:<group>/<version>:<Kind>Patch` resource: a server-side apply patch of an
    object something else creates (pulumi-kubernetes `kinds.IsPatchResource`: the type's name
    is the object's kind plus `Patch`)."""
    token = resource["type"]
    return token.startswith("kubernetes:") and token.endswith("Patch")


def manifest_of(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The Kubernetes object a recorded `kubernetes:<group>/<version>:<Kind>` resource is; for a
    `<Kind>Patch`, the object of `<Kind>` with only the fields the patch applies."""
    token = resource["type"]
    if not token.startswith("kubernetes:") or token.startswith("kubernetes:helm.sh"):
        return None
    _, api, kind = token.split(":")
    api_version = api.removeprefix("core/")
    manifest = {"apiVersion": api_version, "kind": kind, **resource["inputs"]}
    if is_patch(resource):
        manifest["kind"] = kind.removesuffix("Patch")
    for name in ("data", "stringData"):
        # A map that is secret as a whole is recorded as one "[secret]": keep its shape.
        if manifest.get(name) == SECRET:
            manifest[name] = {"redacted": SECRET}
    return manifest


def talos_documents(doc: dict[str, Any], result: CheckResult) -> None:
    directory = talos_schema.schema_dir()
    checked = 0
    for call in doc["invokes"]:
        if call["token"] != CONFIG_INVOKE:
            continue
        checked += 1
        patches = [yaml.safe_load(p) for p in call["args"].get("configPatches", [])]
        node = next(
            (p["hostname"] for p in patches if p.get("kind") == "HostnameConfig"), "(unnamed)"
        )
        full = talos_schema.full_configuration(directory, call["args"]["machineType"], patches)
        result.problems += [str(p) for p in talos_schema.validate_documents(directory, node, full)]
    result.ran.append(f"Talos machine configurations {checked}")


def kubernetes_objects(doc: dict[str, Any], kubernetes_version: str, result: CheckResult) -> None:
    checked = 0
    for resource in doc["resources"]:
        manifest = manifest_of(resource)
        if manifest is None:
            continue
        checked += 1
        source = f"resource {resource['name']}"
        problems = gitops.validate_manifest(manifest, kubernetes_version, source)
        if is_patch(resource):
            # A patch is validated as its kind, as strictly (unknown fields, types), except
            # that it carries only what it sets: the object's required fields are the live
            # object's, which the API server checks on the merged result.
            problems = [p for p in problems if not p.message.endswith("is a required property")]
        result.problems += [str(p) for p in problems]
    result.ran.append(f"Kubernetes objects {checked}")


def helm_releases(doc: dict[str, Any], kubernetes_version: str, result: CheckResult) -> None:
    """Each Helm release rendered by the pinned Helm from the vendored chart: values the chart
    ignores, template failures, rendered objects that do not validate (`helm_render`)."""
    result.problems += helm_render.release_problems(doc, kubernetes_version)
    rendered = helm_render.rendered_releases(doc, kubernetes_version)  # cached renders
    objects = sum(len(objs) for objs in rendered.values())
    result.ran.append(f"Helm releases {len(helm_render.releases(doc))} ({objects} objects)")


def gitops_tree(
    doc: dict[str, Any],
    kubernetes_version: str,
    result: CheckResult,
    platform: gitops.StackPlatform | gitops.Problem | None = None,
) -> dict[str, list[gitops.RenderedObject]] | None:
    """Validate the tree the root Application follows; returns it rendered, when it was.
    `platform`: the stack facts the add-ons must agree with (default: `Pulumi.<env>.yaml`)."""
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
        return None
    source = root["inputs"]["spec"]["source"]
    if source["repoURL"] != gitops.GITOPS_REPO_URL:
        result.problems.append(
            f"talos-platform:gitops.repo_url: got {source['repoURL']!r}; expected the repository "
            f"the GitOps tree names ({gitops.GITOPS_REPO_URL}, gitops/repository/repository.yaml)"
        )
    path = source["path"]
    # The environment's root, or a cluster's overlay of it (`prod/clusters/prod-b`).
    env = gitops.root_of_path(path)
    if env is None:
        result.problems.append(
            f"talos-platform:gitops.path: got {path!r}; expected gitops/envs/<environment> or "
            "gitops/envs/<environment>/clusters/<cluster> (a folder of the tree)"
        )
        return None
    try:
        # The ref this plan's root Application follows (its stack file's gitops.revision, which
        # may be a --stack-file), against the targetRevision the tree gives its Applications.
        stack = gitops.StackRevision(source["targetRevision"], "the stack file")
        rendered = gitops._render_environment(env, kubernetes_version or None)
        # What Argo CD applies at all: the resource exclusions of the argocd-cm this plan's
        # argo-cd release renders (else the chart's with components/argocd/values.py).
        argocd_cm = gitops.release_argocd_cm(doc, kubernetes_version)
        result.problems += [
            str(p)
            for p in gitops.validate_environment(
                env, kubernetes_version, stack, rendered, platform=platform, argocd_cm=argocd_cm
            )
        ]
    except gitops.GitOpsError as exc:
        result.problems.append(str(exc))
        return None
    objects = sum(len(items) for items in rendered.values())
    result.ran.append(f"GitOps tree ({env}) {objects} objects")
    return rendered


def run_checks(
    doc: dict[str, Any],
    kubernetes_version: str,
    platform: gitops.StackPlatform | gitops.Problem | None = None,
) -> CheckResult:
    result = CheckResult()
    result.problems += proxmox.plan_problems(doc["resources"])
    kinds = [r["type"] for r in doc["resources"]]
    downloads = sum(kinds.count(t) for t in proxmox.DOWNLOAD_TYPES)
    result.ran.append(f"Proxmox downloads {downloads} and VMs {kinds.count(proxmox.VM_TYPE)}")
    talos_documents(doc, result)
    kubernetes_objects(doc, kubernetes_version, result)
    # The GitOps tree before the Helm releases: the plan started both renders in the
    # background (offline/prefetch.py), and Helm's, started last, is likely still running.
    rendered = gitops_tree(doc, kubernetes_version, result, platform)
    helm_releases(doc, kubernetes_version, result)
    budgets = disruption.evaluate(doc, rendered)  # the tree as gitops_tree rendered it
    result.problems += budgets.problems
    result.ran.append(f"PodDisruptionBudgets {len(budgets.budgets)}")
    placed = scheduling.evaluate(doc, kubernetes_version, rendered)
    result.problems += placed.problems
    result.notes += placed.notes
    result.ran.append(f"Scheduling {len(placed.workloads)} workloads on {len(placed.nodes)} nodes")
    result.node_table = scheduling.table(placed)
    storage_and_autoscaling(doc, kubernetes_version, rendered, placed.nodes, result)
    monitoring_objects(rendered, result)
    backup = backups.evaluate(doc, rendered, _environment(doc))
    result.problems += backup.problems
    result.backup_table = backup.table
    if backup.ran:
        result.ran.append(backup.ran)
    return result


def _environment(doc: dict[str, Any]) -> str:
    """The environment whose tree the root Application follows (`gitops/envs/<env>`, or a
    cluster's overlay of it); the stack's name when there is none."""
    for r in doc["resources"]:
        if r["type"] == "kubernetes:argoproj.io/v1alpha1:Application" and r["name"].endswith(
            "-root"
        ):
            path = str(r["inputs"]["spec"]["source"]["path"])
            root = gitops.root_of_path(path)
            return gitops.environment_of(root) if root else path.rsplit("/", 1)[-1]
    return str(doc.get("stack", ""))


def monitoring_objects(
    rendered: dict[str, list[gitops.RenderedObject]] | None, result: CheckResult
) -> None:
    """The environment's PrometheusRules and Grafana dashboards, its own and its charts' (a chart's
    recording rules are what its alerts and the dashboards may refer to): every PromQL
    expression parsed, every referenced recording rule defined, every alert with a severity and a
    runbook section in docs/alerts.md (`offline/validators/monitoring`)."""
    if rendered is None:
        return
    objects = [item.manifest for items in rendered.values() for item in items]
    result.problems += monitoring.rule_problems(objects)
    result.problems += monitoring.dashboard_problems(objects)
    result.problems += monitoring.coverage_problems(objects)
    rules = sum(
        len(group.get("rules") or [])
        for obj in objects
        if monitoring.rules.is_prometheus_rule(obj)
        for group in monitoring.rules.groups_of(obj)
    )
    dashboards = sum(1 for obj in objects if monitoring.dashboards.is_dashboard_configmap(obj))
    result.ran.append(f"Prometheus rules {rules} and dashboards {dashboards}")


def storage_and_autoscaling(
    doc: dict[str, Any],
    kubernetes_version: str,
    rendered: dict[str, list[gitops.RenderedObject]] | None,
    nodes: list[scheduling.Node],
    result: CheckResult,
) -> None:
    """Over everything the stack puts in its cluster (the objects the scheduling check placed,
    from the same renders): every PersistentVolumeClaim binds (`storage`), every
    HorizontalPodAutoscaler reads an existing metrics API and target (`metrics_api`)."""
    releases = helm_render.rendered_releases(doc, kubernetes_version)  # cached renders
    objects, _ = stack_objects(doc, kubernetes_version, nodes, rendered, releases)
    claims = storage.evaluate(objects, nodes)
    autoscalers = metrics_api.evaluate(objects)
    for findings in (claims, autoscalers):
        result.problems += findings.problems
        result.notes += findings.notes
    result.ran.append(f"Storage claims {claims.checked}")
    result.ran.append(f"HPA metrics APIs {autoscalers.checked}")
